import { assertQueueName } from '../../../names.js';
import type { ClaimedTask } from '../../../types.js';
import type { StealTasksParams } from '../../store.js';
import { claimOrder } from './claim-tasks.js';
import { prepared, type Db } from './prepared.js';
import { isQueuePaused } from './queues.js';
import { rowToClaimedTask, type TaskRow } from './rows.js';

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
  const steal = prepared<{ queue: string; now: number; limit: number; workerId: string; expiresAt: number }, TaskRow>(
    db,
    `UPDATE tasks SET started_at = @now, worker_id = @workerId,
       lease_token = lower(hex(randomblob(16))), lease_expires_at = @expiresAt
     WHERE rowid IN (
       SELECT rowid FROM tasks INDEXED BY tasks_prefetched
       WHERE state = 'processing' AND started_at IS NULL AND queue = @queue
         AND worker_id IS NOT @workerId AND lease_expires_at > @now AND cancel_requested = 0
         AND (deadline IS NULL OR deadline > @now)
       ORDER BY claimed_at, priority DESC, run_at, id LIMIT @limit)
     RETURNING *`,
  );
  for (const queue of new Set(p.queues)) {
    assertQueueName(queue);
    if (remaining <= 0) break;
    if (isQueuePaused(db, queue)) continue;
    const rows = steal.all({ queue, now, limit: remaining, workerId: p.workerId, expiresAt: now + p.leaseMs });
    // RETURNING comes in no promised order.
    rows.sort(stealOrder);
    for (const row of rows) stolen.push(rowToClaimedTask(row));
    remaining -= rows.length;
  }
  return stolen;
}

function stealOrder(a: TaskRow, b: TaskRow): number {
  const claimedA = a.claimed_at ?? 0;
  const claimedB = b.claimed_at ?? 0;
  return claimedA !== claimedB ? claimedA - claimedB : claimOrder(a, b);
}
