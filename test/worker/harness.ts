/**
 * The worker behaviour tests' harness: every test gets a fresh store of each kind (a SQLite file in
 * a fresh folder; a fresh key prefix on the redis-server of the global setup), workers that are
 * always stopped after the test, and helpers to submit tasks, wait for their states, and watch or
 * break the store the worker talks to (a recording Proxy).
 *
 * Real time throughout: the worker runs on the store's clock, so leases, timeouts and grace periods
 * are kept short and every timing assertion has a generous bound.
 */
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, inject, onTestFinished } from 'vitest';
import { parseSubmitTask, type SubmitTaskOptions } from '../../src/schemas.js';
import { createRedisStore } from '../../src/store/redis/redis-store.js';
import { createSqliteStore } from '../../src/store/sqlite/sqlite-store.js';
import type { Store, StoreKind } from '../../src/store/store.js';
import type { Task, TaskState } from '../../src/types.js';
import type { Handlers } from '../../src/worker/handlers.js';
import { Worker, type WorkerOptions } from '../../src/worker/worker.js';
import fixtureHandlers from '../fixtures/handlers.js';
import { HANDLERS_MODULE } from '../fixtures/run-context.js';
import { eventually } from '../helpers/eventually.js';
import { deleteKeysWithPrefix } from '../helpers/redis-server.js';

export { HANDLERS_MODULE };
export const STORE_KINDS: readonly StoreKind[] = ['sqlite', 'redis'];

/** The fixtures' handlers (test/fixtures/handlers.ts), in-process. */
export const FIXTURE_HANDLERS: Handlers = fixtureHandlers;

/** Short enough that a test sees several renewals (every third: 500 ms) in a second or two. */
export const TEST_LEASE_MS = 1_500;
/** A retry policy that does not make tests wait: 10 ms between attempts, no jitter. */
export const TINY_BACKOFF = { type: 'fixed', delay: 10, jitter: 0 } as const;

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

// ---- stores -----------------------------------------------------------------------------------------

interface OpenedStore {
  store: Store;
  cleanup(): Promise<void>;
}

async function openStore(kind: StoreKind): Promise<OpenedStore> {
  if (kind === 'sqlite') {
    const dir = await mkdtemp(join(tmpdir(), 'conveyor-worker-'));
    const store = createSqliteStore({ path: join(dir, 'conveyor.db') });
    await store.migrate();
    return {
      store,
      cleanup: async () => {
        await store.close();
        await rm(dir, { recursive: true, force: true });
      },
    };
  }
  const url = inject('redisUrl');
  const prefix = `w${randomUUID().slice(0, 8)}`;
  const store = createRedisStore({ url, prefix });
  await store.migrate();
  return {
    store,
    cleanup: async () => {
      await store.close();
      await deleteKeysWithPrefix(url, prefix);
    },
  };
}

// ---- a recording, breakable store ------------------------------------------------------------------

type StoreMethod = {
  [K in keyof Store]: Store[K] extends (...args: never[]) => unknown ? K : never;
}[keyof Store];
type ParamsOf<K extends StoreMethod> = Parameters<Store[K]>[0];

export interface StoreCall<K extends StoreMethod = StoreMethod> {
  method: K;
  params: ParamsOf<K>;
  /** Date.now() when the call was made. */
  at: number;
  /** Set when the call was made to fail by the spy. */
  failed: boolean;
}

/**
 * Wraps a store in a Proxy that records every method call, and can make chosen calls fail or
 * wait. Methods are called on the real store (its private fields need the real `this`).
 */
export interface StoreSpy {
  store: Store;
  calls: StoreCall[];
  callsOf<K extends StoreMethod>(method: K): StoreCall<K>[];
  /** The next `times` calls of `method` reject (without reaching the store). */
  failNext(method: StoreMethod, times: number): void;
  /** Calls of `method` reject while `predicate()` is true. */
  failWhile(method: StoreMethod, predicate: () => boolean): void;
  /** Calls of `method` wait for `gate` before they reach the store. */
  holdUntil(method: StoreMethod, gate: Promise<unknown>): void;
  /** Calls of `method` resolve to `value` without reaching the store. */
  replace<K extends StoreMethod>(method: K, value: Awaited<ReturnType<Store[K]>>): void;
}

export function spyStore(store: Store): StoreSpy {
  const calls: StoreCall[] = [];
  const failCounts = new Map<string, number>();
  const failPredicates = new Map<string, () => boolean>();
  const gates = new Map<string, Promise<unknown>>();
  const replacements = new Map<string, unknown>();

  const proxy = new Proxy(store, {
    get(target, prop, _receiver) {
      const value: unknown = Reflect.get(target, prop, target);
      if (typeof value !== 'function' || typeof prop !== 'string') return value;
      const method = prop as StoreMethod;
      return async (params: unknown) => {
        const call = { method, params, at: Date.now(), failed: false } as StoreCall;
        calls.push(call);
        const gate = gates.get(method);
        if (gate) await gate;
        const left = failCounts.get(method) ?? 0;
        if (left > 0 || failPredicates.get(method)?.() === true) {
          if (left > 0) failCounts.set(method, left - 1);
          call.failed = true;
          throw new Error(`store spy: ${method} made to fail by the test`);
        }
        if (replacements.has(method)) return replacements.get(method);
        return (value as (p: unknown) => Promise<unknown>).call(target, params);
      };
    },
  });

  return {
    store: proxy,
    calls,
    callsOf: <K extends StoreMethod>(method: K) => calls.filter((call): call is StoreCall<K> => call.method === method),
    failNext: (method, times) => void failCounts.set(method, times),
    failWhile: (method, predicate) => void failPredicates.set(method, predicate),
    holdUntil: (method, gate) => void gates.set(method, gate),
    replace: (method, value) => void replacements.set(method, value),
  };
}

// ---- the per-test harness --------------------------------------------------------------------------

export type TestWorkerOptions = Partial<WorkerOptions>;

export interface WaitOptions {
  timeoutMs?: number;
  intervalMs?: number;
}

/** One test's store and workers; everything is stopped and closed when the test ends. */
export class WorkerTest {
  readonly kind: StoreKind;
  /** The real store (tests read and write it directly; workers may get a spy of it). */
  readonly store: Store;
  readonly #workers: Worker[] = [];
  readonly #loops: { stop(): Promise<void> }[] = [];

  constructor(kind: StoreKind, store: Store) {
    this.kind = kind;
    this.store = store;
  }

  /**
   * A worker on this test's store (or `options.store`), with test-friendly defaults: the fixture
   * handlers in-process, a short lease and grace. Not started; stopped after the test.
   */
  worker(options: TestWorkerOptions = {}): Worker {
    const withHandlers = options.handlers !== undefined || options.handlersModule !== undefined;
    const worker = new Worker({
      leaseMs: TEST_LEASE_MS,
      shutdownGraceMs: 2_000,
      ...(withHandlers ? {} : { handlers: FIXTURE_HANDLERS }),
      ...options,
      store: options.store ?? this.store,
    });
    this.#workers.push(worker);
    return worker;
  }

  /** `worker(options)`, started. */
  async startWorker(options: TestWorkerOptions = {}): Promise<Worker> {
    const worker = this.worker(options);
    await worker.start();
    return worker;
  }

  /** Validates each task as a client would (`parseSubmitTask`) and inserts them in one call. */
  async submit(...inputs: SubmitTaskOptions[]): Promise<Task[]> {
    const now = Date.now();
    const tasks = inputs.map((input) => parseSubmitTask(input, now));
    const { items } = await this.store.insertTasks({ tasks });
    return items.map((item) => item.task);
  }

  /** `count` copies of one task. */
  submitMany(count: number, input: SubmitTaskOptions): Promise<Task[]> {
    return this.submit(...Array.from({ length: count }, () => input));
  }

  async getTask(id: string): Promise<Task> {
    return (await this.getTasks([id]))[0]!;
  }

  async getTasks(ids: string[]): Promise<Task[]> {
    const found = await this.store.getTasks({ ids });
    return found.map((task, i) => {
      if (task === null) throw new Error(`the store has no task ${ids[i]}`);
      return task;
    });
  }

  /**
   * Polls the store until every task is in one of `states`; returns them. On timeout the error
   * lists where each task is.
   */
  async waitForStates(ids: string[], states: TaskState | TaskState[], { timeoutMs = 15_000, intervalMs = 20 }: WaitOptions = {}): Promise<Task[]> {
    const wanted = Array.isArray(states) ? states : [states];
    return this.waitForTasks(ids, (task) => wanted.includes(task.state), `in state ${wanted.join(' or ')}`, { timeoutMs, intervalMs });
  }

  async waitForState(id: string, states: TaskState | TaskState[], options?: WaitOptions): Promise<Task> {
    return (await this.waitForStates([id], states, options))[0]!;
  }

  /** Polls the store until `predicate` holds for every task; returns them. */
  async waitForTasks(ids: string[], predicate: (task: Task) => boolean, what = 'to match', { timeoutMs = 15_000, intervalMs = 20 }: WaitOptions = {}): Promise<Task[]> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const tasks = await this.getTasks(ids);
      if (tasks.every(predicate)) return tasks;
      if (Date.now() >= deadline) {
        const where = tasks
          .filter((task) => !predicate(task))
          .slice(0, 10)
          .map((task) => `${task.id} (${task.type}): ${task.state}, attempt ${task.attempt}, error ${task.error?.reason ?? 'none'}`);
        throw new Error(`after ${timeoutMs} ms, ${where.length} of ${ids.length} tasks are not ${what}:\n  ${where.join('\n  ')}`);
      }
      await sleep(intervalMs);
    }
  }

  /** Runs `fn` every `intervalMs` (after the previous run settles) until the test ends or `stop()`. */
  every(intervalMs: number, fn: () => Promise<unknown>): { stop(): Promise<void> } {
    let stopped = false;
    let wake: (() => void) | undefined;
    const done = (async () => {
      while (!stopped) {
        await fn();
        await new Promise<void>((resolve) => {
          wake = resolve;
          setTimeout(resolve, intervalMs);
        });
      }
    })();
    const loop = {
      stop: async () => {
        stopped = true;
        wake?.();
        await done;
      },
    };
    this.#loops.push(loop);
    return loop;
  }

  /** Stops every background loop and worker (never leaves one running), then the store goes. */
  async cleanup(): Promise<void> {
    const errors: unknown[] = [];
    await Promise.all(this.#loops.splice(0).map((loop) => loop.stop().catch((err: unknown) => errors.push(err))));
    await Promise.all(
      this.#workers.splice(0).map((worker) =>
        withTimeout(worker.stop(0), 20_000, `worker ${worker.id} did not stop within 20 s`).catch((err: unknown) => errors.push(err)),
      ),
    );
    if (errors.length > 0) throw new AggregateError(errors, 'worker test cleanup failed');
  }
}

async function withTimeout<T>(promise: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(message)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** Opens a fresh store of `kind` for the running test; its workers and store go when it ends. */
export async function openWorkerTest(kind: StoreKind): Promise<WorkerTest> {
  const opened = await openStore(kind);
  const test = new WorkerTest(kind, opened.store);
  onTestFinished(async () => {
    try {
      await test.cleanup();
    } finally {
      await opened.cleanup();
    }
  });
  return test;
}

/**
 * Registers the same tests once per store: `describe(title)` › `describe(kind)`. Each test calls
 * `setup()` to get its own fresh store.
 */
export function describeForEachStore(title: string, fn: (setup: () => Promise<WorkerTest>, kind: StoreKind) => void): void {
  describe(title, () => {
    for (const kind of STORE_KINDS) {
      describe(kind, () => fn(() => openWorkerTest(kind), kind));
    }
  });
}

/** Polls `fn` until it returns true. */
export async function waitUntil(fn: () => boolean | Promise<boolean>, what: string, { timeoutMs = 15_000, intervalMs = 10 }: WaitOptions = {}): Promise<void> {
  await eventually(
    async () => {
      if (!(await fn())) throw new Error(`timed out after ${timeoutMs} ms waiting until ${what}`);
    },
    { timeoutMs, intervalMs },
  );
}
