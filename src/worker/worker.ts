import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { assertQueueName } from '../names.js';
import type { MetricsSink } from '../observability/metrics-sink.js';
import type { Store } from '../store/store.js';
import { VERSION } from '../version.js';
import { ClaimLoop, type ClaimLoopState } from './claim-loop.js';
import { Completer } from './completer.js';
import { parseConcurrency } from './concurrency.js';
import { Executor } from './executor.js';
import { silentLogger, type Handlers, type Logger } from './handlers.js';
import { Heartbeat, HEARTBEAT_INTERVAL_MS } from './heartbeat.js';
import { InProcessRunner } from './in-process-runner.js';
import { LeaseKeeper } from './lease-keeper.js';
import { Pool, POOL_SCALE_DOWN_IDLE_MS } from './pool.js';
import type { TaskRunner } from './runner.js';
import { SandboxRunner } from './sandbox/sandbox-runner.js';

export const DEFAULT_LEASE_MS = 30_000;
export const DEFAULT_SHUTDOWN_GRACE_MS = 30_000;
export const DEFAULT_IDLE_WAIT_MS = 5_000;
export const DEFAULT_STEAL_INTERVAL_MS = 1_000;
export const DEFAULT_SANDBOX_TERMINATE_GRACE_MS = 5_000;

export interface WorkerOptions {
  store: Store;
  /** The handlers, in this thread. Give either `handlers` or `handlersModule`. */
  handlers?: Handlers;
  /** Path or URL of an ES module whose default export maps task types to handlers. */
  handlersModule?: string | URL;
  /**
   * Run the handlers module in a pool of worker_threads (one per slot at most), so CPU-bound
   * handlers block neither lease renewal nor claiming, and a handler that ignores its abort is
   * terminated after `terminateGraceMs`. Needs `handlersModule`.
   */
  sandbox?: boolean | { threads?: number; terminateGraceMs?: number };
  /** Default `['default']`. Claims take from them in this order of preference. */
  queues?: string[];
  /** A number, or `"MIN:MAX"` to scale the pool with the backlog. Default 10. */
  concurrency?: number | string;
  /** Tasks claimed beyond the free slots and held ready. Default 0. */
  prefetch?: number;
  /** When idle, take prefetched tasks from busy workers. Default false. */
  steal?: boolean;
  leaseMs?: number;
  /** `stop()` waits this long for running tasks before aborting them. Default 30 s. */
  shutdownGraceMs?: number;
  /** Defaults: `<host>-<pid>-<random>`. */
  id?: string;
  logger?: Logger;
  /** Tuning; the defaults suit production. */
  idleWaitMs?: number;
  stealIntervalMs?: number;
  heartbeatIntervalMs?: number;
  scaleDownIdleMs?: number;
  /**
   * Where the worker reports attempts, waits and its pool (e.g. a ConveyorMetrics, whose registry
   * `/metrics` serves). Absent: nothing is measured.
   */
  metrics?: MetricsSink;
}

export type WorkerState = 'created' | 'starting' | 'running' | 'stopping' | 'stopped';

/**
 * Runs handlers for the tasks of some queues. Composed of: a runner (in-process or sandboxed
 * threads), a pool of slots, the claim loop that feeds it, an executor per attempt, the completer
 * that writes outcomes in batches, the lease keeper that renews every lease in one call, and the
 * heartbeat that keeps the worker in the registry.
 *
 * `stop()` shuts down in order: stop claiming (a claim in flight finishes and its tasks are
 * released), release prefetched tasks at once (their attempts are not spent), wait for running
 * tasks up to the grace, abort what is left with reason `shutdown` (released, attempt given back),
 * flush the completer, stop renewing, deregister, close the runner.
 */
export class Worker {
  readonly id: string;
  readonly queues: readonly string[];
  readonly #store: Store;
  readonly #logger: Logger;
  readonly #runner: TaskRunner;
  readonly #pool: Pool;
  readonly #completer: Completer;
  readonly #leaseKeeper: LeaseKeeper;
  readonly #loop: ClaimLoop;
  readonly #heartbeat: Heartbeat;
  readonly #shutdownGraceMs: number;
  readonly #metrics: MetricsSink | undefined;
  #untrack: (() => void) | undefined;
  #types: string[] = [];
  #state: WorkerState = 'created';
  #startedAt = 0;
  #abort: AbortController | undefined;
  #loopDone: Promise<void> | undefined;
  #stopping: Promise<void> | undefined;

  constructor(options: WorkerOptions) {
    this.#store = options.store;
    this.#metrics = options.metrics;
    this.id = options.id ?? `${hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`;
    this.queues = options.queues ?? ['default'];
    this.queues.forEach(assertQueueName);
    this.#logger = (options.logger ?? silentLogger).child({ workerId: this.id });
    const concurrency = parseConcurrency(options.concurrency ?? 10);
    const leaseMs = options.leaseMs ?? DEFAULT_LEASE_MS;
    this.#shutdownGraceMs = options.shutdownGraceMs ?? DEFAULT_SHUTDOWN_GRACE_MS;
    this.#runner = createRunner(options, concurrency.max, this.#logger);
    this.#pool = new Pool(concurrency, {
      scaleDownIdleMs: options.scaleDownIdleMs ?? POOL_SCALE_DOWN_IDLE_MS,
      onResize: (size) => this.#logger.debug({ size }, 'pool resized'),
    });
    this.#completer = new Completer(this.#store, this.#logger);
    this.#leaseKeeper = new LeaseKeeper(this.#store, leaseMs, this.#logger);
    const executor = new Executor({ store: this.#store, runner: this.#runner, completer: this.#completer, leaseKeeper: this.#leaseKeeper, logger: this.#logger, workerId: this.id, metrics: options.metrics });
    this.#loop = new ClaimLoop({
      store: this.#store,
      pool: this.#pool,
      executor,
      completer: this.#completer,
      leaseKeeper: this.#leaseKeeper,
      logger: this.#logger,
      workerId: this.id,
      queues: [...this.queues],
      leaseMs,
      prefetch: options.prefetch ?? 0,
      steal: options.steal ?? false,
      idleWaitMs: options.idleWaitMs ?? DEFAULT_IDLE_WAIT_MS,
      stealIntervalMs: options.stealIntervalMs ?? DEFAULT_STEAL_INTERVAL_MS,
      metrics: options.metrics,
    });
    this.#heartbeat = new Heartbeat(this.#store, () => this.#describe(), this.#logger, options.heartbeatIntervalMs ?? HEARTBEAT_INTERVAL_MS);
  }

  get state(): WorkerState {
    return this.#state;
  }

  get claimState(): ClaimLoopState {
    return this.#loop.state;
  }

  /** Slots in the pool now (between min and max of the concurrency). */
  get poolSize(): number {
    return this.#pool.size;
  }

  /** Tasks whose handlers are running now. */
  get running(): number {
    return this.#loop.running.size;
  }

  /** Tasks claimed ahead and not started. */
  get prefetched(): number {
    return this.#loop.prefetched;
  }

  /** Task types the handlers cover (known once started). */
  get types(): readonly string[] {
    return this.#types;
  }

  /** Loads the handlers, registers the worker and starts claiming. Resolves once running. */
  async start(): Promise<void> {
    if (this.#state !== 'created') return;
    this.#state = 'starting';
    try {
      this.#types = await this.#runner.ready();
    } catch (err) {
      // Nothing started yet: the caller may fix the cause and call start() again.
      this.#state = 'created';
      throw err;
    }
    this.#startedAt = Date.now();
    await this.#heartbeat.start();
    this.#leaseKeeper.start();
    this.#abort = new AbortController();
    this.#loopDone = this.#loop.run(this.#abort.signal);
    this.#untrack = this.#metrics?.trackWorker(this);
    this.#state = 'running';
    this.#logger.info({ queues: this.queues, types: this.#types, concurrency: `${this.#pool.min}:${this.#pool.max}` }, 'worker started');
  }

  /** Graceful shutdown (see the class comment). Safe to call twice or before start. */
  stop(graceMs = this.#shutdownGraceMs): Promise<void> {
    this.#stopping ??= this.#shutdown(graceMs);
    return this.#stopping;
  }

  async #shutdown(graceMs: number): Promise<void> {
    if (this.#state === 'created' || this.#state === 'stopped') {
      this.#state = 'stopped';
      await this.#runner.close();
      return;
    }
    this.#state = 'stopping';
    const deadline = Date.now() + graceMs;
    this.#abort?.abort();
    await this.#loopDone;
    await this.#loop.releasePrefetched();

    const running = [...this.#loop.running.values()];
    this.#logger.info({ running: running.length, graceMs }, 'worker stopping: waiting for running tasks');
    const allDone = Promise.all(running.map((task) => task.done));
    const graceOver = await Promise.race([allDone.then(() => false), waitUntil(deadline).then(() => true)]);
    if (graceOver) {
      const left = [...this.#loop.running.values()];
      this.#logger.warn({ aborted: left.length }, 'shutdown grace over: aborting running tasks (they are released, their attempts given back)');
      for (const task of left) task.abort('shutdown');
      await Promise.all(left.map((task) => task.done));
    }
    // The outcomes go out before the leases stop being renewed.
    await this.#completer.flush(Math.max(deadline, Date.now() + 5_000));
    await this.#leaseKeeper.stop();
    this.#pool.stop();
    await this.#heartbeat.stop();
    await this.#runner.close();
    this.#untrack?.();
    this.#state = 'stopped';
    this.#logger.info({}, 'worker stopped');
  }

  #describe(): Parameters<Store['recordWorkerHeartbeat']>[0]['worker'] {
    return {
      id: this.id,
      role: 'worker',
      version: VERSION,
      host: hostname(),
      pid: process.pid,
      queues: [...this.queues],
      types: [...this.#types],
      concurrency: { min: this.#pool.min, max: this.#pool.max, current: this.#pool.size },
      running: this.#loop.running.size,
      startedAt: this.#startedAt,
    };
  }
}

export function createWorker(options: WorkerOptions): Worker {
  return new Worker(options);
}

function createRunner(options: WorkerOptions, maxConcurrency: number, logger: Logger): TaskRunner {
  if (options.sandbox) {
    if (!options.handlersModule) {
      throw new TypeError('worker option `sandbox` needs `handlersModule` (a path or URL): threads load the handlers themselves');
    }
    const sandbox = options.sandbox === true ? {} : options.sandbox;
    return new SandboxRunner({
      module: options.handlersModule,
      threads: Math.min(sandbox.threads ?? maxConcurrency, maxConcurrency),
      terminateGraceMs: sandbox.terminateGraceMs ?? DEFAULT_SANDBOX_TERMINATE_GRACE_MS,
      logger,
    });
  }
  if (options.handlers) return new InProcessRunner({ handlers: options.handlers });
  if (options.handlersModule) return new InProcessRunner({ module: options.handlersModule });
  throw new TypeError('a worker needs `handlers` (a map of task type → handler) or `handlersModule` (a path or URL)');
}

function waitUntil(deadline: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, Math.max(0, deadline - Date.now())).unref());
}
