/**
 * Shared public types. This module imports nothing internal: everything else may import it.
 *
 * Every timestamp is epoch milliseconds and every duration carries its unit (`…Ms`). JSON values
 * (payload, result, progress) are plain data: they went through `JSON.stringify` on the way in and
 * come back through `JSON.parse`.
 */

/** The states a task moves through; see docs/architecture.md for the state machine. */
export const TASK_STATES = [
  'blocked',
  'scheduled',
  'pending',
  'processing',
  'completed',
  'dead',
  'cancelled',
] as const;
export type TaskState = (typeof TASK_STATES)[number];

/** States a task never leaves on its own (retention deletes them; `retry` revives `dead`/`cancelled`). */
export const FINISHED_STATES = ['completed', 'dead', 'cancelled'] as const satisfies readonly TaskState[];
export type FinishedState = (typeof FINISHED_STATES)[number];

export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

export const PRIORITY_MIN = 0;
export const PRIORITY_MAX = 10;
/** Named priorities (the brief): higher runs first. */
export const PRIORITY_NAMES = { low: 2, normal: 5, high: 8, critical: 10 } as const;
export type PriorityName = keyof typeof PRIORITY_NAMES;

export type BackoffKind = 'fixed' | 'exponential' | 'linear';

/** How long to wait before attempt n+1 after attempt n failed. Pure data, evaluated by `retryDelayMs`. */
export interface BackoffPolicy {
  kind: BackoffKind;
  /** Base delay: the delay itself (fixed), the first delay (exponential), the step (linear). */
  delayMs: number;
  /** Upper bound of any computed delay, before jitter. */
  maxDelayMs: number;
  /** 0 = none; 0.2 = the delay is spread uniformly over ±20 %. */
  jitter: number;
}

/**
 * Why an attempt or a task ended badly. `error` is a handler that threw; the others are decided by
 * Conveyor itself. Stable strings: tests, metrics and users match on them.
 */
export type TaskErrorReason =
  | 'error'
  | 'timeout'
  | 'lease_expired'
  | 'deadline_exceeded'
  | 'dependency_failed'
  | 'cancelled'
  | 'no_handler'
  | 'shutdown';

export interface TaskError {
  reason: TaskErrorReason;
  message: string;
  /** The error class name, when a handler threw. */
  name?: string;
  stack?: string;
  /** The attempt this error ended (0 when the task never ran, e.g. a dependency failed). */
  attempt: number;
  at: number;
}

/** A task as every store returns it. Plain data: operations live on the client and the store. */
export interface Task {
  id: string;
  queue: string;
  type: string;
  payload: JsonValue;
  /** 0–10, higher first. */
  priority: number;
  state: TaskState;
  /** Attempts started so far (claims that were not released). */
  attempt: number;
  /** `retries + 1`. */
  maxAttempts: number;
  backoff: BackoffPolicy;
  /** Per attempt; null = no timeout. */
  timeoutMs: number | null;
  /** Complete by this time or die with `deadline_exceeded`; null = none. */
  deadline: number | null;
  /** When the task is (or was) due: its submit time, its delay's end, or its next retry. */
  runAt: number;
  dependsOn: string[];
  /** Idempotency key, unique within the queue while the task exists. */
  key: string | null;
  result: JsonValue | null;
  /** The last error; for `dead` and `cancelled` tasks, why they ended. */
  error: TaskError | null;
  /** Bounded history of errors, oldest first (the last `ERROR_HISTORY_LIMIT`). */
  errors: TaskError[];
  progress: JsonValue | null;
  createdAt: number;
  /** When the current or last attempt started. */
  startedAt: number | null;
  finishedAt: number | null;
  /** The worker that holds or last held the lease. */
  workerId: string | null;
  /** Lease expiry while `processing`, else null. */
  leaseExpiresAt: number | null;
  /** A cancel was asked for while the task was `processing`; lease renewal tells its worker. */
  cancelRequested: boolean;
  /**
   * W3C trace context of the span that submitted the task (`traceparent`, optionally `tracestate`),
   * so every attempt's span joins the submitter's trace. Absent when nothing was tracing.
   */
  traceContext?: TraceCarrier;
}

/** A W3C trace-context carrier: header name → value (`traceparent`, `tracestate`). */
export type TraceCarrier = Record<string, string>;

/** A task handed to a worker: the lease token fences every later write about this attempt. */
export interface ClaimedTask extends Task {
  state: 'processing';
  leaseToken: string;
  leaseExpiresAt: number;
}

/** Bounded error history kept on every task. */
export const ERROR_HISTORY_LIMIT = 10;

/**
 * Task lifecycle events, in the order a task meets them. Every store writes them in the same atomic
 * step as the change they describe (src/store/store.ts, `readEvents`).
 */
export const TASK_EVENT_NAMES = [
  /** Inserted (state `pending`, `scheduled`, `blocked`, or `cancelled` when a dependency had failed). */
  'task:submitted',
  /** Leased by a worker (a claim or a steal). */
  'task:claimed',
  /** A running attempt reported progress (with its lease renewal). */
  'task:progress',
  /** Finished with a result. */
  'task:completed',
  /** An attempt failed and the task will run again (`retryAt`). */
  'task:failed',
  /** Ended `dead`: out of attempts, a permanent failure, its deadline, or its lease expired on the last attempt. */
  'task:dead',
  /** Ended `cancelled`: asked for, or a dependency ended badly. */
  'task:cancelled',
  /** Its worker's lease expired and the leader took it back (followed by `task:dead`/`task:cancelled` when it ended there). */
  'task:reclaimed',
  /** Given back to the queue without spending an attempt (shutdown, stealing). */
  'task:released',
  /** A dead or cancelled task was retried by an operator: `pending` again with fresh attempts. */
  'task:retried',
] as const;
export type TaskEventName = (typeof TASK_EVENT_NAMES)[number];

/** One lifecycle change of one task. Small on purpose: read the task for its payload or result. */
export interface TaskEvent {
  /**
   * Where this event sits in the store's feed: pass it as `after` (or as SSE `Last-Event-ID`) to read
   * what came after it. Opaque; only comparable by the store that made it.
   */
  id: string;
  name: TaskEventName;
  /** When the change happened, on the store's clock. */
  at: number;
  taskId: string;
  queue: string;
  /** The task's type. */
  type: string;
  /** The task's attempt count after the change. */
  attempt: number;
  /** The task's state after the change. */
  state: TaskState;
  /** `task:claimed`: the worker that holds the lease. */
  workerId?: string;
  /** `task:failed`, `task:dead`, `task:cancelled`: why. */
  error?: { reason: TaskErrorReason; message: string };
  /** `task:failed`: when the next attempt is due. */
  retryAt?: number;
  /** `task:progress`: the reported progress. */
  progress?: JsonValue;
  /** `task:claimed`: how long the task waited since it became due (ms); absent when unknown. */
  waitMs?: number;
}
