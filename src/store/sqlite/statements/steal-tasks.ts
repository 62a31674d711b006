import { assertQueueName } from '../../../names.js';
import type { ClaimedTask } from '../../../types.js';
import type { StealTasksParams } from '../../store.js';
import { eventLog } from './events.js';
import { NEW_LEASE_TOKEN_SQL } from './lease.js';
import { prepared, type Db } from './prepared.js';
import { isQueuePaused } from './queues.js';
import { claimOrder, COL, parseTaskJson, rawToClaimedTask, TASK_JSON, type TaskRaw } from './rows.js';

/**
 * Work stealing: takes prefetched tasks (`processing`, `started_at` NULL) that other workers hold,
 * queue by queue in the caller's order (as claims go, and as the Redis store must, one queue per hash
 * slot), each queue oldest claim first and, within one claim, in that claim's order. A stolen task
 * starts at once under a fresh token and lease; its attempt stays the one spent by the first claim.
 *
 * Left alone: tasks whose lease expired (no longer held: reclaim takes them back), tasks with a
 * cancel request (their holder ends them `cancelled` on its next start or renewal) and tasks past
 * their deadline (never handed out; `expireDeadlines` ends them).
 */
export function stealTasks(db: Db, p: StealTasksParams): ClaimedTask[] {
  const now = p.now ?? Date.now();
  const stolen: ClaimedTask[] = [];
  let remaining = Math.floor(p.limit);
  const steal = prepared<[number, string, number, string, string, number, number, number], string>(
    db,
    `UPDATE tasks SET started_at = ?, worker_id = ?,
       lease_token = ${NEW_LEASE_TOKEN_SQL}, lease_expires_at = ?
     WHERE rowid IN (
       SELECT rowid FROM tasks INDEXED BY tasks_prefetched
       WHERE state = 'processing' AND started_at IS NULL AND queue = ?
         AND worker_id IS NOT ? AND lease_expires_at > ? AND cancel_requested = 0
         AND (deadline IS NULL OR deadline > ?)
       ORDER BY claimed_at, priority DESC, run_at, id LIMIT ? + 0)
     RETURNING ${TASK_JSON}`,
  ).pluck();
  const log = eventLog(db, now);
  for (const queue of new Set(p.queues)) {
    assertQueueName(queue);
    if (remaining <= 0) break;
    if (isQueuePaused(db, queue)) continue;
    const rows = steal.all(now, p.workerId, now + p.leaseMs, queue, p.workerId, now, now, remaining).map(parseTaskJson);
    // RETURNING comes in no promised order.
    rows.sort(stealOrder);
    for (const row of rows) {
      const task = rawToClaimedTask(row);
      stolen.push(task);
      log?.addClaimed(task.id, task.queue, task.type, task.attempt, p.workerId, undefined);
    }
    remaining -= rows.length;
  }
  return stolen;
}

function stealOrder(a: TaskRaw, b: TaskRaw): number {
  const claimedA = a[COL.claimedAt] ?? 0;
  const claimedB = b[COL.claimedAt] ?? 0;
  return claimedA !== claimedB ? claimedA - claimedB : claimOrder(a, b);
}
