import type { MaintenanceParams } from '../../store.js';
import { endTask } from './dependencies.js';
import { prepared, type Db } from './prepared.js';
import { appendError, taskError, UNFINISHED_SQL } from './rows.js';

/** The columns `killPastDeadline` needs. */
export interface DeadlineRow {
  id: string;
  attempt: number;
  errors: string;
  deadline: number;
}

/** The task's deadline passed: `dead` with reason `deadline_exceeded`, its dependents cancelled. */
export function killPastDeadline(db: Db, row: DeadlineRow, now: number): void {
  const error = taskError('deadline_exceeded', `deadline ${new Date(row.deadline).toISOString()} passed`, row.attempt, now);
  endTask(db, { id: row.id, state: 'dead', error, errors: appendError(row.errors, error) }, now);
}

/** Unfinished tasks whose deadline passed, oldest deadline first. */
export function expireDeadlines(db: Db, p: MaintenanceParams): string[] {
  const now = p.now ?? Date.now();
  const rows = prepared<{ now: number; limit: number }, DeadlineRow>(
    db,
    `SELECT id, attempt, errors, deadline FROM tasks INDEXED BY tasks_deadline
     WHERE deadline IS NOT NULL AND deadline <= @now AND ${UNFINISHED_SQL}
     ORDER BY deadline LIMIT @limit + 0`,
  ).all({ now, limit: p.limit });
  for (const row of rows) killPastDeadline(db, row, now);
  return rows.map((row) => row.id);
}
