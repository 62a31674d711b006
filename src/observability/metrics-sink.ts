/**
 * What the core (client, worker, coordinator) tells about what happened, for metrics. The core
 * depends on this small interface only, never on prom-client: `ConveyorMetrics`
 * (src/observability/metrics.ts) implements it with Prometheus counters, histograms and gauges;
 * an absent sink (the default) costs one `undefined` check per event.
 *
 * Every method is called where the thing happens, once per event, in the process where it happens
 * (a worker's attempts in that worker, a submit in the process that inserted it, a reclaim in the
 * leader), so counters of several processes add up to the cluster's without double counting.
 * Implementations must be cheap and must not throw: they run on the worker's hot path.
 *
 * This module imports types only.
 */
import type { FinishItem, FinishOutcome, Store } from '../store/store.js';
import type { Task, TaskErrorReason } from '../types.js';

/**
 * How one attempt ended, as the store recorded it (`conveyor_tasks_processed_total{outcome}`):
 *
 * - `completed`: the handler returned; the result is stored.
 * - `failed`: the attempt failed and the task will run again (a retry is scheduled).
 * - `dead`: the attempt failed and no attempt is left, or the failure was permanent.
 * - `cancelled`: the attempt stopped because a cancel was asked for.
 * - `released`: the attempt was given back without being spent (shutdown; a prefetched task
 *   handed back unrun).
 * - `lease_lost`: the lease was lost (expired and reclaimed, or stolen) before the outcome was
 *   written: the store refused it, and the task is another claim's now.
 */
export type AttemptOutcome = 'completed' | 'failed' | 'dead' | 'cancelled' | 'released' | 'lease_lost';
export const ATTEMPT_OUTCOMES = ['completed', 'failed', 'dead', 'cancelled', 'released', 'lease_lost'] as const satisfies readonly AttemptOutcome[];

/** What became of a task whose lease expired and that the leader took back. */
export type ReclaimOutcome = 'retried' | 'dead' | 'cancelled';

/** What a worker exposes for the pool gauges (read at scrape time, not per task). */
export interface WorkerGaugeSource {
  /** Slots in the pool now. */
  readonly poolSize: number;
  /** Slots busy running a task now. */
  readonly running: number;
}

/** What a coordinator exposes so that only the leader reports the cluster-wide gauges. */
export interface CoordinatorGaugeSource {
  readonly isLeader: boolean;
}

export interface MetricsSink {
  /** The store created a task (a client submit or a schedule occurrence; not an idempotent repeat). */
  taskSubmitted(queue: string, type: string): void;
  /** A worker claimed a task that had been due for `waitMs` (claim time − `runAt`, on the store's clock). */
  taskClaimed(queue: string, type: string, waitMs: number): void;
  /**
   * A worker's attempt ended. `runMs`: how long the handler ran (null when the task was handed back
   * without running, e.g. a prefetched task released at shutdown). `deadReason`: for `dead`, why.
   */
  attemptFinished(queue: string, type: string, outcome: AttemptOutcome, runMs: number | null, deadReason: TaskErrorReason | null): void;
  /** The leader took back a task whose lease had expired. */
  leaseReclaimed(queue: string, type: string, became: ReclaimOutcome): void;
  /** The leader ended a task past its deadline (`dead`, reason `deadline_exceeded`). */
  deadlineExpired(queue: string, type: string): void;
  /** A worker started: its pool is read at scrape time. Call the returned function when it stops. */
  trackWorker(worker: WorkerGaugeSource): () => void;
  /**
   * A coordinator started: while it leads, the cluster gauges (tasks per queue and state, oldest
   * pending age) are read from `store` at scrape time. Call the returned function when it stops.
   */
  trackCoordinator(coordinator: CoordinatorGaugeSource, store: Store): () => void;
}

/** The attempt outcome of a worker's finish item, from what the store answered. */
export function attemptOutcome(sent: FinishItem['outcome'], written: FinishOutcome): AttemptOutcome {
  switch (written) {
    case 'completed':
    case 'dead':
    case 'cancelled':
    case 'lease_lost':
      return written;
    case 'scheduled':
    case 'pending':
      // Back in the queue: a failed attempt to be retried, or an attempt given back.
      return sent === 'release' ? 'released' : 'failed';
  }
}

/**
 * Why a failed attempt that the store wrote `dead` ended the task. The store decides `dead` when no
 * attempt is left, when the failure is permanent, or when the retry would land after the task's
 * deadline (then the reason is `deadline_exceeded`, which the worker did not send): the last case
 * is the only one where attempts were left on a non-permanent failure.
 */
export function deadReason(task: Pick<Task, 'attempt' | 'maxAttempts' | 'deadline'>, item: FinishItem): TaskErrorReason {
  // Only a failure ends `dead`; anything else here would be a store's bug, counted as an error.
  if (item.outcome !== 'fail') return 'error';
  if (item.error.reason === 'deadline_exceeded') return 'deadline_exceeded';
  if (!item.permanent && task.attempt < task.maxAttempts && task.deadline !== null) return 'deadline_exceeded';
  return item.error.reason;
}
