/**
 * The leader's cron scheduler service, built directly on a fake clock and run one tick at a time:
 * each due occurrence is enqueued once, with the idempotency key `schedule:<name>:<occurrence ms>`;
 * `missedRuns: 'skip'` drops occurrences older than MISSED_RUN_GRACE_MS, `once` enqueues every
 * missed one; a second leader running the same tick (after the first, at the same time, or after
 * the first died between enqueuing and advancing the schedule) enqueues nothing new.
 */
import { describe, expect, inject, it, onTestFinished } from 'vitest';
import { listSchedules, MISSED_RUN_GRACE_MS, occurrenceKey, saveSchedules, type ScheduleInput } from '../../src/coordinator/schedules.js';
import { cronScheduler } from '../../src/coordinator/services/cron-scheduler.js';
import type { MaintenanceService } from '../../src/coordinator/services/maintenance-service.js';
import type { Store } from '../../src/store/store.js';
import { silentLogger } from '../../src/worker/handlers.js';
import { FakeClock } from '../helpers/fake-clock.js';
import { listAllTasks, openSharedStore, type StoreKind } from '../helpers/processes.js';

const QUEUE = 'recurring';
const TASK = { queue: QUEUE, type: 'echo', payload: { from: 'schedule' } };
const SECOND = 1_000;

interface Harness {
  store: Store;
  clock: FakeClock;
  /** A scheduler as one leader would run it, on the fake clock (on `store`, or another view of it). */
  scheduler(store?: Store): MaintenanceService;
  save(...inputs: ScheduleInput[]): Promise<void>;
  /** The occurrence times of the tasks enqueued for `name`, in order (a duplicate would show twice). */
  occurrences(name: string): Promise<number[]>;
}

function tick(service: MaintenanceService): Promise<boolean | void> {
  return service.tick(new AbortController().signal);
}

describe.each<StoreKind>(['sqlite', 'redis'])('cron scheduler on %s (fake clock)', (kind) => {
  async function open(): Promise<Harness> {
    const shared = await openSharedStore(kind, inject('redisUrl'));
    onTestFinished(shared.cleanup);
    const { store } = shared;
    const clock = new FakeClock();
    return {
      store,
      clock,
      scheduler: (on = store) => cronScheduler({ store: on, logger: silentLogger, now: () => clock.now() }),
      save: async (...inputs) => {
        await saveSchedules(store, inputs, clock.now());
      },
      occurrences: async (name) => {
        const prefix = `schedule:${name}:`;
        return (await listAllTasks(store, QUEUE))
          .filter((task) => task.key?.startsWith(prefix))
          .map((task) => Number(task.key!.slice(prefix.length)))
          .sort((a, b) => a - b);
      },
    };
  }

  it('enqueues each due occurrence once, from the template, keyed schedule:<name>:<occurrence ms>', async () => {
    const h = await open();
    const T = h.clock.now();
    await h.save({ name: 'tick', every: '10s', task: { ...TASK, priority: 'high' } });
    const scheduler = h.scheduler();

    h.clock.advance(5 * SECOND);
    await tick(scheduler);
    expect(await h.occurrences('tick')).toEqual([]);

    h.clock.advance(5 * SECOND);
    await tick(scheduler);
    await tick(scheduler);
    expect(await h.occurrences('tick')).toEqual([T + 10 * SECOND]);
    expect(await listSchedules(h.store)).toMatchObject([{ name: 'tick', lastRunAt: T + 10 * SECOND, nextRunAt: T + 20 * SECOND }]);

    h.clock.advance(10 * SECOND);
    await tick(scheduler);
    expect(await h.occurrences('tick')).toEqual([T + 10 * SECOND, T + 20 * SECOND]);

    const tasks = await listAllTasks(h.store, QUEUE);
    expect(tasks.map((task) => ({ key: task.key, type: task.type, payload: task.payload, priority: task.priority, state: task.state })).sort((a, b) => (a.key! < b.key! ? -1 : 1))).toEqual([
      { key: occurrenceKey('tick', T + 10 * SECOND), type: 'echo', payload: { from: 'schedule' }, priority: 8, state: 'pending' },
      { key: occurrenceKey('tick', T + 20 * SECOND), type: 'echo', payload: { from: 'schedule' }, priority: 8, state: 'pending' },
    ]);
  });

  it('a cron schedule in a time zone fires at the local time', async () => {
    const h = await open();
    const nineInParis = Date.parse('2030-01-01T08:00:00Z');
    await h.save({ name: 'morning', cron: '0 9 * * *', timezone: 'Europe/Paris', task: TASK });
    const scheduler = h.scheduler();

    h.clock.set(nineInParis - 1);
    await tick(scheduler);
    expect(await h.occurrences('morning')).toEqual([]);

    h.clock.set(nineInParis);
    await tick(scheduler);
    expect(await h.occurrences('morning')).toEqual([nineInParis]);
    expect(await listSchedules(h.store)).toMatchObject([{ lastRunAt: nineInParis, nextRunAt: nineInParis + 24 * 3_600_000 }]);
  });

  it(`missedRuns 'skip': occurrences more than MISSED_RUN_GRACE_MS (${MISSED_RUN_GRACE_MS} ms) late are dropped`, async () => {
    const h = await open();
    const T = h.clock.now();
    await h.save({ name: 'lagging', every: '10s', task: TASK, missedRuns: 'skip' });

    // Nobody ran the scheduler for a minute: six occurrences are due, the last one just within the grace.
    h.clock.set(T + 60 * SECOND + MISSED_RUN_GRACE_MS);
    await tick(h.scheduler());
    expect(await h.occurrences('lagging')).toEqual([T + 60 * SECOND]);
    expect(await listSchedules(h.store)).toMatchObject([{ lastRunAt: T + 60 * SECOND, nextRunAt: T + 70 * SECOND }]);

    // On time again: enqueued.
    h.clock.set(T + 120 * SECOND);
    await tick(h.scheduler());
    expect(await h.occurrences('lagging')).toEqual([T + 60 * SECOND, T + 120 * SECOND]);

    // All of them too late (the last one by a millisecond): none enqueued, the schedule moves on anyway.
    h.clock.set(T + 200 * SECOND + MISSED_RUN_GRACE_MS + 1);
    await tick(h.scheduler());
    expect(await h.occurrences('lagging')).toEqual([T + 60 * SECOND, T + 120 * SECOND]);
    expect(await listSchedules(h.store)).toMatchObject([{ lastRunAt: T + 120 * SECOND, nextRunAt: T + 210 * SECOND }]);
  });

  it("missedRuns 'once': every missed occurrence is enqueued, once", async () => {
    const h = await open();
    const T = h.clock.now();
    await h.save({ name: 'catching-up', every: '10s', task: TASK, missedRuns: 'once' });

    h.clock.set(T + 60 * SECOND + MISSED_RUN_GRACE_MS);
    await tick(h.scheduler());
    await tick(h.scheduler());
    const expected = [1, 2, 3, 4, 5, 6].map((n) => T + n * 10 * SECOND);
    expect(await h.occurrences('catching-up')).toEqual(expected);
    expect(await listSchedules(h.store)).toMatchObject([{ lastRunAt: T + 60 * SECOND, nextRunAt: T + 70 * SECOND }]);
  });

  it('a second leader running the tick after the first, or at the same time, enqueues nothing new', async () => {
    const h = await open();
    const T = h.clock.now();
    await h.save({ name: 'shared', every: '1s', task: TASK, missedRuns: 'once' });
    const first = h.scheduler();
    const second = h.scheduler();

    h.clock.set(T + 5 * SECOND);
    await tick(first);
    await tick(second);
    expect(await h.occurrences('shared')).toEqual([1, 2, 3, 4, 5].map((n) => T + n * SECOND));

    h.clock.set(T + 10 * SECOND);
    await Promise.all([tick(first), tick(second)]);
    expect(await h.occurrences('shared')).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10].map((n) => T + n * SECOND));
    expect(await listSchedules(h.store)).toMatchObject([{ lastRunAt: T + 10 * SECOND, nextRunAt: T + 11 * SECOND }]);
  });

  it('a leader that died between enqueuing and advancing: the next one enqueues the same occurrences, as no-ops, and advances', async () => {
    const h = await open();
    const T = h.clock.now();
    await h.save({ name: 'interrupted', every: '1s', task: TASK, missedRuns: 'once' });
    // The first leader's store connection fails at the advance.
    const dying = new Proxy(h.store, {
      get(target, prop) {
        if (prop === 'advanceSchedule') return () => Promise.reject(new Error('the leader died here'));
        const value: unknown = Reflect.get(target, prop, target);
        return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
      },
    });

    h.clock.set(T + 3 * SECOND);
    await expect(tick(h.scheduler(dying))).rejects.toThrow('the leader died here');
    expect(await h.occurrences('interrupted')).toEqual([1, 2, 3].map((n) => T + n * SECOND));
    expect(await listSchedules(h.store)).toMatchObject([{ lastRunAt: null, nextRunAt: T + SECOND }]);

    h.clock.set(T + 4 * SECOND);
    await tick(h.scheduler());
    expect(await h.occurrences('interrupted')).toEqual([1, 2, 3, 4].map((n) => T + n * SECOND));
    expect(await listSchedules(h.store)).toMatchObject([{ lastRunAt: T + 4 * SECOND, nextRunAt: T + 5 * SECOND }]);
  });

  it('a paused schedule enqueues nothing', async () => {
    const h = await open();
    await h.save({ name: 'paused', every: '1s', task: TASK, paused: true });
    h.clock.advance(10 * SECOND);
    await tick(h.scheduler());
    expect(await h.occurrences('paused')).toEqual([]);
  });
});
