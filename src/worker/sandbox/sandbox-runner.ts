import type { Task } from '../../types.js';
import { silentLogger, type Logger } from '../handlers.js';
import { describeError, noHandlerOutcome, toModuleUrl, type SettledOutcome } from '../in-process-runner.js';
import type { RunContext, RunOutcome, TaskRunner } from '../runner.js';
import { PooledThread, type JobEnd } from './pooled-thread.js';
import { sandboxThreadEntry, type ThreadEntry } from './thread-entry.js';

export interface SandboxRunnerOptions {
  /** The handlers module (path or URL): every thread imports it once. */
  module: string | URL;
  /** Threads in the pool, so tasks run at once at most. */
  threads: number;
  /** How long a handler may go on after its abort before its thread is terminated. */
  terminateGraceMs?: number;
  logger?: Logger;
}

export const DEFAULT_TERMINATE_GRACE_MS = 5_000;
/** Before starting again a thread whose module failed to load (it loaded before): no hot loop. */
const RESTART_AFTER_LOAD_FAILURE_MS = 1_000;

/**
 * Runs handlers in a pool of worker_threads, so that a CPU-bound handler blocks neither lease
 * renewal nor the claim loop, and a handler that ignores its abort can be killed: a thread stuck
 * in a synchronous loop never returns to its event loop, so terminating it is the only way.
 *
 * A thread runs one task at a time; tasks wait for a free thread in arrival order. A thread that
 * exits (terminated after its grace, or crashed) is replaced by a new one.
 */
export class SandboxRunner implements TaskRunner {
  readonly #moduleHref: string;
  readonly #threadCount: number;
  readonly #graceMs: number;
  readonly #logger: Logger;
  readonly #entry: ThreadEntry;
  readonly #threads = new Set<PooledThread>();
  readonly #idle: PooledThread[] = [];
  /** Runs waiting for a thread, first come first served; `null` means the runner closed. */
  readonly #waiting: ((thread: PooledThread | null) => void)[] = [];
  readonly #restartTimers = new Set<NodeJS.Timeout>();
  #starting: Promise<string[]> | undefined;
  #types: ReadonlySet<string> = new Set();
  /** ready() resolved: from now on a thread that fails to load is a replacement, logged. */
  #started = false;
  #closed = false;
  #closing: Promise<void> | undefined;

  constructor(options: SandboxRunnerOptions) {
    const { threads, terminateGraceMs = DEFAULT_TERMINATE_GRACE_MS } = options;
    if (!Number.isInteger(threads) || threads < 1) {
      throw new RangeError(`SandboxRunner option \`threads\` must be an integer of at least 1, got ${String(threads)}`);
    }
    if (!Number.isFinite(terminateGraceMs) || terminateGraceMs < 0) {
      throw new RangeError(`SandboxRunner option \`terminateGraceMs\` must be a finite number ≥ 0, got ${String(terminateGraceMs)}`);
    }
    this.#moduleHref = toModuleUrl(options.module).href;
    this.#threadCount = threads;
    this.#graceMs = terminateGraceMs;
    this.#logger = options.logger ?? silentLogger;
    this.#entry = sandboxThreadEntry();
  }

  /** Starts the threads; resolves with the types the first thread to load reports. */
  ready(): Promise<string[]> {
    this.#starting ??= this.#start();
    return this.#starting;
  }

  /** Threads that loaded the handlers module and are alive, busy or not (ready() waits for one). */
  get loadedThreads(): number {
    let loaded = 0;
    for (const thread of this.#threads) if (thread.hasLoaded && !thread.exited) loaded += 1;
    return loaded;
  }

  async run(task: Task, ctx: RunContext): Promise<RunOutcome> {
    let types: string[];
    try {
      types = await this.ready();
    } catch (err) {
      return { status: 'failed', permanent: false, error: describeError(err) };
    }
    if (!this.#types.has(task.type)) return noHandlerOutcome(task.type, types);
    if (ctx.signal.aborted) return { status: 'aborted' };
    const thread = await this.#acquire(ctx.signal);
    if (thread === null) return ctx.signal.aborted ? { status: 'aborted' } : closedOutcome();
    return this.#runOn(thread, task, ctx);
  }

  close(): Promise<void> {
    this.#closing ??= this.#close();
    return this.#closing;
  }

  async #start(): Promise<string[]> {
    if (this.#closed) throw new Error('the sandbox runner is closed');
    const threads = Array.from({ length: this.#threadCount }, () => this.#spawn());
    let types: string[];
    try {
      types = await Promise.race(threads.map((thread) => thread.loaded));
    } catch (err) {
      // Every thread loads the same module: the others would fail the same way.
      await this.close();
      throw err;
    }
    this.#types = new Set(types);
    this.#started = true;
    return types;
  }

  #spawn(): PooledThread {
    const thread = new PooledThread(this.#entry, { moduleHref: this.#moduleHref }, (exited) => this.#onExit(exited));
    this.#threads.add(thread);
    thread.loaded.then(
      () => this.#release(thread),
      (err: unknown) => {
        // Before ready() resolved, ready() reports it; later, a replacement failed to load.
        if (this.#started && !this.#closed) {
          this.#logger.error({ err: describeError(err) }, 'a replacement sandbox thread could not load the handlers module');
        }
      },
    );
    return thread;
  }

  /** Every exit but close()'s is replaced, so the pool keeps its size. */
  #onExit(thread: PooledThread): void {
    this.#threads.delete(thread);
    const idleAt = this.#idle.indexOf(thread);
    if (idleAt >= 0) this.#idle.splice(idleAt, 1);
    if (this.#closed) return;
    if (!thread.terminating) {
      this.#logger.warn({ cause: thread.exitCause }, 'a sandbox thread exited unexpectedly; starting a replacement');
    }
    if (thread.hasLoaded) {
      this.#spawn();
      return;
    }
    const timer = setTimeout(() => {
      this.#restartTimers.delete(timer);
      if (!this.#closed) this.#spawn();
    }, RESTART_AFTER_LOAD_FAILURE_MS);
    this.#restartTimers.add(timer);
  }

  /** A loaded thread became free: the longest-waiting run gets it. */
  #release(thread: PooledThread): void {
    if (this.#closed || thread.exited || !this.#threads.has(thread)) return;
    const next = this.#waiting.shift();
    if (next !== undefined) next(thread);
    else this.#idle.push(thread);
  }

  /** A free thread, or null when the signal aborts (or the runner closes) first. */
  #acquire(signal: AbortSignal): Promise<PooledThread | null> {
    const idle = this.#idle.shift();
    if (idle !== undefined) return Promise.resolve(idle);
    if (this.#closed) return Promise.resolve(null);
    return new Promise((resolve) => {
      const take = (thread: PooledThread | null) => {
        signal.removeEventListener('abort', onAbort);
        resolve(thread);
      };
      const onAbort = () => {
        const at = this.#waiting.indexOf(take);
        if (at >= 0) this.#waiting.splice(at, 1);
        resolve(null);
      };
      signal.addEventListener('abort', onAbort, { once: true });
      this.#waiting.push(take);
    });
  }

  #runOn(thread: PooledThread, task: Task, ctx: RunContext): Promise<RunOutcome> {
    const execution = thread.execute({
      task,
      attempt: ctx.attempt,
      dependencies: ctx.dependencies,
      onProgress: (value) => ctx.onProgress(value),
      logger: ctx.logger,
    });
    // A thread whose handler settled is free again; one that died is replaced by #onExit.
    void execution.then((end) => {
      if (end.kind === 'settled') this.#release(thread);
    });
    return new Promise<RunOutcome>((resolve) => {
      const onAbort = () => {
        resolve({ status: 'aborted' });
        this.#abortOn(thread, execution, ctx.signal.reason, task);
      };
      if (ctx.signal.aborted) {
        onAbort();
        return;
      }
      ctx.signal.addEventListener('abort', onAbort, { once: true });
      void execution.then((end) => {
        ctx.signal.removeEventListener('abort', onAbort);
        resolve(toRunOutcome(end));
      });
    });
  }

  /** Passes the abort on to the handler; terminates the thread if the handler has not settled in time. */
  #abortOn(thread: PooledThread, execution: Promise<JobEnd>, reason: unknown, task: Task): void {
    thread.abort(reason);
    const timer = setTimeout(() => {
      this.#logger.warn(
        { taskId: task.id, type: task.type, reason, terminateGraceMs: this.#graceMs },
        'terminating a sandbox thread: its handler did not settle within the grace after its abort',
      );
      void thread.terminate(`the handler did not settle within ${this.#graceMs} ms of its abort (${String(reason)})`);
    }, this.#graceMs);
    // Threads keep the process alive until close(); this timer need not.
    timer.unref();
    void execution.then(() => clearTimeout(timer));
  }

  async #close(): Promise<void> {
    this.#closed = true;
    for (const timer of this.#restartTimers) clearTimeout(timer);
    this.#restartTimers.clear();
    for (const waiting of this.#waiting.splice(0)) waiting(null);
    this.#idle.length = 0;
    await Promise.all([...this.#threads].map((thread) => thread.terminate('the sandbox runner closed')));
  }
}

function toRunOutcome(end: JobEnd): SettledOutcome {
  if (end.kind === 'settled') return end.outcome;
  // Not permanent: the next attempt gets a fresh thread.
  return { status: 'failed', permanent: false, error: { name: 'SandboxThreadDiedError', message: end.message } };
}

function closedOutcome(): SettledOutcome {
  return {
    status: 'failed',
    permanent: false,
    error: { name: 'SandboxClosedError', message: 'the sandbox runner was closed before a thread was free to run the task' },
  };
}
