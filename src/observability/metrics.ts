/**
 * Prometheus metrics (prom-client). One `ConveyorMetrics` per node: it owns its own `Registry` (never
 * prom-client's global one, so several nodes in one process, as in the tests, do not collide), the
 * process metrics of `collectDefaultMetrics`, and every Conveyor metric below. docs/reference/metrics.md
 * documents each one with a PromQL example.
 *
 * Two kinds of figures:
 *
 * - **Per process, counted where it happens** (Prometheus sums the instances): submitted tasks (the
 *   process whose insert created them), attempts by outcome, retries, dead tasks, run and wait
 *   times (the worker that ran them), reclaimed leases and deadline deaths (the leader), store call
 *   latency (every process, through `instrumentStore`). The core reports them through the
 *   `MetricsSink` interface this class implements.
 * - **Cluster-wide, read at scrape time from the store** by the node whose coordinator currently
 *   leads: tasks per queue and state, and the oldest pending task's age. Every other node exports
 *   no series for them, so `sum()` over all servers counts each task once. A scrape that reaches
 *   the store too slowly (`clusterTimeoutMs`) or fails leaves them out of that scrape.
 *
 * The hot path: per task, a worker does one counter increment and one or two histogram
 * observations on label children cached per (queue, type): no label objects are built per task.
 * Labels are low-cardinality by design: queue, type, outcome, state, reason, operation, store;
 * never a task id or a worker id.
 */
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import { silentLogger, type Logger } from '../logger.js';
import type { Store } from '../store/store.js';
import { TASK_STATES, type TaskErrorReason } from '../types.js';
import {
  ATTEMPT_OUTCOMES,
  type AttemptOutcome,
  type CoordinatorGaugeSource,
  type MetricsSink,
  type ReclaimOutcome,
  type WorkerGaugeSource,
} from './metrics-sink.js';

/** Handler run time, seconds: from 5 ms to an hour. */
export const DEFAULT_RUN_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600];
/** Time from due to claimed, seconds: from 5 ms to a day. */
export const DEFAULT_WAIT_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600, 21600, 86400];
/** Store call latency, seconds: from 0.5 ms to 10 s. */
export const DEFAULT_STORE_CALL_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
/** How long a scrape waits for the store's counts before leaving the cluster gauges out. */
export const DEFAULT_CLUSTER_TIMEOUT_MS = 5_000;

export interface ConveyorMetricsOptions {
  /** The process metrics of prom-client (CPU, memory, event loop lag, GC, handles). Default true. */
  processMetrics?: boolean;
  /** Histogram buckets, in seconds. */
  buckets?: { run?: number[]; wait?: number[]; storeCall?: number[] };
  /** How long a scrape waits for the store's counts (cluster gauges). Default 5 s. */
  clusterTimeoutMs?: number;
  /** Where a failed cluster read is reported. */
  logger?: Logger;
}

/** Records one store call: its duration, and whether it failed. */
export interface StoreCallRecorder {
  /** `seconds` null: the call blocks by design (a wait), so only a failure is counted. */
  record(seconds: number | null, failed: boolean): void;
}

/** What `instrumentStore` needs: a recorder per (store, operation), made once per wrapped store. */
export interface StoreCallMetrics {
  storeCall(store: string, operation: string): StoreCallRecorder;
}

type CounterChild = ReturnType<Counter['labels']>;
type HistogramChild = ReturnType<Histogram['labels']>;

/** The label children of one (queue, type), made on first use and kept. */
interface TypeChildren {
  submitted: CounterChild | undefined;
  wait: HistogramChild | undefined;
  retries: CounterChild | undefined;
  /** By ATTEMPT_OUTCOMES index. */
  processed: CounterChild[] | undefined;
  run: (HistogramChild | undefined)[];
  dead: Map<string, CounterChild>;
}

const OUTCOME_INDEX: Record<AttemptOutcome, number> = Object.fromEntries(ATTEMPT_OUTCOMES.map((o, i) => [o, i])) as Record<AttemptOutcome, number>;

export class ConveyorMetrics implements MetricsSink, StoreCallMetrics {
  readonly registry: Registry;

  readonly #submitted: Counter<'queue' | 'type'>;
  readonly #processed: Counter<'queue' | 'type' | 'outcome'>;
  readonly #retries: Counter<'queue' | 'type'>;
  readonly #dead: Counter<'queue' | 'type' | 'reason'>;
  readonly #reclaimed: Counter<'queue'>;
  readonly #run: Histogram<'queue' | 'type' | 'outcome'>;
  readonly #wait: Histogram<'queue' | 'type'>;
  readonly #storeDuration: Histogram<'store' | 'operation'>;
  readonly #storeErrors: Counter<'store' | 'operation'>;
  readonly #children = new Map<string, Map<string, TypeChildren>>();
  readonly #reclaimedChildren = new Map<string, CounterChild>();
  readonly #workers = new Set<WorkerGaugeSource>();
  readonly #coordinators = new Map<CoordinatorGaugeSource, Store>();
  readonly #clusterTimeoutMs: number;
  readonly #logger: Logger;

  constructor(options: ConveyorMetricsOptions = {}) {
    const registry = new Registry();
    this.registry = registry;
    this.#clusterTimeoutMs = options.clusterTimeoutMs ?? DEFAULT_CLUSTER_TIMEOUT_MS;
    this.#logger = options.logger ?? silentLogger;
    if (options.processMetrics ?? true) collectDefaultMetrics({ register: registry });
    const registers = [registry];

    this.#submitted = new Counter({
      name: 'conveyor_tasks_submitted_total',
      help: 'Tasks created by this process (client submits and schedule occurrences; idempotent repeats excluded).',
      labelNames: ['queue', 'type'],
      registers,
    });
    this.#processed = new Counter({
      name: 'conveyor_tasks_processed_total',
      help: "Attempts this process's workers finished, by outcome: completed, failed (will retry), dead, cancelled, released, lease_lost.",
      labelNames: ['queue', 'type', 'outcome'],
      registers,
    });
    this.#retries = new Counter({
      name: 'conveyor_task_retries_total',
      help: 'Failed attempts after which the task was scheduled to run again (worker failures and leases reclaimed with attempts left).',
      labelNames: ['queue', 'type'],
      registers,
    });
    this.#dead = new Counter({
      name: 'conveyor_tasks_dead_total',
      help: 'Tasks that ended dead here, by reason (worker failures; lease_expired and deadline_exceeded from the leader).',
      labelNames: ['queue', 'type', 'reason'],
      registers,
    });
    this.#reclaimed = new Counter({
      name: 'conveyor_leases_reclaimed_total',
      help: 'Tasks whose lease expired and that the leader took back (retried, dead or cancelled).',
      labelNames: ['queue'],
      registers,
    });
    this.#run = new Histogram({
      name: 'conveyor_task_run_seconds',
      help: "Handler run time of each attempt this process's workers ran, by outcome.",
      labelNames: ['queue', 'type', 'outcome'],
      buckets: options.buckets?.run ?? DEFAULT_RUN_BUCKETS,
      registers,
    });
    this.#wait = new Histogram({
      name: 'conveyor_task_wait_seconds',
      help: 'Time from a task being due (runAt) to a worker claiming it, on the store clock.',
      labelNames: ['queue', 'type'],
      buckets: options.buckets?.wait ?? DEFAULT_WAIT_BUCKETS,
      registers,
    });
    this.#storeDuration = new Histogram({
      name: 'conveyor_store_call_duration_seconds',
      help: 'Duration of store calls made by this process, by operation (blocking waits are not timed).',
      labelNames: ['store', 'operation'],
      buckets: options.buckets?.storeCall ?? DEFAULT_STORE_CALL_BUCKETS,
      registers,
    });
    this.#storeErrors = new Counter({
      name: 'conveyor_store_call_errors_total',
      help: 'Store calls made by this process that failed, by operation.',
      labelNames: ['store', 'operation'],
      registers,
    });

    const workers = this.#workers;
    new Gauge({
      name: 'conveyor_worker_pool_size',
      help: "Slots in this process's worker pools now.",
      registers,
      collect() {
        let size = 0;
        for (const worker of workers) size += worker.poolSize;
        this.set(size);
      },
    });
    new Gauge({
      name: 'conveyor_worker_busy_slots',
      help: "Slots of this process's worker pools running a task now.",
      registers,
      collect() {
        let busy = 0;
        for (const worker of workers) busy += worker.running;
        this.set(busy);
      },
    });

    const leading = (): Store | undefined => this.#leadingStore();
    new Gauge({
      name: 'conveyor_coordinator_leader',
      help: "1 when this process's coordinator leads the cluster (and so exports the conveyor_queue_* gauges), else 0.",
      registers,
      collect() {
        this.set(leading() === undefined ? 0 : 1);
      },
    });
    const clusterRead = <T>(what: string, read: (store: Store) => Promise<T>): Promise<T | undefined> => this.#clusterRead(what, read);
    new Gauge({
      name: 'conveyor_queue_tasks',
      help: 'Tasks per queue and state in the whole cluster (exported by the leader only).',
      labelNames: ['queue', 'state'],
      registers,
      async collect() {
        this.reset();
        const counts = await clusterRead('countTasks', (store) => store.countTasks({}));
        for (const { queue, counts: byState } of counts ?? []) {
          for (const state of TASK_STATES) this.labels(queue, state).set(byState[state] ?? 0);
        }
      },
    });
    new Gauge({
      name: 'conveyor_queue_oldest_pending_age_seconds',
      help: "Age of each queue's longest-waiting pending task (now − its runAt), 0 when none (exported by the leader only).",
      labelNames: ['queue'],
      registers,
      async collect() {
        this.reset();
        const oldest = await clusterRead('oldestPending', (store) => store.oldestPending({}));
        const now = Date.now();
        for (const { queue, oldestRunAt } of oldest ?? []) this.labels(queue).set(oldestRunAt === null ? 0 : Math.max(0, now - oldestRunAt) / 1000);
      },
    });
  }

  /** The exposition in Prometheus text format. */
  metrics(): Promise<string> {
    return this.registry.metrics();
  }

  /** The Content-Type of `metrics()`. */
  get contentType(): string {
    return this.registry.contentType;
  }

  // ---- MetricsSink ---------------------------------------------------------------------------------

  taskSubmitted(queue: string, type: string): void {
    const c = this.#of(queue, type);
    (c.submitted ??= this.#submitted.labels(queue, type)).inc();
  }

  taskClaimed(queue: string, type: string, waitMs: number): void {
    const c = this.#of(queue, type);
    (c.wait ??= this.#wait.labels(queue, type)).observe(waitMs > 0 ? waitMs / 1000 : 0);
  }

  attemptFinished(queue: string, type: string, outcome: AttemptOutcome, runMs: number | null, deadReason: TaskErrorReason | null): void {
    const c = this.#of(queue, type);
    const i = OUTCOME_INDEX[outcome];
    (c.processed ??= this.#processedChildren(c, queue, type))[i]!.inc();
    if (runMs !== null) (c.run[i] ??= this.#run.labels(queue, type, outcome)).observe(runMs > 0 ? runMs / 1000 : 0);
    if (outcome === 'failed') this.#retriesOf(c, queue, type).inc();
    else if (outcome === 'dead') this.#deadOf(c, queue, type, deadReason ?? 'error').inc();
  }

  leaseReclaimed(queue: string, type: string, became: ReclaimOutcome): void {
    let reclaimed = this.#reclaimedChildren.get(queue);
    if (reclaimed === undefined) {
      reclaimed = this.#reclaimed.labels(queue);
      this.#reclaimedChildren.set(queue, reclaimed);
    }
    reclaimed.inc();
    const c = this.#of(queue, type);
    if (became === 'retried') this.#retriesOf(c, queue, type).inc();
    else if (became === 'dead') this.#deadOf(c, queue, type, 'lease_expired').inc();
  }

  deadlineExpired(queue: string, type: string): void {
    this.#deadOf(this.#of(queue, type), queue, type, 'deadline_exceeded').inc();
  }

  trackWorker(worker: WorkerGaugeSource): () => void {
    this.#workers.add(worker);
    return () => {
      this.#workers.delete(worker);
    };
  }

  trackCoordinator(coordinator: CoordinatorGaugeSource, store: Store): () => void {
    this.#coordinators.set(coordinator, store);
    return () => {
      this.#coordinators.delete(coordinator);
    };
  }

  // ---- StoreCallMetrics ----------------------------------------------------------------------------

  storeCall(store: string, operation: string): StoreCallRecorder {
    const duration = this.#storeDuration.labels(store, operation);
    const errors = this.#storeErrors.labels(store, operation);
    errors.inc(0); // present from the start, so an error ratio has a denominator series to divide
    return {
      record(seconds, failed) {
        if (seconds !== null) duration.observe(seconds);
        if (failed) errors.inc();
      },
    };
  }

  // ---- internals ---------------------------------------------------------------------------------

  #of(queue: string, type: string): TypeChildren {
    let byType = this.#children.get(queue);
    if (byType === undefined) {
      byType = new Map();
      this.#children.set(queue, byType);
    }
    let c = byType.get(type);
    if (c === undefined) {
      c = { submitted: undefined, wait: undefined, retries: undefined, processed: undefined, run: [], dead: new Map() };
      byType.set(type, c);
    }
    return c;
  }

  /**
   * Every outcome's series, and the retries', at 0 from the first attempt of a (queue, type) on, so
   * that `rate()` and `increase()` see the first event of each (a series born at 1 hides it).
   */
  #processedChildren(c: TypeChildren, queue: string, type: string): CounterChild[] {
    this.#retriesOf(c, queue, type).inc(0);
    return ATTEMPT_OUTCOMES.map((outcome) => {
      const child = this.#processed.labels(queue, type, outcome);
      child.inc(0);
      return child;
    });
  }

  #retriesOf(c: TypeChildren, queue: string, type: string): CounterChild {
    return (c.retries ??= this.#retries.labels(queue, type));
  }

  #deadOf(c: TypeChildren, queue: string, type: string, reason: string): CounterChild {
    let child = c.dead.get(reason);
    if (child === undefined) {
      child = this.#dead.labels(queue, type, reason);
      c.dead.set(reason, child);
    }
    return child;
  }

  /** The store of a coordinator of this process that leads now, if any. */
  #leadingStore(): Store | undefined {
    for (const [coordinator, store] of this.#coordinators) if (coordinator.isLeader) return store;
    return undefined;
  }

  /** A cluster read for a scrape: undefined when this node does not lead, or the store failed or was slow. */
  async #clusterRead<T>(what: string, read: (store: Store) => Promise<T>): Promise<T | undefined> {
    const store = this.#leadingStore();
    if (store === undefined) return undefined;
    let timer: NodeJS.Timeout | undefined;
    try {
      return await Promise.race([
        read(store),
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new Error(`no answer within ${this.#clusterTimeoutMs} ms`)), this.#clusterTimeoutMs);
          timer.unref();
        }),
      ]);
    } catch (err) {
      this.#logger.warn({ err, operation: what }, 'metrics: could not read the cluster gauges from the store; left out of this scrape');
      return undefined;
    } finally {
      clearTimeout(timer);
    }
  }
}

/** A metrics object for one node; see ConveyorMetrics. */
export function createMetrics(options: ConveyorMetricsOptions = {}): ConveyorMetrics {
  return new ConveyorMetrics(options);
}
