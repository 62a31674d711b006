import type { TaskState } from '../../../types.js';
import type { RetryOutcome } from '../../store.js';
import type { WakeNote } from '../wake.js';
import { countMoved } from './counts.js';
import { EV, eventLog } from './events.js';
import { prepared, type Db } from './prepared.js';

/**
 * `dead` or `cancelled` → `pending`, due now, with a fresh set of attempts. Its dependencies count as
 * met (an operator asked for it to run); the error history is kept so the past stays visible.
 */
export function retryTasks(db: Db, p: { ids: string[]; now?: number }, wakes: WakeNote[]): { id: string; outcome: RetryOutcome }[] {
  const now = p.now ?? Date.now();
  const read = prepared<[string], { state: TaskState; queue: string; type: string }>(db, 'SELECT state, queue, type FROM tasks WHERE id = ?');
  const revive = prepared<{ id: string; now: number }>(
    db,
    `UPDATE tasks SET state = 'pending', attempt = 0, run_at = @now, waiting_on = 0, finished_at = NULL,
       result = NULL, worker_id = NULL, lease_token = NULL, lease_expires_at = NULL, cancel_requested = 0
     WHERE id = @id`,
  );

  const log = eventLog(db, now);
  return p.ids.map((id) => {
    const row = read.get(id);
    if (row === undefined) return { id, outcome: 'not_found' };
    if (row.state !== 'dead' && row.state !== 'cancelled') return { id, outcome: 'not_retryable' };
    revive.run({ id, now });
    countMoved(db, row.queue, row.state, 'pending');
    log?.add(EV.retried, id, row.queue, row.type, 0, 'pending');
    wakes.push({ queue: row.queue, dueInMs: 0 });
    return { id, outcome: 'retried' };
  });
}
