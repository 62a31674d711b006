/**
 * The claim loop: it asks for no more than its free slots plus the prefetch, and it backs off while
 * the store fails and resumes by itself when the store is back.
 */
import { expect, it } from 'vitest';
import type { ClaimTasksParams } from '../../src/store/store.js';
import { describeForEachStore, sleep, spyStore, waitUntil } from './harness.js';

describeForEachStore('worker: claim loop', (setup) => {
  it('claims no more than its free slots plus the prefetch, and starts no more than its free slots', async () => {
    const t = await setup();
    const spy = spyStore(t.store);
    const concurrency = 3;
    const prefetch = 2;
    const worker = await t.startWorker({ store: spy.store, concurrency, prefetch });
    let maxRunning = 0;
    let maxPrefetched = 0;
    const sampler = t.every(5, async () => {
      maxRunning = Math.max(maxRunning, worker.running);
      maxPrefetched = Math.max(maxPrefetched, worker.prefetched);
    });
    const tasks = await t.submitMany(20, { type: 'sleep', payload: { ms: 100 } });
    await t.waitForStates(
      tasks.map((task) => task.id),
      'completed',
      { timeoutMs: 20_000 },
    );
    await sampler.stop();

    const claims = spy.callsOf('claimTasks').map((call) => call.params as ClaimTasksParams);
    expect(claims.length).toBeGreaterThan(1);
    for (const claim of claims) {
      expect(claim.limit).toBeGreaterThanOrEqual(1);
      expect(claim.limit).toBeLessThanOrEqual(concurrency + prefetch);
      expect(claim.startLimit ?? claim.limit).toBeLessThanOrEqual(concurrency);
      expect(claim.startLimit ?? claim.limit).toBeLessThanOrEqual(claim.limit);
    }
    // The first claim, with every slot free and an empty buffer, asks for all of it.
    expect(claims[0]).toMatchObject({ limit: concurrency + prefetch, startLimit: concurrency });
    expect(maxRunning).toBeLessThanOrEqual(concurrency);
    expect(maxRunning).toBe(concurrency);
    expect(maxPrefetched).toBeLessThanOrEqual(prefetch);
    expect(maxPrefetched).toBeGreaterThan(0);
  });

  it('backs off while claimTasks fails and resumes by itself when the store is back (no restart)', async () => {
    const t = await setup();
    const spy = spyStore(t.store);
    let storeDown = true;
    spy.failWhile('claimTasks', () => storeDown);
    const worker = await t.startWorker({ store: spy.store, concurrency: 4 });
    const tasks = await t.submitMany(8, { type: 'echo', payload: 'after the outage' });
    await waitUntil(() => worker.claimState === 'backoff', 'the claim loop backs off');

    await sleep(2_000);
    const failed = spy.callsOf('claimTasks').filter((call) => call.failed);
    // Backing off (100, 200, 400, 800 ms…), not spinning.
    expect(failed.length).toBeGreaterThanOrEqual(3);
    expect(failed.length).toBeLessThanOrEqual(10);
    expect((await t.getTasks(tasks.map((task) => task.id))).every((task) => task.state === 'pending')).toBe(true);

    storeDown = false;
    const back = Date.now();
    const done = await t.waitForStates(
      tasks.map((task) => task.id),
      'completed',
      { timeoutMs: 10_000 },
    );
    // The longest backoff so far is ~1.6 s: well within 5 s of the store's return.
    expect(Date.now() - back).toBeLessThan(5_000);
    expect(done.every((task) => task.attempt === 1 && task.workerId === worker.id)).toBe(true);
    expect(worker.state).toBe('running');
    expect(worker.claimState).not.toBe('backoff');
  });

  it('blocks in the store while idle (no polling) and wakes at once when a task arrives', async () => {
    const t = await setup();
    const spy = spyStore(t.store);
    const worker = await t.startWorker({ store: spy.store, concurrency: 2, idleWaitMs: 5_000 });
    await waitUntil(() => worker.claimState === 'idle', 'the claim loop is idle');
    await sleep(1_500);
    // One claim found nothing, then one wait in the store: nothing more in 1.5 s.
    expect(spy.callsOf('claimTasks').length).toBeLessThanOrEqual(2);
    expect(spy.callsOf('waitForWork').length).toBeLessThanOrEqual(2);
    expect(worker.claimState).toBe('idle');

    const submitted = Date.now();
    const [task] = await t.submit({ type: 'echo', payload: 'wake up' });
    const done = await t.waitForState(task!.id, 'completed', { timeoutMs: 5_000, intervalMs: 5 });
    expect(done.finishedAt! - submitted).toBeLessThan(1_000);
  });

  // Every slot busy, the prefetch buffer not full, the queue empty: the loop waits in the store, and
  // a slot freeing must end that wait, or the prefetched task waits out `idleWaitMs`.
  it('starts a prefetched task as soon as a slot frees, even when its queue is empty', async () => {
    const t = await setup();
    await t.startWorker({ concurrency: 1, prefetch: 2, idleWaitMs: 3_000 });
    const submitted = Date.now();
    // One runs at once, the other is prefetched; the buffer has room for one more.
    const tasks = await t.submitMany(2, { type: 'sleep', payload: { ms: 100 } });
    await t.waitForStates(
      tasks.map((task) => task.id),
      'completed',
      { timeoutMs: 10_000 },
    );
    expect(Date.now() - submitted).toBeLessThan(1_500);
  });
});
