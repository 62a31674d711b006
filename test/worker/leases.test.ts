/**
 * The lease keeper: a lease lost to someone else aborts the handler (`lease_lost`) and the worker
 * writes nothing for that attempt; every lease the worker holds is renewed in one call per third
 * of the lease length.
 */
import { expect, it } from 'vitest';
import type { RenewLeasesParams } from '../../src/store/store.js';
import { recordingLogger } from '../fixtures/run-context.js';
import { describeForEachStore, sleep, spyStore, waitUntil } from './harness.js';

const HOUR = 3_600_000;

describeForEachStore('worker: leases', (setup) => {
  it('aborts the handler with lease_lost when its lease is reclaimed and taken by another, and writes nothing for that attempt', async () => {
    const t = await setup();
    const spy = spyStore(t.store);
    const logger = recordingLogger();
    // One slot, no prefetch: while the task runs the worker claims nothing, so the test can take
    // the reclaimed task before the worker notices it lost it.
    const worker = await t.startWorker({ store: spy.store, logger, concurrency: 1, leaseMs: 1_500 });
    const [task] = await t.submit({ type: 'reason', retries: 3 });
    await t.waitForTasks([task!.id], (x) => x.state === 'processing' && x.attempt === 1, 'running');

    // The leader's reaper, an hour from now: the lease has expired by then.
    // (The intruder claims at that same hour: a store may make the task due only then.)
    const anHourLater = Date.now() + HOUR;
    const reclaimed = await t.store.reclaimExpiredLeases({ now: anHourLater, limit: 100 });
    expect(reclaimed.retried).toEqual([task!.id]);
    const [intruder] = await t.store.claimTasks({ queues: ['default'], workerId: 'intruder', limit: 1, leaseMs: 60_000, now: anHourLater });
    expect(intruder?.id).toBe(task!.id);
    expect(intruder!.attempt).toBe(2);

    // The next renewal (within ~500 ms) reports the lease lost: the handler sees lease_lost.
    await waitUntil(
      () => logger.lines.some((line) => line.msg === 'handler saw its abort' && (line.obj as { reason?: string }).reason === 'lease_lost'),
      'the handler saw lease_lost',
      { timeoutMs: 5_000 },
    );
    await waitUntil(() => worker.running === 0, 'the worker let the attempt go');
    await sleep(300);

    // Nothing written about that attempt: the task is the intruder's, as the intruder left it.
    expect(spy.callsOf('finishTasks').flatMap((call) => call.params.items).filter((item) => item.id === task!.id)).toEqual([]);
    const held = await t.getTask(task!.id);
    expect(held).toMatchObject({ state: 'processing', attempt: 2, workerId: 'intruder' });
    expect(held.errors.map((e) => e.reason)).toEqual(['lease_expired']);
    expect(logger.lines.some((line) => line.msg?.startsWith('attempt abandoned: its lease was lost'))).toBe(true);

    // Whoever holds it decides its fate.
    const { items } = await t.store.finishTasks({
      items: [{ id: intruder!.id, queue: intruder!.queue, token: intruder!.leaseToken, outcome: 'complete', result: 'by the intruder' }],
    });
    expect(items).toEqual([{ id: task!.id, outcome: 'completed' }]);
    expect(await t.getTask(task!.id)).toMatchObject({ state: 'completed', result: 'by the intruder', attempt: 2 });
  });

  it('renews every lease it holds (running and prefetched) in one renewLeases call, about every third of the lease length', async () => {
    const t = await setup();
    const spy = spyStore(t.store);
    const leaseMs = 1_200;
    const worker = await t.startWorker({ store: spy.store, concurrency: 3, prefetch: 2, leaseMs });
    const tasks = await t.submitMany(5, { type: 'sleep', payload: { ms: 2_400 } });
    const ids = tasks.map((task) => task.id).sort();
    await waitUntil(() => worker.running === 3 && worker.prefetched === 2, '3 run and 2 are prefetched');
    const allHeldAt = Date.now();
    await t.waitForStates(ids, 'completed', { timeoutMs: 15_000 });

    // Renewals while all five were held as claimed: the window ends with the first completion.
    const firstDone = Math.min(...(await t.getTasks(ids)).map((task) => task.finishedAt!));
    const renewals = spy.callsOf('renewLeases').filter((call) => call.at >= allHeldAt && call.at < firstDone - 50);
    expect(renewals.length).toBeGreaterThanOrEqual(3);
    for (const call of renewals) {
      const params: RenewLeasesParams = call.params;
      expect(params.leaseMs).toBe(leaseMs);
      expect(params.leases.map((lease) => lease.id).sort()).toEqual(ids);
    }
    const gaps = renewals.slice(1).map((call, i) => call.at - renewals[i]!.at);
    for (const gap of gaps) {
      expect(gap).toBeGreaterThanOrEqual(leaseMs / 3 - 100);
      expect(gap).toBeLessThanOrEqual(leaseMs / 3 + 300);
    }
    // Every task ran once.
    expect((await t.getTasks(ids)).map((task) => task.attempt)).toEqual([1, 1, 1, 1, 1]);
  });
});
