/**
 * Prometheus metrics (docs/reference/metrics.md).
 *
 * End to end, over real HTTP against real processes: 500 tasks submitted through the API (some
 * failing for good, some failing once and then succeeding, some failing until they die, the rest
 * succeeding, plus idempotent repeats that must not count), `/metrics` scraped while they run
 * (it must answer, and counters only grow) and after they finished, where every counter must equal
 * exactly what happened and `conveyor_queue_tasks` must equal `GET /api/v1/stats`:
 *
 * - standalone: one `conveyor start` on a SQLite file (the one node exports everything);
 * - distributed: `conveyor server` + `conveyor worker --metrics-port 0` on the private Redis: the
 *   server counts the submits and exports the cluster gauges, the worker counts the attempts, and
 *   the sums over both scrapes are the cluster's.
 *
 * In-process: the store wrapper (every method forwarded, timed, failures counted, blocking waits
 * not timed), the leader-only cluster gauges, the leader's reclaimed leases and deadline deaths,
 * and `/metrics` on an app built without metrics.
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { createClient } from '../../src/client/client.js';
import { createCoordinator } from '../../src/coordinator/coordinator.js';
import { buildHttpApp } from '../../src/http/app.js';
import { instrumentStore, STORE_OPERATIONS } from '../../src/observability/instrumented-store.js';
import { ConveyorMetrics } from '../../src/observability/metrics.js';
import { parseSubmitTask } from '../../src/schemas.js';
import { createSqliteStore } from '../../src/store/sqlite/sqlite-store.js';
import type { Store } from '../../src/store/store.js';
import { TASK_STATES } from '../../src/types.js';
import { killAll, spawnCli, type CliProcess } from '../cli/cli-process.js';
import { eventually } from '../helpers/eventually.js';
import { deleteKeysWithPrefix } from '../helpers/redis-server.js';

const HANDLERS = fileURLToPath(new URL('./handlers.js', import.meta.url));
const TOTAL = 500;
const QUEUES = ['default', 'mail'] as const;
const OUTCOMES = ['completed', 'failed', 'dead', 'cancelled', 'released', 'lease_lost'] as const;
const TINY_BACKOFF = { type: 'fixed', delay: 10, jitter: 0 } as const;

afterAll(async () => {
  await killAll();
});

// ---- the exposition --------------------------------------------------------------------------------

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** The samples of a Prometheus text exposition (no timestamps in ours). */
function parseExposition(text: string): Sample[] {
  const samples: Sample[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const match = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!match) throw new Error(`not an exposition line: ${line}`);
    const labels: Record<string, string> = {};
    for (const [, key, value] of (match[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[key!] = value!.replace(/\\(.)/g, '$1');
    samples.push({ name: match[1]!, labels, value: Number(match[3]) });
  }
  return samples;
}

/** The sum of the samples named `name` whose labels include `match`. */
function total(samples: readonly Sample[], name: string, match: Record<string, string> = {}): number {
  return samples
    .filter((s) => s.name === name && Object.entries(match).every(([k, v]) => s.labels[k] === v))
    .reduce((sum, s) => sum + s.value, 0);
}

function has(samples: readonly Sample[], name: string): boolean {
  return samples.some((s) => s.name === name);
}

async function scrape(url: string): Promise<Sample[]> {
  const response = await fetch(url);
  const text = await response.text();
  expect(response.status, text).toBe(200);
  expect(response.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
  return parseExposition(text);
}

// ---- the workload --------------------------------------------------------------------------------

type Kind = 'ok' | 'flaky' | 'doomed' | 'exhausted';

interface Planned {
  queue: (typeof QUEUES)[number];
  type: Kind;
  body: Record<string, unknown>;
}

/**
 * 500 tasks over two queues: 50 `doomed` (a permanent failure: dead at the first attempt), 25
 * `exhausted` (one retry, failing both attempts: failed, then dead), 100 `flaky` (fails the first
 * attempt, completes the second), 325 `ok`; the first 10 `ok` carry an idempotency key.
 */
function plan(): Planned[] {
  const tasks: Planned[] = [];
  for (let i = 0; i < TOTAL; i++) {
    const type: Kind = i < 50 ? 'doomed' : i < 75 ? 'exhausted' : i < 175 ? 'flaky' : 'ok';
    const queue = QUEUES[i % 2]!;
    const body: Record<string, unknown> = { type, queue, payload: { n: i }, backoff: TINY_BACKOFF, retries: type === 'exhausted' ? 1 : 3 };
    if (type === 'ok' && i < 185) body.key = `key-${i}`;
    tasks.push({ queue, type, body });
  }
  return tasks;
}

/** What each (queue, type) must have counted once every task finished. */
function expectations(tasks: readonly Planned[]) {
  const per = new Map<string, { queue: string; type: Kind; n: number }>();
  for (const t of tasks) {
    const key = `${t.queue}/${t.type}`;
    const entry = per.get(key) ?? { queue: t.queue, type: t.type, n: 0 };
    entry.n += 1;
    per.set(key, entry);
  }
  return [...per.values()].map(({ queue, type, n }) => {
    const outcome = {
      completed: type === 'ok' || type === 'flaky' ? n : 0,
      failed: type === 'flaky' || type === 'exhausted' ? n : 0,
      dead: type === 'doomed' || type === 'exhausted' ? n : 0,
      cancelled: 0,
      released: 0,
      lease_lost: 0,
    };
    return { queue, type, submitted: n, outcome, retries: outcome.failed, deadByError: outcome.dead, attempts: outcome.completed + outcome.failed + outcome.dead };
  });
}

async function post(base: string, path: string, body: unknown): Promise<{ status: number; body: unknown }> {
  const response = await fetch(`${base}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  return { status: response.status, body: (await response.json()) as unknown };
}

interface Stats {
  queues: { queue: string; counts: Record<string, number> }[];
}

async function stats(base: string): Promise<Stats> {
  const response = await fetch(`${base}/api/v1/stats`);
  expect(response.status).toBe(200);
  return (await response.json()) as Stats;
}

/**
 * Submits the workload through `api`, scrapes `targets` while it runs and after, and checks every
 * counter against what happened. `targets` are summed: the cluster's figure.
 */
async function runWorkload(api: string, targets: readonly string[]): Promise<Sample[]> {
  const scrapeAll = async (): Promise<Sample[]> => (await Promise.all(targets.map((url) => scrape(url)))).flat();
  const tasks = plan();
  const expectedRetriesAtMost = tasks.filter((t) => t.type === 'flaky' || t.type === 'exhausted').length;
  for (let i = 0; i < tasks.length; i += 100) {
    const res = await post(api, '/api/v1/tasks/batch', { tasks: tasks.slice(i, i + 100).map((t) => t.body) });
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    // Mid-run by construction (the rest is not even submitted): the scrape answers, the submits are
    // counted before the API answers, and no more attempts ended than could have.
    const samples = await scrapeAll();
    expect(total(samples, 'conveyor_tasks_submitted_total')).toBe(i + 100);
    expect(total(samples, 'conveyor_tasks_processed_total')).toBeLessThanOrEqual(i + 100 + expectedRetriesAtMost);
  }
  // Idempotent repeats: the existing task comes back (200) and nothing is counted.
  for (const t of tasks.filter((t) => t.body.key !== undefined)) {
    const res = await post(api, '/api/v1/tasks', t.body);
    expect(res.status).toBe(200);
  }

  // During the run: every scrape answers (scrape() asserts 200), and no counter ever goes down.
  let previous = new Map<string, number>();
  const counterKey = (s: Sample): string => `${s.name}${JSON.stringify(s.labels)}`;
  const isCounter = (s: Sample): boolean => s.name.startsWith('conveyor_') && (s.name.endsWith('_total') || s.name.endsWith('_count') || s.name.endsWith('_bucket'));
  const deadline = Date.now() + 90_000;
  for (let scrapes = 1; ; scrapes++) {
    const samples = await scrapeAll();
    const now = new Map<string, number>();
    for (const s of samples.filter(isCounter)) now.set(counterKey(s), (now.get(counterKey(s)) ?? 0) + s.value);
    for (const [key, value] of previous) expect(now.get(key) ?? 0, `${key} went down at scrape ${scrapes}`).toBeGreaterThanOrEqual(value);
    previous = now;
    const { queues } = await stats(api);
    const unfinished = queues.reduce((n, q) => n + q.counts.blocked! + q.counts.scheduled! + q.counts.pending! + q.counts.processing!, 0);
    if (unfinished === 0) break;
    if (Date.now() > deadline) throw new Error(`${unfinished} tasks still unfinished after 90 s`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }

  // After: the counters are exact (eventually: a worker counts an attempt once its outcome is written,
  // a moment after the store shows it finished).
  const expected = expectations(tasks);
  return eventually(
    async () => {
      const samples = await scrapeAll();
      for (const e of expected) {
        const at = { queue: e.queue, type: e.type };
        expect(total(samples, 'conveyor_tasks_submitted_total', at), `submitted ${e.queue}/${e.type}`).toBe(e.submitted);
        for (const outcome of OUTCOMES) {
          expect(total(samples, 'conveyor_tasks_processed_total', { ...at, outcome }), `processed ${e.queue}/${e.type} ${outcome}`).toBe(e.outcome[outcome]);
          if (outcome !== 'cancelled' && outcome !== 'released') {
            expect(total(samples, 'conveyor_task_run_seconds_count', { ...at, outcome }), `run ${e.queue}/${e.type} ${outcome}`).toBe(e.outcome[outcome]);
          }
        }
        expect(total(samples, 'conveyor_task_retries_total', at), `retries ${e.queue}/${e.type}`).toBe(e.retries);
        expect(total(samples, 'conveyor_tasks_dead_total', at), `dead ${e.queue}/${e.type}`).toBe(e.deadByError);
        expect(total(samples, 'conveyor_tasks_dead_total', { ...at, reason: 'error' }), `dead (error) ${e.queue}/${e.type}`).toBe(e.deadByError);
        expect(total(samples, 'conveyor_task_wait_seconds_count', at), `waits ${e.queue}/${e.type}`).toBe(e.attempts);
      }
      // The totals, as an operator would sum them.
      expect(total(samples, 'conveyor_tasks_submitted_total')).toBe(TOTAL);
      expect(total(samples, 'conveyor_tasks_processed_total', { outcome: 'completed' })).toBe(425);
      expect(total(samples, 'conveyor_tasks_processed_total', { outcome: 'failed' })).toBe(125);
      expect(total(samples, 'conveyor_tasks_processed_total', { outcome: 'dead' })).toBe(75);
      expect(total(samples, 'conveyor_task_retries_total')).toBe(125);
      expect(total(samples, 'conveyor_tasks_dead_total')).toBe(75);
      expect(total(samples, 'conveyor_leases_reclaimed_total')).toBe(0);

      // The cluster gauges equal the stats endpoint, queue by queue and state by state.
      const { queues } = await stats(api);
      const gauges = samples.filter((s) => s.name === 'conveyor_queue_tasks');
      expect(gauges).toHaveLength(queues.length * TASK_STATES.length);
      for (const { queue, counts } of queues) {
        for (const state of TASK_STATES) expect(total(gauges, 'conveyor_queue_tasks', { queue, state }), `${queue} ${state}`).toBe(counts[state]);
      }
      expect(queues.map((q) => q.queue).sort()).toEqual([...QUEUES]);
      // Nothing pending: every queue's oldest pending age is 0.
      for (const queue of QUEUES) {
        expect(samples.filter((s) => s.name === 'conveyor_queue_oldest_pending_age_seconds' && s.labels.queue === queue).map((s) => s.value)).toEqual([0]);
      }
      expect(total(samples, 'conveyor_coordinator_leader')).toBe(1);

      // The pool, idle now; the store calls, timed and none failed.
      expect(total(samples, 'conveyor_worker_pool_size')).toBe(10);
      expect(total(samples, 'conveyor_worker_busy_slots')).toBe(0);
      for (const operation of ['insertTasks', 'claimTasks', 'finishTasks', 'countTasks']) {
        expect(total(samples, 'conveyor_store_call_duration_seconds_count', { operation }), operation).toBeGreaterThan(0);
      }
      expect(total(samples, 'conveyor_store_call_duration_seconds_count', { operation: 'waitForWork' })).toBe(0);
      expect(total(samples, 'conveyor_store_call_errors_total')).toBe(0);
      // The usual process metrics.
      expect(has(samples, 'process_cpu_seconds_total')).toBe(true);
      expect(has(samples, 'nodejs_eventloop_lag_seconds')).toBe(true);
      return samples;
    },
    { timeoutMs: 15_000, intervalMs: 100 },
  );
}

function waitForMetricsUrl(proc: CliProcess): Promise<string> {
  return proc.waitFor(/metrics on (http:\/\/127\.0\.0\.1:\d+\/metrics)/).then((m) => m[1]!);
}

// ---- end to end ------------------------------------------------------------------------------------

describe('metrics end to end', () => {
  it('conveyor start on SQLite: every counter equals what happened, the gauges equal /stats', async () => {
    const cwd = mkdtempSync(join(tmpdir(), 'conveyor-metrics-'));
    try {
      const proc = spawnCli(
        ['start', '--store', `sqlite:${join(cwd, 'conveyor.db')}`, '--port', '0', '--handlers', HANDLERS, '--queues', 'default,mail', '--concurrency', '10'],
        { cwd },
      );
      proc.child.stdin.end();
      const [, base] = await proc.waitFor(/listening on (http:\/\/127\.0\.0\.1:\d+)/, 60_000);
      // Open like /health: no token asked, none configured.
      await runWorkload(base!, [`${base!}/metrics`]);
    } finally {
      await killAll();
      rmSync(cwd, { recursive: true, force: true });
    }
  }, 180_000);

  it('conveyor server + conveyor worker --metrics-port on Redis: summed over both, the cluster figures', async () => {
    const cwd = mkdtempSync(join(tmpdir(), 'conveyor-metrics-'));
    const url = inject('redisUrl');
    const prefix = `m${randomUUID().slice(0, 8)}`;
    try {
      const env = { CONVEYOR_PREFIX: prefix };
      const server = spawnCli(['server', '--store', url, '--port', '0'], { cwd, env });
      const worker = spawnCli(['worker', '--store', url, '--handlers', HANDLERS, '--queues', 'default,mail', '--concurrency', '10', '--metrics-port', '0'], { cwd, env });
      server.child.stdin.end();
      worker.child.stdin.end();
      const [[, base], workerMetrics] = await Promise.all([server.waitFor(/listening on (http:\/\/127\.0\.0\.1:\d+)/, 60_000), waitForMetricsUrl(worker)]);
      await runWorkload(base!, [`${base!}/metrics`, workerMetrics]);

      // Counted where it happened: submits on the server, attempts on the worker; the cluster
      // gauges on the leader (the server) only.
      const [onServer, onWorker] = await Promise.all([scrape(`${base!}/metrics`), scrape(workerMetrics)]);
      expect(total(onServer, 'conveyor_tasks_submitted_total')).toBe(TOTAL);
      expect(total(onWorker, 'conveyor_tasks_submitted_total')).toBe(0);
      expect(total(onServer, 'conveyor_tasks_processed_total')).toBe(0);
      expect(total(onWorker, 'conveyor_tasks_processed_total')).toBe(625);
      expect(has(onServer, 'conveyor_queue_tasks')).toBe(true);
      expect(has(onWorker, 'conveyor_queue_tasks')).toBe(false);
      expect(has(onWorker, 'conveyor_queue_oldest_pending_age_seconds')).toBe(false);
      expect(total(onWorker, 'conveyor_coordinator_leader')).toBe(0);
      expect(total(onServer, 'conveyor_worker_pool_size')).toBe(0);
      expect(onWorker.find((s) => s.name === 'conveyor_store_call_duration_seconds_count' && s.labels.operation === 'claimTasks')?.labels.store).toBe('redis');
      // The worker's port serves /metrics only.
      expect((await fetch(workerMetrics.replace(/\/metrics$/, '/api/v1/stats'))).status).toBe(404);
    } finally {
      await killAll();
      await deleteKeysWithPrefix(url, prefix);
      rmSync(cwd, { recursive: true, force: true });
    }
  }, 180_000);
});

// ---- in-process ------------------------------------------------------------------------------------

async function memoryStore(): Promise<Store> {
  const store = createSqliteStore({ path: ':memory:' });
  await store.migrate();
  return store;
}

/** `inner` with some methods replaced (a Proxy: the store's private fields stay reachable). */
function withOverrides(inner: Store, overrides: Record<string, unknown>): Store {
  return new Proxy(inner, {
    get(target, property) {
      if (typeof property === 'string' && property in overrides) return overrides[property];
      const value: unknown = Reflect.get(target, property, target);
      return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
    },
  });
}

describe('instrumentStore', () => {
  it('forwards every method of the store and times each call', async () => {
    const inner = await memoryStore();
    const metrics = new ConveyorMetrics({ processMetrics: false });
    const store = instrumentStore(inner, metrics);
    try {
      expect(store.kind).toBe('sqlite');
      expect(store.capabilities).toEqual(inner.capabilities);
      for (const operation of STORE_OPERATIONS) expect(typeof store[operation], operation).toBe('function');
      // Every method of the real store is one of the forwarded operations (besides its own helpers).
      const methods = Object.getOwnPropertyNames(Object.getPrototypeOf(inner)).filter((name) => name !== 'constructor');
      for (const operation of STORE_OPERATIONS) expect(methods, operation).toContain(operation);

      await store.insertTasks({ tasks: [parseSubmitTask({ type: 'x', queue: 'q' }, Date.now())] });
      await store.countTasks({});
      await store.waitForWork({ queues: ['q'], timeoutMs: 1 });
      const samples = parseExposition(await metrics.metrics());
      expect(total(samples, 'conveyor_store_call_duration_seconds_count', { store: 'sqlite', operation: 'insertTasks' })).toBe(1);
      expect(total(samples, 'conveyor_store_call_duration_seconds_count', { store: 'sqlite', operation: 'countTasks' })).toBe(1);
      // A wait blocks by design: not a latency.
      expect(total(samples, 'conveyor_store_call_duration_seconds_count', { operation: 'waitForWork' })).toBe(0);
      // Every operation's error counter exists from the start, at 0.
      expect(samples.filter((s) => s.name === 'conveyor_store_call_errors_total').map((s) => s.labels.operation).sort()).toEqual([...STORE_OPERATIONS].sort());
      expect(total(samples, 'conveyor_store_call_errors_total')).toBe(0);
      // Wrapping again for the same metrics changes nothing.
      expect(instrumentStore(store, metrics)).toBe(store);
    } finally {
      await store.close();
    }
  });

  it('counts failures, rejected or thrown, and passes them on unchanged', async () => {
    const inner = await memoryStore();
    const metrics = new ConveyorMetrics({ processMetrics: false });
    const rejected = new Error('store down');
    const thrown = new TypeError('bad call');
    const broken = withOverrides(inner, {
      countTasks: () => Promise.reject(rejected),
      listQueues: () => {
        throw thrown;
      },
    });
    const store = instrumentStore(broken, metrics);
    try {
      await expect(store.countTasks({})).rejects.toBe(rejected);
      expect(() => store.listQueues()).toThrow(thrown);
      await store.getTasks({ ids: [] });
      const samples = parseExposition(await metrics.metrics());
      expect(total(samples, 'conveyor_store_call_errors_total', { operation: 'countTasks' })).toBe(1);
      expect(total(samples, 'conveyor_store_call_errors_total', { operation: 'listQueues' })).toBe(1);
      expect(total(samples, 'conveyor_store_call_errors_total', { operation: 'getTasks' })).toBe(0);
      // Failed calls are timed too.
      expect(total(samples, 'conveyor_store_call_duration_seconds_count', { operation: 'countTasks' })).toBe(1);
    } finally {
      await inner.close();
    }
  });
});

describe('ConveyorMetrics', () => {
  it('exports the cluster gauges only while a tracked coordinator leads', async () => {
    const store = await memoryStore();
    const metrics = new ConveyorMetrics({ processMetrics: false });
    try {
      const now = Date.now();
      await store.insertTasks({ tasks: [parseSubmitTask({ type: 'x', queue: 'q' }, now), parseSubmitTask({ type: 'x', queue: 'q', delay: '1h' }, now)] });
      const coordinator = { isLeader: false };
      const untrack = metrics.trackCoordinator(coordinator, store);
      let samples = parseExposition(await metrics.metrics());
      expect(has(samples, 'conveyor_queue_tasks')).toBe(false);
      expect(has(samples, 'conveyor_queue_oldest_pending_age_seconds')).toBe(false);
      expect(total(samples, 'conveyor_coordinator_leader')).toBe(0);

      coordinator.isLeader = true;
      samples = parseExposition(await metrics.metrics());
      expect(total(samples, 'conveyor_coordinator_leader')).toBe(1);
      const [counts] = await store.countTasks({});
      for (const state of TASK_STATES) expect(total(samples, 'conveyor_queue_tasks', { queue: 'q', state }), state).toBe(counts!.counts[state]);
      expect(total(samples, 'conveyor_queue_tasks', { queue: 'q', state: 'pending' })).toBe(1);
      expect(total(samples, 'conveyor_queue_tasks', { queue: 'q', state: 'scheduled' })).toBe(1);
      const age = total(samples, 'conveyor_queue_oldest_pending_age_seconds', { queue: 'q' });
      expect(age).toBeGreaterThanOrEqual(0);
      expect(age).toBeLessThan(60);

      untrack();
      samples = parseExposition(await metrics.metrics());
      expect(has(samples, 'conveyor_queue_tasks')).toBe(false);
    } finally {
      await store.close();
    }
  });

  it('leaves the cluster gauges out of a scrape when the store fails, and still answers', async () => {
    const inner = await memoryStore();
    const broken = withOverrides(inner, { countTasks: () => Promise.reject(new Error('down')) });
    const metrics = new ConveyorMetrics({ processMetrics: false });
    try {
      metrics.trackCoordinator({ isLeader: true }, broken);
      const samples = parseExposition(await metrics.metrics());
      expect(has(samples, 'conveyor_queue_tasks')).toBe(false);
      expect(total(samples, 'conveyor_coordinator_leader')).toBe(1);
    } finally {
      await inner.close();
    }
  });

  it('counts the leader reclaiming expired leases and ending tasks past their deadline', async () => {
    const metrics = new ConveyorMetrics({ processMetrics: false });
    const store = instrumentStore(await memoryStore(), metrics);
    const coordinator = createCoordinator({ store, metrics, leaseMs: 1_000, intervals: { leaseReaperMs: 20, deadlineEnforcerMs: 20 } });
    try {
      const now = Date.now();
      await store.insertTasks({
        tasks: [
          parseSubmitTask({ type: 'crashy', queue: 'q', retries: 1 }, now),
          parseSubmitTask({ type: 'late', queue: 'late', deadline: now + 150 }, now),
        ],
      });
      await coordinator.start();
      // A worker that claims and dies, twice: the first lease comes back with an attempt left
      // (retried), the second with none (dead, lease_expired).
      for (const expected of [1, 2]) {
        const [claimed] = await store.claimTasks({ queues: ['q'], workerId: 'ghost', limit: 1, leaseMs: 50 });
        expect(claimed?.type).toBe('crashy');
        await eventually(async () => {
          const samples = parseExposition(await metrics.metrics());
          expect(total(samples, 'conveyor_leases_reclaimed_total', { queue: 'q' })).toBe(expected);
        });
      }
      await eventually(async () => {
        const samples = parseExposition(await metrics.metrics());
        expect(total(samples, 'conveyor_task_retries_total', { queue: 'q', type: 'crashy' })).toBe(1);
        expect(total(samples, 'conveyor_tasks_dead_total', { queue: 'q', type: 'crashy', reason: 'lease_expired' })).toBe(1);
        expect(total(samples, 'conveyor_tasks_dead_total', { queue: 'late', type: 'late', reason: 'deadline_exceeded' })).toBe(1);
        expect(total(samples, 'conveyor_queue_tasks', { queue: 'q', state: 'dead' })).toBe(1);
        expect(total(samples, 'conveyor_coordinator_leader')).toBe(1);
      });
    } finally {
      await coordinator.stop();
      await store.close();
    }
  });

  it('counts submits that created a task, not idempotent repeats', async () => {
    const metrics = new ConveyorMetrics({ processMetrics: false });
    const store = await memoryStore();
    const client = createClient({ store, metrics });
    try {
      await client.submit({ type: 'x', queue: 'q', key: 'once' });
      await client.submit({ type: 'x', queue: 'q', key: 'once' });
      await client.submitBatch([{ type: 'y', queue: 'q' }, { type: 'x', queue: 'q', key: 'once' }]);
      const samples = parseExposition(await metrics.metrics());
      expect(total(samples, 'conveyor_tasks_submitted_total', { queue: 'q', type: 'x' })).toBe(1);
      expect(total(samples, 'conveyor_tasks_submitted_total', { queue: 'q', type: 'y' })).toBe(1);
    } finally {
      await store.close();
    }
  });
});

describe('GET /metrics', () => {
  it('answers 404 on an app built without metrics, with the error envelope', async () => {
    const store = await memoryStore();
    const app = await buildHttpApp({ client: createClient({ store }), store });
    try {
      const response = await app.inject({ method: 'GET', url: '/metrics' });
      expect(response.statusCode).toBe(404);
      expect(response.json()).toMatchObject({ error: { code: 'CONVEYOR_ROUTE_NOT_FOUND' } });
    } finally {
      await app.close();
      await store.close();
    }
  });

  it('is open even with tokens configured, like /health', async () => {
    const store = await memoryStore();
    const metrics = new ConveyorMetrics({ processMetrics: false });
    const app = await buildHttpApp({ client: createClient({ store }), store, metrics, auth: [{ token: 'a-long-enough-token', scopes: ['admin'] }] });
    try {
      const response = await app.inject({ method: 'GET', url: '/metrics' });
      expect(response.statusCode).toBe(200);
      expect(response.headers['content-type']).toMatch(/^text\/plain; version=0\.0\.4/);
      expect(response.body).toMatch(/^# HELP conveyor_tasks_submitted_total /m);
      expect((await app.inject({ method: 'GET', url: '/api/v1/stats' })).statusCode).toBe(401);
    } finally {
      await app.close();
      await store.close();
    }
  });
});
