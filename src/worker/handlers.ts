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

/** A typed identity for a handlers module's default export. */
export function defineHandlers<T extends Handlers>(handlers: T): T {
  return handlers;
}
