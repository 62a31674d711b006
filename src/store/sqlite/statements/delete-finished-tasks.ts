import type { DeleteFinishedTasksParams } from '../../store.js';
import { countDeleted } from './counts.js';
import { prepared, type Db } from './prepared.js';

/**
 * Retention: deletes tasks of one finished state that finished at or before `now - olderThanMs`,
 * oldest first. Their dependency edges go with them (ON DELETE CASCADE), and so do their idempotency
 * keys, which live on the row.
 */
export function deleteFinishedTasks(db: Db, p: DeleteFinishedTasksParams): number {
  const now = p.now ?? Date.now();
  const params = { state: p.state, cutoff: now - p.olderThanMs, limit: p.limit, queue: p.queue ?? null };
  const queues = prepared<typeof params, string>(
    db,
    `DELETE FROM tasks WHERE rowid IN (
       SELECT rowid FROM tasks INDEXED BY tasks_finished
       WHERE state = @state AND finished_at <= @cutoff AND (@queue IS NULL OR queue = @queue)
       ORDER BY finished_at LIMIT @limit + 0)
     RETURNING queue`,
  )
    .pluck()
    .all(params);
  const perQueue = new Map<string, number>();
  for (const queue of queues) perQueue.set(queue, (perQueue.get(queue) ?? 0) + 1);
  for (const [queue, n] of perQueue) countDeleted(db, queue, p.state, n);
  return queues.length;
}
