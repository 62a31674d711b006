/**
 * The retention cleaner (issue 4, acceptance), driven by a fake clock: the cleaner is built
 * directly with `now` from the clock, and every store call that finishes a task passes the same
 * clock, so "older than its retention" is exact. Defaults: completed 24 h, dead 7 days; per-queue
 * policies override them; the idempotency key of a deleted task is free again.
 */
import { describe, expect, inject, it, onTestFinished } from 'vitest';
import { DEFAULT_RETENTION, retentionCleaner, retentionFor, type RetentionConfig } from '../../src/coordinator/services/retention-cleaner.js';
import type { Store } from '../../src/store/store.js';
import { silentLogger } from '../../src/worker/handlers.js';
import { FakeClock } from '../helpers/fake-clock.js';
import { newTask } from '../helpers/factories.js';
import { openSharedStore, type StoreKind } from '../helpers/processes.js';

const HOUR_MS = 3_600_000;
const DAY_MS = 24 * HOUR_MS;

interface Harness {
  store: Store;
  clock: FakeClock;
  /** One run of a cleaner built with `config` on the fake clock; resolves with its "more to do". */
  clean(config?: RetentionConfig): Promise<boolean | void>;
  /** A task of `queue` that ends now (on the fake clock) in `state`; returns its id. */
  finished(state: 'completed' | 'dead', queue?: string, key?: string | null): Promise<string>;
  exists(id: string): Promise<boolean>;
}

async function open(kind: StoreKind): Promise<Harness> {
  const shared = await openSharedStore(kind, inject('redisUrl'));
  onTestFinished(shared.cleanup);
  const { store } = shared;
  const clock = new FakeClock();
  return {
    store,
    clock,
    clean: (config = {}) => retentionCleaner({ store, logger: silentLogger, now: () => clock.now() }, config).tick(new AbortController().signal),
    async finished(state, queue = 'default', key = null) {
      const task = newTask({ queue, key, maxAttempts: 1 });
      await store.insertTasks({ tasks: [task], now: clock.now() });
      const [claimed] = await store.claimTasks({ queues: [queue], workerId: 'w', limit: 1, leaseMs: 60_000, now: clock.now() });
      expect(claimed?.id).toBe(task.id);
      const lease = { id: task.id, queue, token: claimed!.leaseToken };
      const { items } = await store.finishTasks({
        items: [
          state === 'completed'
            ? { ...lease, outcome: 'complete', result: null }
            : { ...lease, outcome: 'fail', error: { reason: 'error', message: 'boom' }, retryDelayMs: 0, permanent: true },
        ],
        now: clock.now(),
      });
      expect(items).toEqual([{ id: task.id, outcome: state }]);
      return task.id;
    },
    async exists(id) {
      const [task] = await store.getTasks({ ids: [id] });
      return task !== null && task !== undefined;
    },
  };
}

describe('retention policy', () => {
  it('defaults: completed 24 h, dead and cancelled 7 days; a queue entry overrides the default, field by field', () => {
    expect(DEFAULT_RETENTION).toEqual({ completedMs: DAY_MS, deadMs: 7 * DAY_MS, cancelledMs: 7 * DAY_MS });
    const config: RetentionConfig = { default: { completedMs: HOUR_MS }, queues: { keep: { completedMs: 10 * HOUR_MS } } };
    expect(retentionFor(config, 'other')).toEqual({ completedMs: HOUR_MS, deadMs: 7 * DAY_MS, cancelledMs: 7 * DAY_MS });
    expect(retentionFor(config, 'keep')).toEqual({ completedMs: 10 * HOUR_MS, deadMs: 7 * DAY_MS, cancelledMs: 7 * DAY_MS });
  });
});

describe.each<StoreKind>(['sqlite', 'redis'])('retention cleaner on %s (fake clock)', (kind) => {
  it('deletes a completed task older than its retention (24 h by default) and keeps a fresh one', async () => {
    const h = await open(kind);
    const old = await h.finished('completed');
    h.clock.advance(23 * HOUR_MS);
    const fresh = await h.finished('completed');
    // Unfinished tasks are never touched, however old.
    const pending = newTask({ queue: 'other' });
    await h.store.insertTasks({ tasks: [pending], now: h.clock.now() - 23 * HOUR_MS });

    expect(await h.clean()).toBe(false);
    expect(await h.exists(old)).toBe(true); // 23 h old: not yet

    h.clock.advance(2 * HOUR_MS);
    expect(await h.clean()).toBe(false);
    expect(await h.exists(old)).toBe(false); // 25 h
    expect(await h.exists(fresh)).toBe(true); // 2 h
    expect(await h.exists(pending.id)).toBe(true);
  });

  it('deletes a dead task older than its retention (7 days by default) and keeps a fresh one', async () => {
    const h = await open(kind);
    const old = await h.finished('dead');
    h.clock.advance(6 * DAY_MS);
    const fresh = await h.finished('dead');
    const completedMeanwhile = await h.finished('completed');

    h.clock.advance(2 * DAY_MS);
    await h.clean();
    expect(await h.exists(old)).toBe(false); // 8 days
    expect(await h.exists(fresh)).toBe(true); // 2 days
    expect(await h.exists(completedMeanwhile)).toBe(false); // completed, 2 days: past its 24 h
  });

  it('a per-queue retention overrides the default', async () => {
    const h = await open(kind);
    const config: RetentionConfig = { default: { completedMs: HOUR_MS }, queues: { keep: { completedMs: 10 * HOUR_MS } } };
    const short = await h.finished('completed', 'short');
    const kept = await h.finished('completed', 'keep');
    const deadInKeep = await h.finished('dead', 'keep');

    h.clock.advance(2 * HOUR_MS);
    await h.clean(config);
    expect(await h.exists(short)).toBe(false); // the default: 1 h
    expect(await h.exists(kept)).toBe(true); // its queue's: 10 h

    h.clock.advance(9 * HOUR_MS);
    await h.clean(config);
    expect(await h.exists(kept)).toBe(false); // 11 h
    expect(await h.exists(deadInKeep)).toBe(true); // dead: the built-in 7 days still apply
  });

  it('the idempotency key of a deleted task is free again', async () => {
    const h = await open(kind);
    const key = 'nightly-report';
    const first = await h.finished('completed', 'default', key);

    h.clock.advance(HOUR_MS);
    const again = await h.store.insertTasks({ tasks: [newTask({ key })], now: h.clock.now() });
    expect(again.items.map((item) => ({ id: item.task.id, created: item.created }))).toEqual([{ id: first, created: false }]);

    h.clock.advance(DAY_MS);
    await h.clean();
    expect(await h.exists(first)).toBe(false);
    const fresh = newTask({ key });
    const reused = await h.store.insertTasks({ tasks: [fresh], now: h.clock.now() });
    expect(reused.items.map((item) => ({ id: item.task.id, created: item.created, state: item.task.state, key: item.task.key }))).toEqual([
      { id: fresh.id, created: true, state: 'pending', key },
    ]);
  });

  // Only full batches count against a run's budget: with many queues, a run still reaches the last
  // one, and a run with nothing more to delete answers "done" (else the leader would spin).
  it('with more queues than one run covers, the tasks of the last queue are deleted too, and the cleaner settles', async () => {
    const h = await open(kind);
    const ids: string[] = [];
    for (let i = 1; i <= 7; i++) {
      const task = newTask({ queue: `q${i}` });
      await h.store.insertTasks({ tasks: [task], now: h.clock.now() });
      await h.store.cancelTasks({ ids: [task.id], now: h.clock.now() });
      ids.push(task.id);
    }
    h.clock.advance(8 * DAY_MS);
    let more: boolean | void = true;
    for (let run = 0; run < 5 && more === true; run++) more = await h.clean();
    expect(more).toBe(false);
    for (const id of ids) expect(await h.exists(id)).toBe(false);
  });
});
