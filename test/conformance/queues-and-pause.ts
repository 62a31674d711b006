import { expect } from 'vitest';
import type { QueueInfo } from '../../src/store/store.js';
import { claim, claimOne, getTask, insertOne, type ConformanceArea, type StoreHarness } from './harness.js';

async function listQueuesSorted(h: StoreHarness): Promise<QueueInfo[]> {
  return [...(await h.store.listQueues())].sort((a, b) => a.name.localeCompare(b.name));
}

export const queueAndPauseTests: ConformanceArea = (setup, test) => {
  test('a paused queue yields nothing to claim, and tasks inserted into it wait as pending', async () => {
    const h = await setup();
    const before = await insertOne(h);
    await h.store.setQueuePaused({ queue: 'default', paused: true });
    const after = await insertOne(h);

    expect(after.state).toBe('pending');
    expect(await claim(h)).toEqual([]);
    expect((await getTask(h, before.id)).state).toBe('pending');
  });

  test('resuming a paused queue makes its tasks claimable', async () => {
    const h = await setup();
    const task = await insertOne(h);
    await h.store.setQueuePaused({ queue: 'default', paused: true });
    expect(await claim(h)).toEqual([]);

    await h.store.setQueuePaused({ queue: 'default', paused: false });
    await claimOne(h, { expectedId: task.id });
  });

  test('pausing one queue leaves the other queues claimable', async () => {
    const h = await setup();
    await insertOne(h, { queue: 'paused' });
    const active = await insertOne(h, { queue: 'active' });
    await h.store.setQueuePaused({ queue: 'paused', paused: true });

    expect((await claim(h, { queues: ['paused', 'active'] })).map((t) => t.id)).toEqual([active.id]);
  });

  test('listQueues shows every queue that held a task and whether it is paused', async () => {
    const h = await setup();
    await insertOne(h, { queue: 'emails' });
    await insertOne(h, { queue: 'images' });
    await h.store.setQueuePaused({ queue: 'images', paused: true });

    expect(await listQueuesSorted(h)).toEqual([
      { name: 'emails', paused: false },
      { name: 'images', paused: true },
    ]);
    await h.store.setQueuePaused({ queue: 'images', paused: false });
    expect(await listQueuesSorted(h)).toEqual([
      { name: 'emails', paused: false },
      { name: 'images', paused: false },
    ]);
  });

  test('a queue paused before it ever held a task is listed as paused', async () => {
    const h = await setup();
    await h.store.setQueuePaused({ queue: 'future', paused: true });

    expect(await listQueuesSorted(h)).toEqual([{ name: 'future', paused: true }]);
    await insertOne(h, { queue: 'future' });
    expect(await claim(h, { queues: ['future'] })).toEqual([]);
  });
};
