import { Worker } from 'node:worker_threads';
import type { JsonValue, Task } from '../../types.js';
import type { Logger } from '../handlers.js';
import type { SettledOutcome } from '../in-process-runner.js';
import type { FromThread, SandboxWorkerData, ToThread } from './protocol.js';
import type { ThreadEntry } from './thread-entry.js';

export interface ThreadJob {
  task: Task;
  attempt: number;
  dependencies: Record<string, JsonValue | null>;
  onProgress(value: JsonValue): void;
  logger: Logger;
}

/** How a job ended: the thread reported the handler settled, or the thread is gone. */
export type JobEnd = { kind: 'settled'; outcome: SettledOutcome } | { kind: 'died'; message: string };

interface ActiveJob {
  runId: number;
  job: ThreadJob;
  end(end: JobEnd): void;
}

let nextRunId = 1;

/**
 * One sandbox thread, seen from the main thread: starts it, hands it one job at a time, forwards
 * its progress and log lines, and notices when it exits. The pool decides what to do with it.
 */
export class PooledThread {
  /** The task types of the handlers module, once the thread loaded it; rejects if it could not. */
  readonly loaded: Promise<string[]>;
  readonly #worker: Worker;
  #job: ActiveJob | null = null;
  #exited = false;
  #hasLoaded = false;
  #error: Error | undefined;
  #terminationReason: string | undefined;
  #exitCause: string | undefined;
  #settleLoaded!: { resolve(types: string[]): void; reject(err: Error): void };

  constructor(entry: ThreadEntry, workerData: SandboxWorkerData, onExit: (thread: PooledThread) => void) {
    this.loaded = new Promise<string[]>((resolve, reject) => {
      this.#settleLoaded = { resolve, reject };
    });
    // Whoever needs the load awaits `loaded`; a failure nobody awaits must not be an unhandled rejection.
    this.loaded.catch(() => undefined);
    this.#worker = new Worker(entry.url, { workerData, ...(entry.execArgv ? { execArgv: entry.execArgv } : {}) });
    this.#worker.on('message', (message: FromThread) => this.#onMessage(message));
    this.#worker.on('error', (err) => {
      this.#error = err;
    });
    this.#worker.on('exit', (code) => {
      this.#exited = true;
      this.#exitCause = this.#terminationReason ?? this.#error?.message ?? `exit code ${code}`;
      const cause = this.#exitCause;
      this.#settleLoaded.reject(new Error(`the sandbox thread exited before loading the handlers module: ${cause}`));
      this.#finishJob({ kind: 'died', message: `the sandbox thread died while running the task: ${cause}` });
      onExit(this);
    });
  }

  get exited(): boolean {
    return this.#exited;
  }

  /** The thread reported its handlers loaded (a replacement for it should load too). */
  get hasLoaded(): boolean {
    return this.#hasLoaded;
  }

  /** True once `terminate()` was called: its exit is expected. */
  get terminating(): boolean {
    return this.#terminationReason !== undefined;
  }

  /** Why the thread exited (undefined while it runs). */
  get exitCause(): string | undefined {
    return this.#exitCause;
  }

  /** Runs one job; resolves when the handler settled or the thread died. Never rejects. */
  execute(job: ThreadJob): Promise<JobEnd> {
    if (this.#job !== null) throw new Error('a sandbox thread runs one task at a time; this one is busy');
    if (this.#exited) return Promise.resolve({ kind: 'died', message: 'the sandbox thread had exited before the task was given to it' });
    const runId = nextRunId++;
    return new Promise<JobEnd>((resolve) => {
      this.#job = { runId, job, end: resolve };
      const { task, attempt, dependencies } = job;
      this.#post({ type: 'run', runId, task, attempt, dependencies });
    });
  }

  /** Aborts the running handler's signal with `reason` (the handler may ignore it). */
  abort(reason: unknown): void {
    const runId = this.#job?.runId;
    if (runId === undefined) return;
    try {
      this.#post({ type: 'abort', runId, reason });
    } catch {
      // A reason that cannot be cloned (Conveyor's own are strings) still aborts, as text.
      this.#post({ type: 'abort', runId, reason: String(reason) });
    }
  }

  /** Ends the thread; `reason` says why in the outcome of a job it was running. */
  async terminate(reason: string): Promise<void> {
    this.#terminationReason ??= `terminated: ${reason}`;
    await this.#worker.terminate();
  }

  #post(message: ToThread): void {
    this.#worker.postMessage(message);
  }

  #onMessage(message: FromThread): void {
    switch (message.type) {
      case 'loaded':
        this.#hasLoaded = true;
        this.#settleLoaded.resolve(message.types);
        return;
      case 'loadFailed': {
        const err = new Error(message.error.message);
        if (message.error.name !== undefined) err.name = message.error.name;
        this.#settleLoaded.reject(err);
        void this.terminate('the handlers module failed to load');
        return;
      }
      case 'progress':
        if (this.#job?.runId === message.runId) forward(() => this.#job?.job.onProgress(message.value));
        return;
      case 'log': {
        const logger = this.#job?.runId === message.runId ? this.#job.job.logger : undefined;
        if (logger === undefined) return;
        const { level, obj, msg } = message;
        forward(() => (msg === undefined ? logger[level](obj) : logger[level](obj, msg)));
        return;
      }
      case 'settled':
        if (this.#job?.runId === message.runId) this.#finishJob({ kind: 'settled', outcome: message.outcome });
        return;
    }
  }

  #finishJob(end: JobEnd): void {
    const job = this.#job;
    if (job === null) return;
    this.#job = null;
    job.end(end);
  }
}

/**
 * Calls the runner's caller back from a message event: a throw there would be an uncaught exception
 * in the main thread, and there is no handler left to hand it to (in-process, the handler gets it).
 */
function forward(call: () => void): void {
  try {
    call();
  } catch {
    // Dropped: one progress report or log line is not worth the process.
  }
}
