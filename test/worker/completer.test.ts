/**
 * The completer: outcomes go to the store in batches, and a batch the store refuses is retried
 * until it is written: nothing is dropped.
 */
import { expect, it } from 'vitest';
import type { FinishTasksParams } from '../../src/store/store.js';
import { describeForEachStore, spyStore, TINY_BACKOFF } from './harness.js';

describeForEachStore('worker: completer', (setup) => {
  it('writes the outcomes of many fast tasks in fewer finishTasks calls than tasks', async () => {
    const t = await setup();
    const spy = spyStore(t.store);
    await t.startWorker({ store: spy.store, concurrency: 50 });
    const tasks = await t.submit(
      ...Array.from({ length: 200 }, (_, i) => (i % 4 === 3 ? { type: 'permanent', retries: 0 } : { type: 'echo', payload: { i } })),
    );
    const ids = tasks.map((task) => task.id);
    const done = await t.waitForStates(ids, ['completed', 'dead'], { timeoutMs: 20_000 });

    done.forEach((task, i) => {
      if (i % 4 === 3) expect(task).toMatchObject({ state: 'dead', attempt: 1 });
      else expect(task).toMatchObject({ state: 'completed', result: { i }, attempt: 1 });
    });
    const calls = spy.callsOf('finishTasks');
    const items = calls.flatMap((call) => (call.params as FinishTasksParams).items);
    expect(items).toHaveLength(200);
    expect(new Set(items.map((item) => item.id)).size).toBe(200);
    // 50 slots finishing about together share a call; allow a lot of slack for scheduling.
    expect(calls.length).toBeLessThanOrEqual(100);
    expect(Math.max(...calls.map((call) => (call.params as FinishTasksParams).items.length))).toBeGreaterThan(1);
  });

  it('retries a batch the store refused until it is written: every outcome arrives, none is dropped', async () => {
    const t = await setup();
    const spy = spyStore(t.store);
    const failures = 4;
    spy.failNext('finishTasks', failures);
    await t.startWorker({ store: spy.store, concurrency: 5 });
    const tasks = await t.submit(
      ...Array.from({ length: 20 }, (_, i) => (i % 5 === 4 ? { type: 'fail', retries: 0, backoff: TINY_BACKOFF } : { type: 'echo', payload: i })),
    );
    const ids = tasks.map((task) => task.id);
    const done = await t.waitForStates(ids, ['completed', 'dead'], { timeoutMs: 20_000 });

    done.forEach((task, i) => {
      // Attempt 1 everywhere: the leases were kept while the store refused, nothing ran twice.
      if (i % 5 === 4) expect(task).toMatchObject({ state: 'dead', attempt: 1, error: { reason: 'error', message: 'boom' } });
      else expect(task).toMatchObject({ state: 'completed', result: i, attempt: 1 });
      expect(task.errors.filter((e) => e.reason === 'lease_expired')).toEqual([]);
    });
    const calls = spy.callsOf('finishTasks');
    expect(calls.filter((call) => call.failed)).toHaveLength(failures);
    const written = calls.filter((call) => !call.failed).flatMap((call) => (call.params as FinishTasksParams).items.map((item) => item.id));
    expect(new Set(written)).toEqual(new Set(ids));
  });
});
