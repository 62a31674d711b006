import type { MaintenanceParams, ReclaimResult } from '../../store.js';
import type { WakeNote } from '../wake.js';
import { countMoved } from './counts.js';
import { endTask, stateOf } from './dependencies.js';
import { EV, eventLog } from './events.js';
import { prepared, type Db } from './prepared.js';
import { appendError, taskError } from './rows.js';

interface ExpiredRow {
  id: string;
  queue: string;
  type: string;
  attempt: number;
  max_attempts: number;
  errors: string;
  worker_id: string | null;
  cancel_requested: number;
}

/**
 * Takes back tasks whose lease expired, oldest expiry first. The attempt stays spent, so a task that
 * kills its worker every time ends `dead` after `maxAttempts` lost leases instead of looping.
 */
export function reclaimExpiredLeases(db: Db, p: MaintenanceParams, wakes: WakeNote[]): ReclaimResult {
  const now = p.now ?? Date.now();
  const rows = prepared<{ now: number; limit: number }, ExpiredRow>(
    db,
    `SELECT id, queue, type, attempt, max_attempts, errors, worker_id, cancel_requested FROM tasks INDEXED BY tasks_lease
     WHERE state = 'processing' AND lease_expires_at <= @now
     ORDER BY lease_expires_at LIMIT @limit + 0`,
  ).all({ now, limit: p.limit });

  const result: ReclaimResult = { retried: [], dead: [], cancelled: [] };
  const log = eventLog(db, now);
  for (const row of rows) {
    const expired = taskError('lease_expired', `lease of worker ${row.worker_id ?? 'unknown'} expired`, row.attempt, now);
    const errors = appendError(row.errors, expired);
    // `task:reclaimed` with the state the task goes to; `endTask` follows it with `task:dead` or
    // `task:cancelled` (and the dependents').
    const to = row.cancel_requested !== 0 ? 'cancelled' : row.attempt >= row.max_attempts ? 'dead' : 'pending';
    log?.add(EV.reclaimed, row.id, row.queue, row.type, row.attempt, to);
    if (row.cancel_requested !== 0) {
      // It ended because it was cancelled; the lost lease stays in the history.
      const error = taskError('cancelled', 'cancelled while processing', row.attempt, now);
      endTask(db, { id: row.id, state: 'cancelled', error, errors: appendError(errors, error) }, now);
      result.cancelled.push(row.id);
    } else if (row.attempt >= row.max_attempts) {
      endTask(db, { id: row.id, state: 'dead', error: expired, errors }, now);
      result.dead.push(row.id);
    } else {
      // Its state now (a dependent cancelled by an earlier row of this call may be one of the rows).
      const current = stateOf(db, row.id);
      prepared<{ id: string; now: number; error: string; errors: string }>(
        db,
        `UPDATE tasks SET state = 'pending', run_at = @now, error = @error, errors = @errors,
           lease_token = NULL, lease_expires_at = NULL
         WHERE id = @id`,
      ).run({ id: row.id, now, error: JSON.stringify(expired), errors });
      if (current !== undefined) countMoved(db, current.queue, current.state, 'pending');
      wakes.push({ queue: row.queue, dueInMs: 0 });
      result.retried.push(row.id);
    }
  }
  return result;
}
