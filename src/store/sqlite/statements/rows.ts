import type { BackoffPolicy, ClaimedTask, JsonValue, Task, TaskError, TaskState, TraceCarrier } from '../../../types.js';
import { ERROR_HISTORY_LIMIT } from '../../../types.js';

/**
 * How statements read whole tasks: one JSON array per row, built by SQLite (`TASK_JSON`) and parsed
 * with one `JSON.parse` (`jsonToTask`). better-sqlite3 hands a row to JavaScript one column at a
 * time, and each column costs about a microsecond (measured: 37k instructions for a row of 26
 * columns, more than the claim's UPDATE itself); one string per row costs one. The JSON columns
 * (payload, backoff, errors, …) are JSON text already, written by `JSON.stringify`, so they are
 * spliced in as they are and parsed together with the row; text is quoted with `json_quote` (which
 * also renders SQL NULL as `null`), and numbers are rendered by SQLite, which writes REALs so that
 * they read back to the same double.
 *
 * `COL` names the positions in the array.
 */
export const COL = {
  id: 0,
  queue: 1,
  type: 2,
  state: 3,
  priority: 4,
  runAt: 5,
  attempt: 6,
  maxAttempts: 7,
  timeoutMs: 8,
  deadline: 9,
  cancelRequested: 10,
  createdAt: 11,
  startedAt: 12,
  finishedAt: 13,
  workerId: 14,
  leaseToken: 15,
  leaseExpiresAt: 16,
  key: 17,
  backoff: 18,
  dependsOn: 19,
  error: 20,
  errors: 21,
  progress: 22,
  result: 23,
  payload: 24,
  claimedAt: 25,
  traceContext: 26,
} as const;

/** A parsed `TASK_JSON` row. */
export type TaskRaw = [
  id: string,
  queue: string,
  type: string,
  state: TaskState,
  priority: number,
  runAt: number,
  attempt: number,
  maxAttempts: number,
  timeoutMs: number | null,
  deadline: number | null,
  cancelRequested: number,
  createdAt: number,
  startedAt: number | null,
  finishedAt: number | null,
  workerId: string | null,
  leaseToken: string | null,
  leaseExpiresAt: number | null,
  key: string | null,
  backoff: BackoffPolicy,
  dependsOn: string[],
  error: TaskError | null,
  errors: TaskError[],
  progress: JsonValue | null,
  result: JsonValue | null,
  payload: JsonValue,
  claimedAt: number | null,
  traceContext: TraceCarrier | null,
];

const quoted = (column: string): string => `json_quote(${column})`;
const jsonOrNull = (column: string): string => `coalesce(${column}, 'null')`;

/** The SQL expression that renders a `tasks` row as a JSON array in `COL` order. */
export const TASK_JSON = `concat('[', ${[
  quoted('id'),
  quoted('queue'),
  quoted('type'),
  quoted('state'),
  quoted('priority'),
  quoted('run_at'),
  quoted('attempt'),
  quoted('max_attempts'),
  quoted('timeout_ms'),
  quoted('deadline'),
  quoted('cancel_requested'),
  quoted('created_at'),
  quoted('started_at'),
  quoted('finished_at'),
  quoted('worker_id'),
  quoted('lease_token'),
  quoted('lease_expires_at'),
  quoted('idempotency_key'),
  'backoff',
  'depends_on',
  jsonOrNull('error'),
  'errors',
  jsonOrNull('progress'),
  jsonOrNull('result'),
  'payload',
  quoted('claimed_at'),
  jsonOrNull('trace_context'),
].join(", ',', ")}, ']')`;

/**
 * What a claim returns of each row it leased, as a JSON array (`CLAIMED_JSON`, positions in
 * `CLAIMED`): the columns the claim does not know already. The queue, the state, the lease's worker,
 * start and expiry, and the cleared cancel request come from the claim itself (`claimedJsonToTask`).
 * Less to render, to hand over and to parse than `TASK_JSON`, for the statement that reads the most.
 */
export const CLAIMED = {
  id: 0,
  type: 1,
  priority: 2,
  runAt: 3,
  attempt: 4,
  maxAttempts: 5,
  timeoutMs: 6,
  deadline: 7,
  createdAt: 8,
  finishedAt: 9,
  leaseToken: 10,
  key: 11,
  backoff: 12,
  dependsOn: 13,
  error: 14,
  errors: 15,
  progress: 16,
  result: 17,
  payload: 18,
  traceContext: 19,
} as const;

/** A parsed `CLAIMED_JSON` row. */
export type ClaimedRaw = [
  id: string,
  type: string,
  priority: number,
  runAt: number,
  attempt: number,
  maxAttempts: number,
  timeoutMs: number | null,
  deadline: number | null,
  createdAt: number,
  finishedAt: number | null,
  leaseToken: string,
  key: string | null,
  backoff: BackoffPolicy,
  dependsOn: string[],
  error: TaskError | null,
  errors: TaskError[],
  progress: JsonValue | null,
  result: JsonValue | null,
  payload: JsonValue,
  traceContext: TraceCarrier | null,
];

/**
 * `CLAIMED_JSON` as SQL. Numbers go through `json_quote`, which renders any of them as JSON (an
 * infinite one as `9.0e999`), except the attempt, a count the store keeps; the token is ours
 * (lease.ts) and needs no escaping.
 */
export const CLAIMED_JSON = `concat('[', ${[
  quoted('id'),
  quoted('type'),
  quoted('priority'),
  quoted('run_at'),
  'attempt',
  quoted('max_attempts'),
  quoted('timeout_ms'),
  quoted('deadline'),
  quoted('created_at'),
  quoted('finished_at'),
  `'"', lease_token, '"'`,
  quoted('idempotency_key'),
  'backoff',
  'depends_on',
  jsonOrNull('error'),
  'errors',
  jsonOrNull('progress'),
  jsonOrNull('result'),
  'payload',
  jsonOrNull('trace_context'),
].join(", ',', ")}, ']')`;

/** What the claim knows of every row it leased. */
export interface ClaimContext {
  queue: string;
  workerId: string;
  startedAt: number | null;
  leaseExpiresAt: number;
}

export function claimedJsonToTask(row: ClaimedRaw, lease: ClaimContext): ClaimedTask {
  const task: ClaimedTask = {
    id: row[CLAIMED.id],
    queue: lease.queue,
    type: row[CLAIMED.type],
    payload: row[CLAIMED.payload],
    priority: row[CLAIMED.priority],
    state: 'processing',
    attempt: row[CLAIMED.attempt],
    maxAttempts: row[CLAIMED.maxAttempts],
    backoff: row[CLAIMED.backoff],
    timeoutMs: row[CLAIMED.timeoutMs],
    deadline: row[CLAIMED.deadline],
    runAt: row[CLAIMED.runAt],
    dependsOn: row[CLAIMED.dependsOn],
    key: row[CLAIMED.key],
    result: row[CLAIMED.result],
    error: row[CLAIMED.error],
    errors: row[CLAIMED.errors],
    progress: row[CLAIMED.progress],
    createdAt: row[CLAIMED.createdAt],
    startedAt: lease.startedAt,
    finishedAt: row[CLAIMED.finishedAt],
    workerId: lease.workerId,
    leaseExpiresAt: lease.leaseExpiresAt,
    cancelRequested: false,
    leaseToken: row[CLAIMED.leaseToken],
  };
  // Absent rather than undefined when none was given, so the task reads back equal to what was written.
  const traceContext = row[CLAIMED.traceContext];
  if (traceContext !== null) task.traceContext = traceContext;
  return task;
}

/** Claim order of `CLAIMED_JSON` rows: priority first (higher first), then due time, then id. */
export function claimedOrder(a: ClaimedRaw, b: ClaimedRaw): number {
  if (a[CLAIMED.priority] !== b[CLAIMED.priority]) return b[CLAIMED.priority] - a[CLAIMED.priority];
  if (a[CLAIMED.runAt] !== b[CLAIMED.runAt]) return a[CLAIMED.runAt] - b[CLAIMED.runAt];
  const idA = a[CLAIMED.id];
  const idB = b[CLAIMED.id];
  return idA < idB ? -1 : idA > idB ? 1 : 0;
}

/**
 * The states that are not finished, as a SQL list, for queries that use no index on state.
 */
export const UNFINISHED_STATES_SQL = "('blocked','scheduled','pending','processing')";

/**
 * "Not finished" as the `tasks_deadline` partial index spells it (migration 4: inequalities, not an
 * IN list); queries meant to use that index repeat these terms next to its name.
 */
export const UNFINISHED_SQL = "state <> 'completed' AND state <> 'dead' AND state <> 'cancelled'";

/** `[]` is what almost every task stores for its dependencies and its error history. */
function parseList<T>(text: string): T[] {
  return text === '[]' ? [] : (JSON.parse(text) as T[]);
}

/** A `TASK_JSON` text, parsed. */
export function parseTaskJson(text: string): TaskRaw {
  return JSON.parse(text) as TaskRaw;
}

export function rawToTask(row: TaskRaw): Task {
  const state = row[COL.state];
  const task: Task = {
    id: row[COL.id],
    queue: row[COL.queue],
    type: row[COL.type],
    payload: row[COL.payload],
    priority: row[COL.priority],
    state,
    attempt: row[COL.attempt],
    maxAttempts: row[COL.maxAttempts],
    backoff: row[COL.backoff],
    timeoutMs: row[COL.timeoutMs],
    deadline: row[COL.deadline],
    runAt: row[COL.runAt],
    dependsOn: row[COL.dependsOn],
    key: row[COL.key],
    result: row[COL.result],
    error: row[COL.error],
    errors: row[COL.errors],
    progress: row[COL.progress],
    createdAt: row[COL.createdAt],
    startedAt: row[COL.startedAt],
    finishedAt: row[COL.finishedAt],
    workerId: row[COL.workerId],
    leaseExpiresAt: state === 'processing' ? row[COL.leaseExpiresAt] : null,
    cancelRequested: row[COL.cancelRequested] !== 0,
  };
  const traceContext = row[COL.traceContext];
  if (traceContext !== null) task.traceContext = traceContext;
  return task;
}

/** A `TASK_JSON` text as a task. */
export function jsonToTask(text: string): Task {
  return rawToTask(parseTaskJson(text));
}

/** A row just claimed: `processing`, with its lease. */
export function rawToClaimedTask(row: TaskRaw): ClaimedTask {
  const task = rawToTask(row) as ClaimedTask;
  task.leaseToken = row[COL.leaseToken] as string;
  return task;
}

/** Claim order: priority first (higher first), then due time, then id. */
export function claimOrder(a: TaskRaw, b: TaskRaw): number {
  if (a[COL.priority] !== b[COL.priority]) return b[COL.priority] - a[COL.priority];
  if (a[COL.runAt] !== b[COL.runAt]) return a[COL.runAt] - b[COL.runAt];
  const idA = a[COL.id];
  const idB = b[COL.id];
  return idA < idB ? -1 : idA > idB ? 1 : 0;
}

/** The `errors` column with `error` appended, keeping the last ERROR_HISTORY_LIMIT. */
export function appendError(errorsJson: string, error: TaskError): string {
  const errors = parseList<TaskError>(errorsJson);
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
