import type { MaintenanceParams } from '../../store.js';
import type { WakeNote } from '../wake.js';
import { countMoved } from './counts.js';
import { prepared, type Db } from './prepared.js';

/** Due `scheduled` tasks become `pending`, earliest first. Returns how many moved. */
export function promoteDueTasks(db: Db, p: MaintenanceParams, wakes: WakeNote[]): number {
  const now = p.now ?? Date.now();
  const queues = prepared<{ now: number; limit: number }, string>(
    db,
    `UPDATE tasks SET state = 'pending'
     WHERE rowid IN (SELECT rowid FROM tasks INDEXED BY tasks_scheduled WHERE state = 'scheduled' AND run_at <= @now ORDER BY run_at LIMIT @limit + 0)
     RETURNING queue`,
  )
    .pluck()
    .all({ now, limit: p.limit });
  for (const queue of queues) countMoved(db, queue, 'scheduled', 'pending');
  for (const queue of new Set(queues)) wakes.push({ queue, dueInMs: 0 });
  return queues.length;
}
