import type { OldestPending } from '../../store.js';
import { prepared, type Db } from './prepared.js';

/**
 * Per queue (every known queue by name, or the one asked for, known or not), the due time of its
 * longest-waiting `pending` task, or null.
 *
 * Through `tasks_claim` (queue, priority DESC, run_at, id), which holds pending tasks only: within one
 * priority level its first entry has the earliest due time, so the query walks the levels present,
 * highest first, one seek each (at most 11, PRIORITY_MIN–PRIORITY_MAX), and keeps the smallest. No
 * index of its own, so the hot path maintains nothing for it.
 */
export function oldestPending(db: Db, p: { queue?: string }): OldestPending[] {
  const queues =
    p.queue === undefined ? prepared<[], string>(db, 'SELECT name FROM queues ORDER BY name').pluck().all() : [p.queue];
  const first = prepared<[string], [number, number]>(
    db,
    `SELECT priority, run_at FROM tasks INDEXED BY tasks_claim WHERE state = 'pending' AND queue = ?
     ORDER BY priority DESC, run_at LIMIT 1`,
  ).raw();
  const below = prepared<[string, number], [number, number]>(
    db,
    `SELECT priority, run_at FROM tasks INDEXED BY tasks_claim WHERE state = 'pending' AND queue = ? AND priority < ?
     ORDER BY priority DESC, run_at LIMIT 1`,
  ).raw();
  return queues.map((queue) => {
    let oldest: number | null = null;
    for (let level = first.get(queue); level !== undefined; level = below.get(queue, level[0])) {
      if (oldest === null || level[1] < oldest) oldest = level[1];
    }
    return { queue, oldestRunAt: oldest };
  });
}
