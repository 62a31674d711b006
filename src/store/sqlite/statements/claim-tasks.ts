import { assertQueueName } from '../../../names.js';
import type { ClaimedTask } from '../../../types.js';
import type { ClaimTasksParams } from '../../store.js';
import { killPastDeadline, type DeadlineRow } from './expire-deadlines.js';
import { prepared, type Db } from './prepared.js';
import { isQueuePaused } from './queues.js';
import { rowToClaimedTask, type TaskRow } from './rows.js';

/**
 * Leases due tasks queue by queue, in the caller's order of preference (as the Redis store must, one
 * queue per hash slot), each queue in claim order: priority, then due time, then id. Before taking
 * from a queue it kills the claimable tasks whose deadline passed (never handed out) and promotes
 * its due `scheduled` tasks, so they are claimable without waiting for `promoteDueTasks`.
 *
 * With `startLimit`, the first `startLimit` tasks of the whole claim (queues in order of preference,
 * each in claim order) start now and the rest are prefetched (`started_at` NULL): each queue is
 * claimed in two steps, the tasks to start and then the ones to prefetch, so a step's tasks follow
 * the previous step's in claim order.
 */
export function claimTasks(db: Db, p: ClaimTasksParams): ClaimedTask[] {
  const now = p.now ?? Date.now();
  const claimed: ClaimedTask[] = [];
  let remaining = Math.floor(p.limit);
  let toStart = p.startLimit === undefined ? remaining : Math.max(0, Math.floor(p.startLimit));
  const lease = { workerId: p.workerId, expiresAt: now + p.leaseMs };
  for (const queue of new Set(p.queues)) {
    assertQueueName(queue);
    if (remaining <= 0) break;
    if (isQueuePaused(db, queue)) continue;

    for (const row of pastDeadline(db, queue, now)) killPastDeadline(db, row, now);
    prepared<{ queue: string; now: number }>(
      db,
      `UPDATE tasks INDEXED BY tasks_scheduled SET state = 'pending'
       WHERE state = 'scheduled' AND run_at <= @now AND queue = @queue`,
    ).run({ queue, now });

    const starting = Math.min(remaining, toStart);
    if (starting > 0) {
      const started = claimFromQueue(db, { queue, now, limit: starting, startedAt: now, ...lease });
      claimed.push(...started);
      remaining -= started.length;
      toStart -= started.length;
      // The queue ran dry: nothing left to prefetch from it.
      if (started.length < starting) continue;
    }
    if (remaining > 0) {
      const prefetched = claimFromQueue(db, { queue, now, limit: remaining, startedAt: null, ...lease });
      claimed.push(...prefetched);
      remaining -= prefetched.length;
    }
  }
  return claimed;
}

/** Leases up to `limit` pending due tasks of `queue`, in claim order; `startedAt` null = prefetched. */
function claimFromQueue(
  db: Db,
  p: { queue: string; now: number; limit: number; startedAt: number | null; workerId: string; expiresAt: number },
): ClaimedTask[] {
  // The token is SQLite's randomblob: 128 bits from its CSPRNG, fresh for every row.
  const rows = prepared<{ queue: string; now: number; limit: number; startedAt: number | null; workerId: string; expiresAt: number }, TaskRow>(
    db,
    `UPDATE tasks SET state = 'processing', attempt = attempt + 1, claimed_at = @now, started_at = @startedAt,
       worker_id = @workerId, lease_token = lower(hex(randomblob(16))), lease_expires_at = @expiresAt, cancel_requested = 0
     WHERE rowid IN (
       SELECT rowid FROM tasks INDEXED BY tasks_claim WHERE state = 'pending' AND queue = @queue AND run_at <= @now
       ORDER BY priority DESC, run_at, id LIMIT @limit)
     RETURNING *`,
  ).all(p);
  // RETURNING comes in no promised order.
  rows.sort(claimOrder);
  return rows.map(rowToClaimedTask);
}

function pastDeadline(db: Db, queue: string, now: number): DeadlineRow[] {
  // Without statistics the planner prefers the equalities on queue and state (tasks_list), which scans
  // every pending task of the queue; the few tasks past their deadline are what this wants.
  return prepared<{ queue: string; now: number }, DeadlineRow>(
    db,
    `SELECT id, attempt, errors, deadline FROM tasks INDEXED BY tasks_deadline
     WHERE deadline IS NOT NULL AND deadline <= @now AND state IN ('blocked','scheduled','pending','processing')
       AND state IN ('pending','scheduled') AND queue = @queue`,
  ).all({ queue, now });
}

export function claimOrder(a: TaskRow, b: TaskRow): number {
  if (a.priority !== b.priority) return b.priority - a.priority;
  if (a.run_at !== b.run_at) return a.run_at - b.run_at;
  return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
}

/**
 * For waitForWork: `true` when a claim in `queues` would find work at `now`, else when the next
 * scheduled task there comes due (epoch ms), or null. Paused queues count as empty.
 */
export function probeWork(db: Db, queues: readonly string[], now: number): true | number | null {
  const open = [...new Set(queues)].filter((queue) => !isQueuePaused(db, queue));
  if (open.length === 0) return null;
  const pendingDue = prepared<[string, number], number>(
    db,
    `SELECT 1 FROM tasks INDEXED BY tasks_claim WHERE state = 'pending' AND queue = ? AND run_at <= ? LIMIT 1`,
  ).pluck();
  for (const queue of open) {
    if (pendingDue.get(queue, now) !== undefined) return true;
  }
  const nextRunAt = prepared<[string], number>(
    db,
    `SELECT run_at FROM tasks INDEXED BY tasks_scheduled WHERE state = 'scheduled' AND queue IN (SELECT value FROM json_each(?))
     ORDER BY run_at LIMIT 1`,
  )
    .pluck()
    .get(JSON.stringify(open));
  if (nextRunAt === undefined) return null;
  return nextRunAt <= now ? true : nextRunAt;
}
