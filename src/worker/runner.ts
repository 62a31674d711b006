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
  signal: AbortSignal;
  attempt: number;
  dependencies: Record<string, JsonValue | null>;
  onProgress(value: JsonValue): void;
  logger: Logger;
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
