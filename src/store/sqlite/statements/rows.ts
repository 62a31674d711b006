import type { BackoffPolicy, ClaimedTask, JsonValue, Task, TaskError, TaskState } from '../../../types.js';
import { ERROR_HISTORY_LIMIT } from '../../../types.js';

/** A `tasks` row as better-sqlite3 returns it. JSON columns are text; booleans are 0/1. */
export interface TaskRow {
  id: string;
  queue: string;
  type: string;
  state: TaskState;
  priority: number;
  run_at: number;
  attempt: number;
  max_attempts: number;
  timeout_ms: number | null;
  deadline: number | null;
  waiting_on: number;
  cancel_requested: number;
  created_at: number;
  started_at: number | null;
  finished_at: number | null;
  worker_id: string | null;
  lease_token: string | null;
  lease_expires_at: number | null;
  idempotency_key: string | null;
  backoff: string;
  depends_on: string;
  error: string | null;
  errors: string;
  progress: string | null;
  result: string | null;
  payload: string;
  /** When the current attempt was claimed (schema version 2; NULL for attempts claimed before). */
  claimed_at: number | null;
}

/**
 * The states that are not finished, as a SQL list. Queries meant to use the `tasks_deadline` partial
 * index spell the list out instead, next to the index's name, so the two visibly match.
 */
export const UNFINISHED_STATES_SQL = "('blocked','scheduled','pending','processing')";

function parseNullable<T>(text: string | null): T | null {
  return text === null ? null : (JSON.parse(text) as T);
}

export function rowToTask(row: TaskRow): Task {
  return {
    id: row.id,
    queue: row.queue,
    type: row.type,
    payload: JSON.parse(row.payload) as JsonValue,
    priority: row.priority,
    state: row.state,
    attempt: row.attempt,
    maxAttempts: row.max_attempts,
    backoff: JSON.parse(row.backoff) as BackoffPolicy,
    timeoutMs: row.timeout_ms,
    deadline: row.deadline,
    runAt: row.run_at,
    dependsOn: JSON.parse(row.depends_on) as string[],
    key: row.idempotency_key,
    result: parseNullable<JsonValue>(row.result),
    error: parseNullable<TaskError>(row.error),
    errors: JSON.parse(row.errors) as TaskError[],
    progress: parseNullable<JsonValue>(row.progress),
    createdAt: row.created_at,
    startedAt: row.started_at,
    finishedAt: row.finished_at,
    workerId: row.worker_id,
    leaseExpiresAt: row.state === 'processing' ? row.lease_expires_at : null,
    cancelRequested: row.cancel_requested !== 0,
  };
}

/** A row just claimed: `processing`, with its lease. */
export function rowToClaimedTask(row: TaskRow): ClaimedTask {
  return {
    ...rowToTask(row),
    state: 'processing',
    leaseToken: row.lease_token as string,
    leaseExpiresAt: row.lease_expires_at as number,
  };
}

/** The `errors` column with `error` appended, keeping the last ERROR_HISTORY_LIMIT. */
export function appendError(errorsJson: string, error: TaskError): string {
  const errors = JSON.parse(errorsJson) as TaskError[];
  errors.push(error);
  return JSON.stringify(errors.length > ERROR_HISTORY_LIMIT ? errors.slice(-ERROR_HISTORY_LIMIT) : errors);
}

export function taskError(
  reason: TaskError['reason'],
  message: string,
  attempt: number,
  at: number,
  extra: { name?: string; stack?: string } = {},
): TaskError {
  const error: TaskError = { reason, message, attempt, at };
  // Absent rather than undefined, so the task reads back equal to what was written.
  if (extra.name !== undefined) error.name = extra.name;
  if (extra.stack !== undefined) error.stack = extra.stack;
  return error;
}
