import { assertQueueName } from '../../../names.js';
import type { ClaimedTask } from '../../../types.js';
import type { ClaimTasksParams } from '../../store.js';
import { countMoved } from './counts.js';
import { EV, eventLog, type EventGroup, type EventLog } from './events.js';
import { killPastDeadline, type DeadlineRow } from './expire-deadlines.js';
import { NEW_LEASE_TOKEN_SQL } from './lease.js';
import { prepared, type Db } from './prepared.js';
import { isQueuePaused } from './queues.js';
import { CLAIMED_JSON, claimedJsonToTask, claimedOrder, type ClaimedRaw, UNFINISHED_SQL } from './rows.js';

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
  const expiresAt = now + p.leaseMs;
  for (const queue of new Set(p.queues)) {
    assertQueueName(queue);
    if (remaining <= 0) break;
    if (isQueuePaused(db, queue)) continue;

    for (const row of pastDeadline(db, queue, now)) killPastDeadline(db, row, now);
    const promoted = prepared<[number, string]>(
      db,
      `UPDATE tasks INDEXED BY tasks_scheduled SET state = 'pending'
       WHERE state = 'scheduled' AND run_at <= ? AND queue = ?`,
    ).run(now, queue).changes;
    countMoved(db, queue, 'scheduled', 'pending', promoted);

    const starting = Math.min(remaining, toStart);
    if (starting > 0) {
      const started = claimFromQueue(db, queue, now, starting, now, p.workerId, expiresAt, claimed);
      remaining -= started;
      toStart -= started;
      // The queue ran dry: nothing left to prefetch from it.
      if (started < starting) continue;
    }
    if (remaining > 0) remaining -= claimFromQueue(db, queue, now, remaining, null, p.workerId, expiresAt, claimed);
  }
  return claimed;
}

/**
 * Leases up to `limit` pending due tasks of `queue`, in claim order, appending them to `out`;
 * `startedAt` null = prefetched. Returns how many it leased.
 */
function claimFromQueue(
  db: Db,
  queue: string,
  now: number,
  limit: number,
  startedAt: number | null,
  workerId: string,
  expiresAt: number,
  out: ClaimedTask[],
): number {
  // A fresh token for every row (lease.ts).
  const rows = prepared<[number, number | null, string, number, string, number, number], string>(
    db,
    `UPDATE tasks SET state = 'processing', attempt = attempt + 1, claimed_at = ?, started_at = ?,
       worker_id = ?, lease_token = ${NEW_LEASE_TOKEN_SQL}, lease_expires_at = ?, cancel_requested = 0
     WHERE rowid IN (
       SELECT rowid FROM tasks INDEXED BY tasks_claim WHERE state = 'pending' AND queue = ? AND run_at <= ?
       ORDER BY priority DESC, run_at, id LIMIT ? + 0)
     RETURNING ${CLAIMED_JSON}`,
  )
    .pluck()
    .all(now, startedAt, workerId, expiresAt, queue, now, limit)
    .map((json) => JSON.parse(json) as ClaimedRaw);
  countMoved(db, queue, 'pending', 'processing', rows.length);
  // RETURNING comes in no promised order.
  rows.sort(claimedOrder);
  const lease = { queue, workerId, startedAt, leaseExpiresAt: expiresAt };
  const from = out.length;
  for (const row of rows) out.push(claimedJsonToTask(row, lease));
  const log = eventLog(db, now);
  if (log !== null) claimedEvents(log, out, from, queue, workerId, now);
  return rows.length;
}

/**
 * `task:claimed` of `tasks[from…]` (one queue, one worker) with each task's wait, added to the log's
 * group for as long as the type and the attempt stay the same (nearly always the whole claim). Kept
 * out of `claimFromQueue`, whose loop stays as small for the compiler as without events.
 */
function claimedEvents(log: EventLog, tasks: readonly ClaimedTask[], from: number, queue: string, workerId: string, now: number): void {
  let group: EventGroup | null = null;
  let type = '';
  let attempt = -1;
  for (let i = from; i < tasks.length; i++) {
    const task = tasks[i] as ClaimedTask;
    if (group === null || task.type !== type || task.attempt !== attempt) {
      type = task.type;
      attempt = task.attempt;
      group = log.group(EV.claimed, queue, type, attempt, 'processing', workerId, true);
    }
    log.push(group, task.id);
    const waitMs = now - task.runAt;
    (group[4] as number[]).push(waitMs > 0 ? waitMs : 0);
  }
}

function pastDeadline(db: Db, queue: string, now: number): DeadlineRow[] {
  // Without statistics the planner prefers the equalities on queue and state (tasks_list), which scans
  // every pending task of the queue; the few tasks past their deadline are what this wants.
  return prepared<[number, string], DeadlineRow>(
    db,
    `SELECT id, attempt, errors, deadline FROM tasks INDEXED BY tasks_deadline
     WHERE deadline IS NOT NULL AND deadline <= ? AND ${UNFINISHED_SQL}
       AND state IN ('pending','scheduled') AND queue = ?`,
  ).all(now, queue);
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
