/**
 * The pool with `min:max` concurrency: grows to max under a backlog, back to min when idle.
 */
import { expect, it } from 'vitest';
import { describeForEachStore, waitUntil } from './harness.js';

describeForEachStore('worker: pool', (setup) => {
  it('with concurrency "1:8" grows to 8 under a backlog and returns to 1 after scaleDownIdleMs idle', async () => {
    const t = await setup();
    const scaleDownIdleMs = 500;
    const worker = await t.startWorker({ concurrency: '1:8', scaleDownIdleMs });
    expect(worker.poolSize).toBe(1);

    let maxSize = 0;
    let maxRunning = 0;
    const sampler = t.every(5, async () => {
      maxSize = Math.max(maxSize, worker.poolSize);
      maxRunning = Math.max(maxRunning, worker.running);
    });
    const tasks = await t.submitMany(48, { type: 'sleep', payload: { ms: 300 } });
    await waitUntil(() => worker.poolSize === 8, 'the pool reached 8 slots', { timeoutMs: 10_000 });
    await waitUntil(() => worker.running === 8, 'eight tasks run at once', { timeoutMs: 10_000 });
    await t.waitForStates(
      tasks.map((task) => task.id),
      'completed',
      { timeoutMs: 20_000 },
    );
    await sampler.stop();
    expect(maxSize).toBe(8);
    expect(maxRunning).toBe(8);

    // Idle now: within a couple of idle periods the pool is back to its minimum.
    const idleFrom = Date.now();
    await waitUntil(() => worker.poolSize === 1, 'the pool shrank back to 1 slot', { timeoutMs: 10_000 });
    expect(Date.now() - idleFrom).toBeLessThan(scaleDownIdleMs * 4 + 1_000);

    // And it grows again when work comes back.
    const more = await t.submitMany(24, { type: 'sleep', payload: { ms: 300 } });
    await waitUntil(() => worker.poolSize > 1, 'the pool grew again', { timeoutMs: 10_000 });
    await t.waitForStates(
      more.map((task) => task.id),
      'completed',
      { timeoutMs: 20_000 },
    );
  });
});
