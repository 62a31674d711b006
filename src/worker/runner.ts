import type { JsonValue, Task } from '../types.js';
import type { Logger } from './handlers.js';

/**
 * Runs one attempt of a handler. Two implementations: in the worker's own thread
 * (in-process-runner.ts) and in a pool of worker_threads (sandbox/), so that a CPU-bound handler
 * blocks neither lease renewal nor the claim loop. The executor decides what an outcome means for
 * the task; a runner only runs the handler and reports what it did.
 */
export interface TaskRunner {
  /** Resolves once handlers are loaded; returns the task types this runner can run. */
  ready(): Promise<string[]>;
  /**
   * Runs the handler of `task.type`. Never rejects: a throw, an unknown type or a terminated thread
   * is a `failed` outcome. When `ctx.signal` aborts, the runner stops waiting for the handler; a
   * runner that can kill a handler ignoring its abort (the sandbox) does so after its grace.
   */
  run(task: Task, ctx: RunContext): Promise<RunOutcome>;
  /** Stops the runner (terminates threads). */
  close(): Promise<void>;
}

export interface RunContext {
  /**
   * Aborted on timeout, cancel, deadline, lost lease or shutdown. The executor creates it on first
   * read (most handlers never look at it): a runner that only needs to know whether and when the
   * attempt is aborted should use `abortWatch` when it is there.
   */
  readonly signal: AbortSignal;
  /** A cheaper view of the abort than `signal`, when the caller offers one (the executor does). */
  readonly abortWatch?: AbortWatch;
  readonly attempt: number;
  readonly dependencies: Record<string, JsonValue | null>;
  onProgress(value: JsonValue): void;
  /** Created on first read, like `signal`. */
  readonly logger: Logger;
}

/** Whether an attempt is aborted, and a call when it is, without an AbortSignal. */
export interface AbortWatch {
  readonly aborted: boolean;
  /**
   * Calls `listener` once, when the attempt is aborted (not at all if it already is: check
   * `aborted` first). One listener per attempt: a later call replaces it.
   */
  onAbort(listener: () => void): void;
}

export type RunOutcome =
  | { status: 'completed'; result: JsonValue | null }
  | {
      status: 'failed';
      error: { name?: string; message: string; stack?: string };
      /** The handler threw a PermanentError (or an error with `permanent: true`). */
      permanent: boolean;
      /** No handler for the type: the message names it and the known types. */
      noHandler?: boolean;
      /** The handler chose the retry delay (a RetryAfterError): used instead of the task's backoff. */
      retryAfterMs?: number;
    }
  /** The signal aborted before the handler settled (the runner stopped waiting, or killed it). */
  | { status: 'aborted' };
