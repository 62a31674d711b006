import type { JsonValue, Task } from '../../types.js';
import type { ErrorDescription, SettledOutcome } from '../in-process-runner.js';

/**
 * The messages between a SandboxRunner and its threads. A thread runs one task at a time; `runId`
 * still tags every message of a run, so that nothing of an earlier run is mistaken for the current.
 */

export interface SandboxWorkerData {
  /** The handlers module, as a URL (a URL object does not survive structured cloning). */
  moduleHref: string;
}

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

export type ToThread =
  | { type: 'run'; runId: number; task: Task; attempt: number; dependencies: Record<string, JsonValue | null> }
  /** The thread aborts the run's signal with `reason`, so handlers see the reason the worker chose. */
  | { type: 'abort'; runId: number; reason: unknown };

export type FromThread =
  | { type: 'loaded'; types: string[] }
  | { type: 'loadFailed'; error: ErrorDescription }
  | { type: 'progress'; runId: number; value: JsonValue }
  | { type: 'log'; runId: number; level: LogLevel; obj: object; msg?: string }
  /** The handler settled (also after an abort: the thread is free again). */
  | { type: 'settled'; runId: number; outcome: SettledOutcome };
