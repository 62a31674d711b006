import type { Logger } from '../logger.js';
import type { JsonValue, Task } from '../types.js';

export { silentLogger, type Logger } from '../logger.js';

/**
 * What a handler gets besides its task. One `signal` for every reason to stop: its `reason` is a
 * HandlerAbortReason.
 */
export interface HandlerContext {
  /** Aborted on timeout, cancel, deadline, lost lease or shutdown; `signal.reason` says which. */
  signal: AbortSignal;
  /** 1 for the first attempt. */
  attempt: number;
  /** Reports progress (any JSON); stored on the task with the next lease renewal. */
  progress(value: JsonValue): void;
  logger: Logger;
  /** The results of the tasks this one depends on, by id. */
  dependencies: Record<string, JsonValue | null>;
}

export type Handler = (task: Task, ctx: HandlerContext) => Promise<unknown> | unknown;

/** Task type → handler: the default export of a handlers module. */
export type Handlers = Record<string, Handler>;

/** The reasons Conveyor aborts a handler's signal with. */
export type HandlerAbortReason = 'timeout' | 'cancelled' | 'deadline' | 'lease_lost' | 'shutdown';

/** Throw one (or any error with `permanent: true`) to skip the remaining retries. */
export class PermanentError extends Error {
  override readonly name: string = 'PermanentError';
  readonly permanent = true;
}

export function isPermanentError(err: unknown): boolean {
  return typeof err === 'object' && err !== null && (err as { permanent?: unknown }).permanent === true;
}

/**
 * Throw one (or any error with a finite, non-negative `retryAfterMs`) to choose when the next
 * attempt runs, instead of the task's backoff: a server's `Retry-After`, a rate limit's reset. It
 * is an ordinary failure otherwise: it spends an attempt, and the task's deadline still applies.
 */
export class RetryAfterError extends Error {
  override readonly name: string = 'RetryAfterError';
  readonly retryAfterMs: number;

  constructor(message: string, retryAfterMs: number, options?: ErrorOptions) {
    super(message, options);
    this.retryAfterMs = retryAfterMs;
  }
}

/** 100 years, as MAX_DURATION_MS in duration.ts (not imported: handler modules and threads load this file, not zod). */
const MAX_RETRY_AFTER_MS = 100 * 365.25 * 24 * 60 * 60 * 1000;

/**
 * The retry delay a thrown error asks for: its `retryAfterMs` when that is a finite number ≥ 0
 * (rounded up to whole milliseconds, at most 100 years), else undefined (the backoff applies).
 */
export function retryAfterMsOf(err: unknown): number | undefined {
  if (typeof err !== 'object' || err === null) return undefined;
  let value: unknown;
  try {
    value = (err as { retryAfterMs?: unknown }).retryAfterMs;
  } catch {
    // A throwing getter or a Proxy: no delay of its own.
    return undefined;
  }
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) return undefined;
  return Math.min(Math.ceil(value), MAX_RETRY_AFTER_MS);
}

/** A typed identity for a handlers module's default export. */
export function defineHandlers<T extends Handlers>(handlers: T): T {
  return handlers;
}
