import type { TaskState } from '../../../types.js';
import type { CancelOutcome } from '../../store.js';
import { endTask } from './dependencies.js';
import { prepared, type Db } from './prepared.js';
import { appendError, taskError } from './rows.js';

/**
 * Waiting tasks are cancelled at once (their dependents too); a running one gets a cancel request,
 * which the next lease renewal reports to its worker.
 */
export function cancelTasks(db: Db, p: { ids: string[]; now?: number }): { id: string; outcome: CancelOutcome }[] {
  const now = p.now ?? Date.now();
  const read = prepared<[string], { state: TaskState; attempt: number; errors: string }>(
    db,
    'SELECT state, attempt, errors FROM tasks WHERE id = ?',
  );
  const requestCancel = prepared<[string]>(db, 'UPDATE tasks SET cancel_requested = 1 WHERE id = ?');

  return p.ids.map((id) => {
    const row = read.get(id);
    if (row === undefined) return { id, outcome: 'not_found' };
    switch (row.state) {
      case 'completed':
      case 'dead':
      case 'cancelled':
        return { id, outcome: 'already_finished' };
      case 'processing':
        requestCancel.run(id);
        return { id, outcome: 'cancel_requested' };
      case 'blocked':
      case 'scheduled':
      case 'pending': {
        const error = taskError('cancelled', 'cancelled', row.attempt, now);
        endTask(db, { id, state: 'cancelled', error, errors: appendError(row.errors, error) }, now);
        return { id, outcome: 'cancelled' };
      }
    }
  });
}
