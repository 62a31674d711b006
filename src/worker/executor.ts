import { retryDelayMs } from '../retry/retry-policy.js';
import type { FinishItem, FinishOutcome, LeaseRef, Store } from '../store/store.js';
import type { ClaimedTask, JsonValue } from '../types.js';
import type { Completer } from './completer.js';
import type { HandlerAbortReason, Logger } from './handlers.js';
import type { LeaseKeeper } from './lease-keeper.js';
import type { RunOutcome, TaskRunner } from './runner.js';

export interface ExecutorDeps {
  store: Store;
  runner: TaskRunner;
  completer: Completer;
  leaseKeeper: LeaseKeeper;
  logger: Logger;
}

/** A running attempt, as the worker sees it: it can be aborted (shutdown). */
export interface RunningTask {
  task: ClaimedTask;
  abort(reason: HandlerAbortReason): void;
  /** Settles once the outcome is handed to the completer (not necessarily written yet). */
  done: Promise<void>;
}

/**
 * Runs one attempt: builds the handler's context, arms the timeout and deadline, lets the lease
 * keeper abort it (lost lease, cancel request), runs the handler through the runner, and turns
 * what happened into one outcome for the completer:
 *
 *   handler returned         → complete (the result)
 *   handler threw            → fail; retry at the task's backoff, or dead (no attempt left, permanent)
 *   no handler for the type  → fail (reason no_handler), retried: another worker may have one
 *   aborted: timeout         → fail (reason timeout)
 *   aborted: deadline        → fail, permanent (reason deadline_exceeded)
 *   aborted: cancelled       → cancel (the task ends cancelled)
 *   aborted: shutdown        → release (the attempt is given back)
 *   aborted: lease_lost      → nothing: the task is someone else's now
 */
export class Executor {
  readonly #deps: ExecutorDeps;

  constructor(deps: ExecutorDeps) {
    this.#deps = deps;
  }

  start(task: ClaimedTask): RunningTask {
    const controller = new AbortController();
    const abort = (reason: HandlerAbortReason): void => {
      if (!controller.signal.aborted) controller.abort(reason);
    };
    return { task, abort, done: this.#run(task, controller.signal, abort) };
  }

  async #run(task: ClaimedTask, signal: AbortSignal, abort: (reason: HandlerAbortReason) => void): Promise<void> {
    const { runner, completer, leaseKeeper } = this.#deps;
    const lease: LeaseRef = { id: task.id, queue: task.queue, token: task.leaseToken };
    const logger = this.#deps.logger.child({ taskId: task.id, queue: task.queue, type: task.type, attempt: task.attempt });
    leaseKeeper.hold({
      lease,
      expiresAt: task.leaseExpiresAt,
      onLost: () => abort('lease_lost'),
      onCancelRequested: () => abort('cancelled'),
    });
    const timers = armTimers(task, abort);
    const startedAt = Date.now();
    let outcome: RunOutcome;
    try {
      const dependencies = await this.#dependencies(task);
      outcome = signal.aborted
        ? { status: 'aborted' }
        : await runner.run(task, { signal, attempt: task.attempt, dependencies, logger, onProgress: (value) => leaseKeeper.progress(task.id, value) });
    } catch (err) {
      outcome = { status: 'failed', error: errorFields(err, 'could not read the results of its dependencies'), permanent: false };
    } finally {
      for (const timer of timers) clearTimeout(timer);
    }

    const reason = signal.aborted ? (signal.reason as HandlerAbortReason) : undefined;
    const item = finishItem(task, lease, outcome, reason, Date.now() - startedAt);
    if (item === undefined) {
      leaseKeeper.release(task.id);
      logger.warn({ reason }, 'attempt abandoned: its lease was lost, so its outcome is not written');
      return;
    }
    if (item.outcome === 'complete' || item.outcome === 'fail') await leaseKeeper.flushProgress(task.id);
    // The lease stays renewed until the outcome is written.
    const ranMs = Date.now() - startedAt;
    void completer.finish(item).then((written) => {
      leaseKeeper.release(task.id);
      logOutcome(logger, item, written, ranMs);
    });
  }

  async #dependencies(task: ClaimedTask): Promise<Record<string, JsonValue | null>> {
    if (task.dependsOn.length === 0) return {};
    const found = await this.#deps.store.getTasks({ ids: task.dependsOn });
    return Object.fromEntries(task.dependsOn.map((id, i) => [id, found[i]?.result ?? null]));
  }
}

/** One line per attempt outcome, at the level an operator needs it. */
function logOutcome(logger: Logger, item: FinishItem, written: FinishOutcome, durationMs: number): void {
  const error = item.outcome === 'fail' ? { reason: item.error.reason, message: item.error.message } : undefined;
  switch (written) {
    case 'completed':
      logger.debug({ durationMs }, 'task completed');
      return;
    case 'scheduled':
    case 'pending':
      if (item.outcome === 'release') logger.info({ durationMs }, 'task released: its attempt is given back');
      else logger.warn({ durationMs, error }, 'attempt failed; the task will be retried');
      return;
    case 'dead':
      logger.error({ durationMs, error }, 'task is dead: no attempt left (dead-letter queue)');
      return;
    case 'cancelled':
      logger.info({ durationMs }, 'task cancelled');
      return;
    case 'lease_lost':
      logger.warn({ outcome: item.outcome }, 'outcome refused: the lease was lost before it was written');
  }
}

function armTimers(task: ClaimedTask, abort: (reason: HandlerAbortReason) => void): NodeJS.Timeout[] {
  const timers: NodeJS.Timeout[] = [];
  if (task.timeoutMs !== null) timers.push(setTimeout(() => abort('timeout'), task.timeoutMs));
  if (task.deadline !== null) {
    // setTimeout's ceiling is ~24.8 days; a later deadline is the store's to enforce.
    const inMs = task.deadline - Date.now();
    if (inMs < 2 ** 31 - 1) timers.push(setTimeout(() => abort('deadline'), Math.max(0, inMs)));
  }
  return timers;
}

function finishItem(task: ClaimedTask, lease: LeaseRef, outcome: RunOutcome, reason: HandlerAbortReason | undefined, ranMs: number): FinishItem | undefined {
  const retry = retryDelayMs(task.backoff, task.attempt);
  switch (reason) {
    case 'lease_lost':
      return undefined;
    case 'shutdown':
      return { ...lease, outcome: 'release' };
    case 'cancelled':
      return { ...lease, outcome: 'cancel' };
    case 'timeout':
      return { ...lease, outcome: 'fail', error: { reason: 'timeout', message: `timed out after ${task.timeoutMs} ms` }, retryDelayMs: retry };
    case 'deadline':
      return {
        ...lease,
        outcome: 'fail',
        error: { reason: 'deadline_exceeded', message: `deadline passed after ${ranMs} ms of this attempt` },
        retryDelayMs: 0,
        permanent: true,
      };
    default:
      break;
  }
  if (outcome.status === 'completed') return { ...lease, outcome: 'complete', result: outcome.result };
  if (outcome.status === 'failed') {
    return {
      ...lease,
      outcome: 'fail',
      error: { reason: outcome.noHandler ? 'no_handler' : 'error', ...outcome.error },
      // The handler's own delay (Retry-After) over the backoff; the store still applies the deadline.
      retryDelayMs: outcome.retryAfterMs ?? retry,
      permanent: outcome.permanent,
    };
  }
  // Aborted without a reason we set cannot happen; give the attempt back rather than guess.
  return { ...lease, outcome: 'release' };
}

function errorFields(err: unknown, context: string): { name?: string; message: string; stack?: string } {
  if (err instanceof Error) return { name: err.name, message: `${context}: ${err.message}`, ...(err.stack ? { stack: err.stack } : {}) };
  return { message: `${context}: ${String(err)}` };
}
