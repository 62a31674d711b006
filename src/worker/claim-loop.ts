import { backoffDelayMs } from '../lifecycle/backoff.js';
import { sleep } from '../lifecycle/sleep.js';
import { attemptOutcome, type MetricsSink } from '../observability/metrics-sink.js';
import type { Store } from '../store/store.js';
import type { ClaimedTask } from '../types.js';
import type { Completer } from './completer.js';
import type { Executor, RunningTask } from './executor.js';
import type { Logger } from './handlers.js';
import type { LeaseKeeper } from './lease-keeper.js';
import type { Pool } from './pool.js';
import { Wakeup } from './wakeup.js';

export type ClaimLoopState = 'stopped' | 'claiming' | 'full' | 'idle' | 'backoff';

export interface ClaimLoopOptions {
  store: Store;
  pool: Pool;
  executor: Executor;
  completer: Completer;
  leaseKeeper: LeaseKeeper;
  logger: Logger;
  workerId: string;
  queues: string[];
  leaseMs: number;
  /** Tasks claimed beyond the free slots, held ready (leased, not started). */
  prefetch: number;
  /** Take other workers' prefetched tasks when there is nothing to claim. */
  steal: boolean;
  /** How long one idle wait in the store lasts before the loop looks again (a safety net). */
  idleWaitMs: number;
  /** With stealing on, how often an idle worker looks for tasks to steal. */
  stealIntervalMs: number;
  /** Told each claimed task's wait, and the outcome of tasks handed back unrun. */
  metrics?: MetricsSink | undefined;
}

/**
 * Feeds the pool. States:
 *
 * - `claiming`: a store call is in flight (claim, steal, or confirming prefetched tasks). It runs
 *   to its end even when the worker stops, and whatever it returns is run or released, never
 *   stranded in a lease nobody renews.
 * - `full`: every slot is busy and the prefetch buffer is full; waits for a slot to free
 *   (coalesced wake-ups: a freed slot wakes the loop on the next macrotask, so the slots that free
 *   in the same tick, ten tasks finishing at once, cause one claim; a claim in flight meanwhile
 *   leaves the freed slots to the next one, so under load each claim brings many tasks).
 * - `idle`: the last claim found nothing; blocks in the store (`waitForWork`: BZPOPMIN on Redis,
 *   in-process wake-ups on SQLite) until work may be there, or `idleWaitMs` passes; with tasks in
 *   the prefetch buffer, a slot freeing ends the wait too. Nothing polls; with stealing on, the
 *   wait is cut to `stealIntervalMs` to look for tasks to steal.
 * - `backoff`: a store call failed; waits (exponential, capped, jittered) and tries again. Every
 *   store error counts as transient: the loop resumes by itself when the store is back.
 * - `stopped`.
 *
 * A claim asks for the free slots plus the room left in the prefetch buffer. The tasks for free
 * slots start at once; the others wait in the buffer, leased and renewed, until a slot frees and
 * `startTasks` confirms they are still ours (a thief may have taken them).
 */
export class ClaimLoop {
  readonly #o: ClaimLoopOptions;
  readonly #wakeup = new Wakeup();
  readonly #running = new Set<RunningTask>();
  readonly #buffer = new Map<string, ClaimedTask>();
  #state: ClaimLoopState = 'stopped';
  #failures = 0;
  /** A wake-up is due on the next macrotask: slots freeing in the same tick cause one claim. */
  #wakeScheduled = false;
  readonly #wake = (): void => {
    this.#wakeScheduled = false;
    this.#wakeup.notify();
  };
  readonly #taskDone = (running: RunningTask): void => {
    this.#running.delete(running);
    this.#o.pool.release();
    if (this.#wakeScheduled) return;
    this.#wakeScheduled = true;
    setImmediate(this.#wake);
  };

  constructor(options: ClaimLoopOptions) {
    this.#o = options;
  }

  get state(): ClaimLoopState {
    return this.#state;
  }

  get running(): ReadonlySet<RunningTask> {
    return this.#running;
  }

  get prefetched(): number {
    return this.#buffer.size;
  }

  /** Runs until `signal` aborts; then returns, leaving running tasks to the caller. */
  async run(signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      try {
        await this.#step(signal);
        this.#failures = 0;
      } catch (err) {
        this.#failures += 1;
        this.#state = 'backoff';
        const delay = backoffDelayMs(this.#failures);
        this.#o.logger.warn({ err, attempt: this.#failures, retryInMs: delay }, 'claim loop: store call failed; backing off');
        await sleep(delay, signal);
      }
    }
    this.#state = 'stopped';
  }

  /** Gives every prefetched task back without spending its attempt (shutdown). */
  async releasePrefetched(): Promise<void> {
    const tasks = [...this.#buffer.values()];
    this.#buffer.clear();
    await Promise.all(tasks.map((task) => this.#giveBack(task)));
  }

  async #step(signal: AbortSignal): Promise<void> {
    const { pool } = this.#o;
    if (this.#buffer.size > 0 && pool.free > 0) {
      this.#state = 'claiming';
      await this.#startBuffered();
      return;
    }
    const free = pool.free;
    const want = free + this.#o.prefetch - this.#buffer.size;
    if (want <= 0) {
      this.#state = 'full';
      await this.#wakeup.wait(signal);
      return;
    }
    this.#state = 'claiming';
    const claimed = await this.#o.store.claimTasks({
      queues: this.#o.queues,
      workerId: this.#o.workerId,
      limit: want,
      startLimit: free,
      leaseMs: this.#o.leaseMs,
    });
    if (this.#o.metrics !== undefined) this.#reportClaimed(this.#o.metrics, claimed);
    if (signal.aborted) {
      // The worker stopped while this claim was in flight: give every task back.
      await Promise.all(claimed.map((task) => this.#giveBack(task)));
      return;
    }
    for (let i = 0; i < claimed.length; i++) {
      if (i < free) this.#dispatch(claimed[i]!);
      else this.#hold(claimed[i]!);
    }
    if (claimed.length === want && pool.free === 0) pool.grow();
    if (claimed.length > 0) return;

    if (this.#o.steal && free > 0) {
      const stolen = await this.#o.store.stealTasks({ queues: this.#o.queues, workerId: this.#o.workerId, limit: free, leaseMs: this.#o.leaseMs });
      if (signal.aborted) {
        await Promise.all(stolen.map((task) => this.#giveBack(task)));
        return;
      }
      stolen.forEach((task) => this.#dispatch(task));
      if (stolen.length > 0) {
        this.#o.logger.debug({ stolen: stolen.length }, 'claim loop: stole prefetched tasks from a busy worker');
        return;
      }
    }
    this.#state = 'idle';
    const timeoutMs = this.#o.steal ? this.#o.stealIntervalMs : this.#o.idleWaitMs;
    if (this.#buffer.size === 0) {
      await this.#o.store.waitForWork({ queues: this.#o.queues, timeoutMs, signal });
      return;
    }
    // Prefetched tasks wait for a slot: a slot freeing must end the wait as surely as new work.
    const waiting = new AbortController();
    const stop = (): void => waiting.abort();
    signal.addEventListener('abort', stop, { once: true });
    try {
      await Promise.race([this.#o.store.waitForWork({ queues: this.#o.queues, timeoutMs, signal: waiting.signal }), this.#wakeup.wait(waiting.signal)]);
    } finally {
      signal.removeEventListener('abort', stop);
      waiting.abort();
    }
  }

  /** Confirms buffered tasks for the free slots, then runs what is still ours. */
  async #startBuffered(): Promise<void> {
    const batch = [...this.#buffer.values()].slice(0, this.#o.pool.free);
    const result = await this.#o.store.startTasks({ leases: batch.map((task) => leaseOf(task)) });
    const started = new Set(result.started);
    const cancelled = new Set(result.cancelRequested);
    for (const task of batch) {
      if (!this.#buffer.delete(task.id)) continue; // lost meanwhile (renewal said so)
      if (!started.has(task.id)) {
        this.#o.leaseKeeper.release(task.id);
        continue;
      }
      if (cancelled.has(task.id)) void this.#finishWithoutRunning(task, 'cancel');
      else this.#dispatch(task);
    }
  }

  #dispatch(task: ClaimedTask): void {
    this.#o.pool.acquire();
    // The executor never calls #taskDone before start() returns.
    this.#running.add(this.#o.executor.start(task, this.#taskDone));
  }

  /** A prefetched task: leased and renewed, not started. */
  #hold(task: ClaimedTask): void {
    this.#buffer.set(task.id, task);
    this.#o.leaseKeeper.hold({
      lease: leaseOf(task),
      expiresAt: task.leaseExpiresAt,
      onLost: () => {
        this.#buffer.delete(task.id);
      },
      onCancelRequested: () => {
        if (this.#buffer.delete(task.id)) void this.#finishWithoutRunning(task, 'cancel');
      },
    });
  }

  async #giveBack(task: ClaimedTask): Promise<void> {
    await this.#finishWithoutRunning(task, 'release');
  }

  async #finishWithoutRunning(task: ClaimedTask, outcome: 'release' | 'cancel'): Promise<void> {
    this.#o.leaseKeeper.hold({ lease: leaseOf(task), expiresAt: task.leaseExpiresAt, onLost: () => undefined, onCancelRequested: () => undefined });
    const written = await this.#o.completer.finish({ ...leaseOf(task), outcome });
    this.#o.leaseKeeper.release(task.id);
    this.#o.metrics?.attemptFinished(task.queue, task.type, attemptOutcome(outcome, written), null, null);
  }

  /**
   * Each task's wait: claim time − due time, both on the store's clock (the claim set the lease to
   * expire `leaseMs` after its now). Stolen tasks are not reported: their first claim was.
   */
  #reportClaimed(metrics: MetricsSink, claimed: readonly ClaimedTask[]): void {
    const leaseMs = this.#o.leaseMs;
    for (const task of claimed) metrics.taskClaimed(task.queue, task.type, task.leaseExpiresAt - leaseMs - task.runAt);
  }
}

function leaseOf(task: ClaimedTask): { id: string; queue: string; token: string } {
  return { id: task.id, queue: task.queue, token: task.leaseToken };
}
