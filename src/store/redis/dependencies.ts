import type { Redis } from 'ioredis';
import { groupByQueue } from './grouping.js';
import type { RedisKeys } from './keys.js';
import { runScript } from './scripts.js';

/**
 * Dependencies across queues. Each queue lives in its own hash slot, so no script may touch two
 * queues; an edge from a dependency in queue A to a dependent in queue B is settled in steps, each
 * atomic and idempotent:
 *
 * 1. Insert: `linkDependencies` in A adds `B|dependent` to the dependency's dependents set (or
 *    reports that it already finished), then `insertTasks` in B writes the dependent `blocked` with
 *    the set of dependency ids it still waits on.
 * 2. When the dependency finishes, its script in A cannot touch B: it appends
 *    `B|dependent|dependency|outcome|at` to A's outbox (a list in A's slot) and reports it.
 * 3. The store then drains A's outbox: `resolveDependencies` in B applies each entry (removing the
 *    dependency from the waiting set, or cancelling the dependent), and the entry is removed from A's
 *    outbox. Applying twice changes nothing, so a crash between the two only repeats work.
 *
 * An entry whose dependent does not exist yet (its insert is between steps 1 and 2) stays in the
 * outbox; the inserting call drains the dependencies' queues after it inserts, and the leader's
 * promoter drains every outbox, so nothing waits forever. Entries for a dependent that never came
 * (its insert failed) are dropped after ORPHAN_ENTRY_TTL_MS.
 */

export const ORPHAN_ENTRY_TTL_MS = 60 * 60 * 1000;
const OUTBOX_PAGE = 200;

interface OutboxEntry {
  raw: string;
  queue: string;
  taskId: string;
  dependencyId: string;
  outcome: string;
  at: number;
}

function parseEntry(raw: string): OutboxEntry {
  const [queue, taskId, dependencyId, outcome, at] = raw.split('|');
  return { raw, queue: queue!, taskId: taskId!, dependencyId: dependencyId!, outcome: outcome!, at: Number(at) };
}

export class DependencyRelay {
  constructor(
    private readonly redis: Redis,
    private readonly keys: RedisKeys,
  ) {}

  /**
   * Drains the outboxes of `queues`, and of every queue a resolution cascades into. `now` only
   * decides when an orphaned entry is old enough to drop.
   */
  async drain(queues: Iterable<string>, now: number | undefined): Promise<void> {
    const todo = new Set(queues);
    // Each round settles at least one entry or stops, so cascades end; the bound is a safety net.
    for (let round = 0; todo.size > 0 && round < 1000; round++) {
      const queue = todo.values().next().value as string;
      todo.delete(queue);
      const outboxKey = this.keys.queueKey(queue, 'outbox');
      const raw = (await this.redis.lrange(outboxKey, 0, OUTBOX_PAGE - 1)) as string[];
      if (raw.length === 0) continue;
      const byTarget = groupByQueue(raw.map(parseEntry));
      const settled: OutboxEntry[] = [];
      const clock = now ?? Date.now();
      for (const [target, list] of byTarget) {
        const args: (string | number)[] = [now ?? '', target];
        for (const entry of list) args.push(entry.taskId, entry.dependencyId, entry.outcome);
        const [outboxUsed, statuses] = (await runScript(this.redis, 'resolveDependencies', this.keys.queueKeys(target), args)) as [
          number,
          string[],
        ];
        if (outboxUsed === 1) todo.add(target);
        list.forEach((entry, i) => {
          if (statuses[i] === 'applied' || clock - entry.at > ORPHAN_ENTRY_TTL_MS) settled.push(entry);
        });
      }
      if (settled.length > 0) {
        const pipeline = this.redis.pipeline();
        for (const entry of settled) pipeline.lrem(outboxKey, 1, entry.raw);
        await pipeline.exec();
        // A full page that settled something may hide more entries behind it.
        if (raw.length === OUTBOX_PAGE) todo.add(queue);
      }
    }
  }

  /**
   * Step 1 for dependencies that live in other queues than their dependents. Returns each
   * dependency's standing: linked | completed | dead | cancelled | missing.
   */
  async link(edges: { dependencyId: string; dependencyQueue: string; dependentQueue: string; dependentId: string }[], now: number | undefined): Promise<Map<string, string>> {
    const standing = new Map<string, string>();
    for (const [queue, list] of groupByQueue(edges.map((edge) => ({ ...edge, queue: edge.dependencyQueue })))) {
      const args: (string | number)[] = [now ?? '', queue];
      for (const edge of list) args.push(edge.dependencyId, `${edge.dependentQueue}|${edge.dependentId}`);
      const statuses = (await runScript(this.redis, 'linkDependencies', this.keys.queueKeys(queue), args)) as string[];
      list.forEach((edge, i) => standing.set(`${edge.dependentId}>${edge.dependencyId}`, statuses[i]!));
    }
    return standing;
  }
}
