/**
 * Work stealing: an idle worker takes the prefetched, not yet started tasks of a slow one, so the
 * batch finishes sooner than when the slow worker runs them all itself.
 */
import { expect, it } from 'vitest';
import type { Task } from '../../src/types.js';
import { describeForEachStore, waitUntil, type WorkerTest } from './harness.js';

const TASKS = 11;
const PREFETCH = 10;
const TASK_MS = 300;

interface Run {
  ms: number;
  tasks: Task[];
  slowId: string;
  idleId: string;
}

/**
 * A slow worker (one slot, prefetch 10) claims all 11 tasks of a queue of its own: one runs, 10 wait
 * in its buffer. Then an idle worker (4 slots) starts; the time is taken from then to the last task.
 */
async function scenario(t: WorkerTest, steal: boolean): Promise<Run> {
  const queue = steal ? 'steal-on' : 'steal-off';
  const slow = await t.startWorker({ id: `slow-${queue}`, queues: [queue], concurrency: 1, prefetch: PREFETCH });
  const tasks = await t.submitMany(TASKS, { queue, type: 'sleep', payload: { ms: TASK_MS } });
  const ids = tasks.map((task) => task.id);
  await waitUntil(() => slow.running === 1 && slow.prefetched === PREFETCH, 'the slow worker holds 1 running and 10 prefetched', { timeoutMs: 5_000 });

  const started = Date.now();
  const idle = await t.startWorker({ id: `idle-${queue}`, queues: [queue], concurrency: 4, steal, stealIntervalMs: 100 });
  const done = await t.waitForStates(ids, 'completed', { timeoutMs: 20_000, intervalMs: 10 });
  const ms = Date.now() - started;
  await Promise.all([slow.stop(), idle.stop()]);
  return { ms, tasks: done, slowId: slow.id, idleId: idle.id };
}

describeForEachStore('worker: work stealing', (setup) => {
  it('an idle worker with steal on runs some of a slow worker’s prefetched tasks, and the batch finishes sooner than with steal off', async () => {
    const t = await setup();
    const off = await scenario(t, false);
    const on = await scenario(t, true);

    // Steal off: the slow worker runs every task, one at a time.
    expect(off.tasks.every((task) => task.workerId === off.slowId)).toBe(true);
    expect(off.ms).toBeGreaterThanOrEqual((TASKS - 1) * TASK_MS - 100);

    // Steal on: the idle worker ran some of them, each once, on the attempt of the first claim.
    const stolen = on.tasks.filter((task) => task.workerId === on.idleId);
    expect(stolen.length).toBeGreaterThanOrEqual(4);
    expect(on.tasks.every((task) => task.attempt === 1 && task.errors.length === 0)).toBe(true);
    console.log(`work stealing (${t.kind}): ${on.ms} ms with steal on (${stolen.length} stolen), ${off.ms} ms with steal off`);
    expect(on.ms).toBeLessThan(off.ms * 0.6);
  });
});
