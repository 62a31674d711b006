import type { TaskError, TaskState } from '../../../types.js';
import { appendError, taskError, UNFINISHED_STATES_SQL } from './rows.js';
import { countMoved } from './counts.js';
import { EV, eventLog } from './events.js';
import { prepared, type Db } from './prepared.js';
import type { WakeNote } from '../wake.js';

/**
 * What happens to the tasks that wait for a task when that task finishes. Shared by every operation
 * that can finish a task: finish, cancel, reclaim, expire, and the deadline sweep of claim.
 */

/**
 * The tasks of `completedIds` completed (in this order): `unblockDependents` for each of them that
 * has dependents. Most tasks have none, so the edge table is asked once for the whole batch (and not
 * at all while it is empty) instead of once per task.
 */
export function unblockDependentsOf(db: Db, completedIds: readonly string[], now: number, wakes: WakeNote[]): void {
  if (completedIds.length === 0) return;
  if (prepared<[], number>(db, 'SELECT EXISTS (SELECT 1 FROM task_dependencies)').pluck().get() === 0) return;
  if (completedIds.length === 1) {
    unblockDependents(db, completedIds[0] as string, now, wakes);
    return;
  }
  const withDependents = new Set(
    prepared<[string], string>(
      db,
      'SELECT DISTINCT depends_on_id FROM task_dependencies WHERE depends_on_id IN (SELECT value FROM json_each(?))',
    )
      .pluck()
      .all(JSON.stringify(completedIds)),
  );
  for (const id of completedIds) if (withDependents.has(id)) unblockDependents(db, id, now, wakes);
}

/**
 * `completedId` completed: each `blocked` dependent has one dependency fewer to wait for; those that
 * reach zero become `scheduled` (due time still ahead) or `pending`. One statement: SET expressions
 * all see the row as it was, so `waiting_on > 1` means "still waiting after this one".
 */
export function unblockDependents(db: Db, completedId: string, now: number, wakes: WakeNote[]): void {
  const rows = prepared<[number, string], { queue: string; state: string; run_at: number }>(
    db,
    `UPDATE tasks SET
       waiting_on = waiting_on - 1,
       state = CASE WHEN waiting_on > 1 THEN 'blocked' WHEN run_at > ? THEN 'scheduled' ELSE 'pending' END
     WHERE state = 'blocked' AND id IN (SELECT task_id FROM task_dependencies WHERE depends_on_id = ?)
     RETURNING queue, state, run_at`,
  ).all(now, completedId);
  for (const row of rows) {
    if (row.state === 'pending') wakes.push({ queue: row.queue, dueInMs: 0 });
    else if (row.state === 'scheduled') wakes.push({ queue: row.queue, dueInMs: row.run_at - now });
    countMoved(db, row.queue, 'blocked', row.state as TaskState);
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

  const read = prepared<[string], { queue: string; type: string; state: TaskState; attempt: number; errors: string }>(
    db,
    `SELECT queue, type, state, attempt, errors FROM tasks WHERE id = ? AND state IN ${UNFINISHED_STATES_SQL}`,
  );
  const log = eventLog(db, now);
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
    countMoved(db, row.queue, row.state, 'cancelled');
    log?.addDetailed(EV.cancelled, id, row.queue, row.type, row.attempt, 'cancelled', error.reason, error.message);
    cancelled.push(id);
  }
  return cancelled;
}

/**
 * Ends a task badly (`dead` or `cancelled`) with `error` as the last entry of `errors`, drops its
 * lease, and cancels what waits for it. Records `task:dead` or `task:cancelled`, then the
 * dependents' `task:cancelled`.
 */
export function endTask(
  db: Db,
  end: { id: string; state: 'dead' | 'cancelled'; error: TaskError; errors: string },
  now: number,
): void {
  // The state it leaves, read right before: callers read theirs earlier, and an earlier step of the
  // same call (a dependent cancelled along the way) may have changed it since.
  const current = stateOf(db, end.id);
  prepared<{ id: string; state: string; error: string; errors: string; now: number }>(
    db,
    `UPDATE tasks SET state = @state, error = @error, errors = @errors, finished_at = @now,
       lease_token = NULL, lease_expires_at = NULL, cancel_requested = 0
     WHERE id = @id`,
  ).run({ id: end.id, state: end.state, error: JSON.stringify(end.error), errors: end.errors, now });
  if (current !== undefined) {
    countMoved(db, current.queue, current.state, end.state);
    const code = end.state === 'dead' ? EV.dead : EV.cancelled;
    eventLog(db, now)?.addDetailed(code, end.id, current.queue, current.type, current.attempt, end.state, end.error.reason, end.error.message);
  }
  cancelDependents(db, end.id, end.state, now);
}

/** A task's queue, state, type and attempt now, for the counts and events of a write about to change it. */
export function stateOf(db: Db, id: string): { queue: string; state: TaskState; type: string; attempt: number } | undefined {
  return prepared<[string], { queue: string; state: TaskState; type: string; attempt: number }>(
    db,
    'SELECT queue, state, type, attempt FROM tasks WHERE id = ?',
  ).get(id);
}
