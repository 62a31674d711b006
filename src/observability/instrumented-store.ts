/**
 * The one place store calls are timed: `instrumentStore(store, metrics)` returns a `Store` that
 * forwards every method to `store` (and `kind`, `capabilities`) and records each call's duration in
 * `conveyor_store_call_duration_seconds{store, operation}` and each failure (a rejection or a throw)
 * in `conveyor_store_call_errors_total{store, operation}`. Nothing else in Conveyor times store
 * calls: the CLI wraps the store it opens for a node, so the API, the worker and the coordinator of
 * that node all go through the wrapper; library users wrap their own store the same way.
 *
 * Decisions:
 * - Failed calls are timed too (a call that fails after a 5 s timeout is a 5 s call).
 * - Calls that block by design are not timed, only their failures are counted: `waitForWork` (an
 *   idle worker waiting for work) and `readEvents` with `blockMs` > 0 (a reader waiting for events).
 *   Their duration says how idle the cluster is, not how fast the store is, and would swamp the
 *   latency quantiles.
 * - The list of operations is checked against the `Store` interface at compile time: a method
 *   added to `Store` fails the type check here until it is forwarded, so none goes untimed.
 * - A recorder (histogram child and error counter child) is made once per operation when the
 *   store is wrapped; a call costs two `performance.now()` and one observation.
 * - Wrapping a wrapped store again for the same metrics returns it as is.
 */
import { performance } from 'node:perf_hooks';
import type { Store } from '../store/store.js';
import type { StoreCallMetrics, StoreCallRecorder } from './metrics.js';

/** The names of the Store's methods. */
export type StoreOperation = { [K in keyof Store]-?: Store[K] extends (...args: never[]) => unknown ? K : never }[keyof Store];

/** Every operation, each once; `satisfies` makes the compiler name a missing or unknown one. */
const OPERATIONS = {
  migrate: true,
  close: true,
  insertTasks: true,
  claimTasks: true,
  renewLeases: true,
  startTasks: true,
  stealTasks: true,
  finishTasks: true,
  waitForWork: true,
  promoteDueTasks: true,
  reclaimExpiredLeases: true,
  expireDeadlines: true,
  deleteFinishedTasks: true,
  getTasks: true,
  listTasks: true,
  countTasks: true,
  oldestPending: true,
  findTasksByKey: true,
  dependentsOf: true,
  cancelTasks: true,
  retryTasks: true,
  listQueues: true,
  setQueuePaused: true,
  readEvents: true,
  recordWorkerHeartbeat: true,
  removeWorker: true,
  listWorkers: true,
  deleteStaleWorkers: true,
  upsertSchedules: true,
  deleteSchedules: true,
  listSchedules: true,
  advanceSchedule: true,
  acquireLeadership: true,
  renewLeadership: true,
  resignLeadership: true,
  getLeader: true,
} as const satisfies Record<StoreOperation, true>;

export const STORE_OPERATIONS = Object.keys(OPERATIONS) as StoreOperation[];

/** Whether a call of `operation` with `params` blocks by design (only its failures are counted). */
function blocks(operation: StoreOperation, params: unknown): boolean {
  if (operation === 'waitForWork') return true;
  if (operation === 'readEvents') return ((params as { blockMs?: number } | undefined)?.blockMs ?? 0) > 0;
  return false;
}

const WRAPPED = Symbol('conveyor.instrumentedStore');

interface Wrapped {
  [WRAPPED]?: { inner: Store; metrics: StoreCallMetrics };
}

/** A Store that times every call of `store` into `metrics` (see the module comment). */
export function instrumentStore(store: Store, metrics: StoreCallMetrics): Store {
  const already = (store as Wrapped)[WRAPPED];
  if (already !== undefined && already.metrics === metrics) return store;

  const wrapper: Record<string | symbol, unknown> = {};
  Object.defineProperties(wrapper, {
    kind: { get: () => store.kind, enumerable: true },
    capabilities: { get: () => store.capabilities, enumerable: true },
    [WRAPPED]: { value: { inner: store, metrics } },
  });
  for (const operation of STORE_OPERATIONS) {
    wrapper[operation] = timed(store, operation, metrics.storeCall(store.kind, operation));
  }
  return wrapper as unknown as Store;
}

/** The store under an instrumented one (or the store itself). */
export function uninstrumented(store: Store): Store {
  return (store as Wrapped)[WRAPPED]?.inner ?? store;
}

function timed(store: Store, operation: StoreOperation, recorder: StoreCallRecorder): (...args: unknown[]) => Promise<unknown> {
  return function call(...args: unknown[]): Promise<unknown> {
    // Looked up per call, as a direct call would: a store that patches a method later still gets it.
    const method = (store as unknown as Record<string, unknown>)[operation];
    if (typeof method !== 'function') {
      recorder.record(null, true);
      return Promise.reject(new TypeError(`the ${store.kind} store has no ${operation}()`));
    }
    const blocking = blocks(operation, args[0]);
    const started = blocking ? 0 : performance.now();
    let result: Promise<unknown>;
    try {
      result = (method as (...a: unknown[]) => Promise<unknown>).apply(store, args);
    } catch (err) {
      recorder.record(blocking ? null : (performance.now() - started) / 1000, true);
      throw err;
    }
    return result.then(
      (value) => {
        if (!blocking) recorder.record((performance.now() - started) / 1000, false);
        return value;
      },
      (err: unknown) => {
        recorder.record(blocking ? null : (performance.now() - started) / 1000, true);
        throw err;
      },
    );
  };
}
