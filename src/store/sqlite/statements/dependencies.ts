import type { TaskError } from '../../../types.js';
import { appendError, taskError, UNFINISHED_STATES_SQL } from './rows.js';
import { prepared, type Db } from './prepared.js';
import type { WakeNote } from '../wake.js';

/**
 * What happens to the tasks that wait for a task when that task finishes. Shared by every operation
 * that can finish a task: finish, cancel, reclaim, expire, and the deadline sweep of claim.
 */

/**
 * `completedId` completed: each `blocked` dependent has one dependency fewer to wait for; those that
 * reach zero become `scheduled` (due time still ahead) or `pending`. One statement: SET expressions
 * all see the row as it was, so `waiting_on > 1` means "still waiting after this one".
 */
export function unblockDependents(db: Db, completedId: string, now: number, wakes: WakeNote[]): void {
  const rows = prepared<{ id: string; now: number }, { queue: string; state: string; run_at: number }>(
    db,
    `UPDATE tasks SET
       waiting_on = waiting_on - 1,
       state = CASE WHEN waiting_on > 1 THEN 'blocked' WHEN run_at > @now THEN 'scheduled' ELSE 'pending' END
     WHERE state = 'blocked' AND id IN (SELECT task_id FROM task_dependencies WHERE depends_on_id = @id)
     RETURNING queue, state, run_at`,
  ).all({ id: completedId, now });
  for (const row of rows) {
    if (row.state === 'pending') wakes.push({ queue: row.queue, dueInMs: 0 });
    else if (row.state === 'scheduled') wakes.push({ queue: row.queue, dueInMs: row.run_at - now });
  }
}

/**
 * `rootId` ended `dead` or `cancelled`: every unfinished task that waits for it, directly or through
 * other dependents, is cancelled with reason `dependency_failed`. The walk stops at finished tasks: a
 * dependent that already completed (it was retried with its dependencies treated as met) keeps its
 * result, and what depends on it is not affected. Each cancelled task names the dependency it waited
 * for. Returns the ids cancelled.
 */
export function cancelDependents(db: Db, rootId: string, rootState: 'dead' | 'cancelled', now: number): string[] {
  const edges = prepared<[string], { id: string; cause: string }>(
    db,
    `WITH RECURSIVE doomed(id, cause) AS (
       SELECT d.task_id, d.depends_on_id
         FROM task_dependencies d JOIN tasks t ON t.id = d.task_id
        WHERE d.depends_on_id = ? AND t.state IN ${UNFINISHED_STATES_SQL}
       UNION
       SELECT d.task_id, d.depends_on_id
         FROM doomed JOIN task_dependencies d ON d.depends_on_id = doomed.id JOIN tasks t ON t.id = d.task_id
        WHERE t.state IN ${UNFINISHED_STATES_SQL}
     )
     SELECT id, cause FROM doomed`,
  ).all(rootId);
  if (edges.length === 0) return [];

  const read = prepared<[string], { attempt: number; errors: string }>(
    db,
    `SELECT attempt, errors FROM tasks WHERE id = ? AND state IN ${UNFINISHED_STATES_SQL}`,
  );
  const cancel = prepared<{ id: string; now: number; error: string; errors: string }>(
    db,
    `UPDATE tasks SET state = 'cancelled', error = @error, errors = @errors, finished_at = @now,
       lease_token = NULL, lease_expires_at = NULL, cancel_requested = 0
     WHERE id = @id`,
  );

  const cancelled: string[] = [];
  const seen = new Set<string>();
  for (const { id, cause } of edges) {
    // A task reached along several paths is cancelled once, for the first dependency found.
    if (seen.has(id)) continue;
    seen.add(id);
    const row = read.get(id);
    if (row === undefined) continue;
    const causeState = cause === rootId ? rootState : 'cancelled';
    const error = taskError('dependency_failed', `dependency ${cause} is ${causeState}`, row.attempt, now);
    cancel.run({ id, now, error: JSON.stringify(error), errors: appendError(row.errors, error) });
    cancelled.push(id);
  }
  return cancelled;
}

/**
 * Ends a task badly (`dead` or `cancelled`) with `error` as the last entry of `errors`, drops its
 * lease, and cancels what waits for it.
 */
export function endTask(
  db: Db,
  end: { id: string; state: 'dead' | 'cancelled'; error: TaskError; errors: string },
  now: number,
): void {
  prepared<{ id: string; state: string; error: string; errors: string; now: number }>(
    db,
    `UPDATE tasks SET state = @state, error = @error, errors = @errors, finished_at = @now,
       lease_token = NULL, lease_expires_at = NULL, cancel_requested = 0
     WHERE id = @id`,
  ).run({ id: end.id, state: end.state, error: JSON.stringify(end.error), errors: end.errors, now });
  cancelDependents(db, end.id, end.state, now);
}
