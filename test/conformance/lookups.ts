import { expect } from 'vitest';
import { newTaskId } from '../../src/ids.js';
import type { Task } from '../../src/types.js';
import { claimOne, complete, fail, getTask, insertOne, leaseOf, type ConformanceArea, type StoreHarness } from './harness.js';

async function completeTask(h: StoreHarness, task: Task): Promise<void> {
  const claimed = await claimOne(h, { queues: [task.queue], expectedId: task.id });
  expect(await complete(h, leaseOf(claimed))).toBe('completed');
}

/** Lookups the dashboard needs: a task by its idempotency key, and the tasks still waiting on a task. */
export const lookupTests: ConformanceArea = (setup, test) => {
  test('findTasksByKey answers each (queue, key) in input order, null when no task holds it', async () => {
    const h = await setup();
    const a = await insertOne(h, { queue: 'keys-a', key: 'order-1' });
    const b = await insertOne(h, { queue: 'keys-b', key: 'order-1' });
    const c = await insertOne(h, { queue: 'keys-a', key: 'order-2' });
    await insertOne(h, { queue: 'keys-a' });

    const found = await h.store.findTasksByKey({
      items: [
        { queue: 'keys-b', key: 'order-1' },
        { queue: 'keys-a', key: 'missing' },
        { queue: 'keys-a', key: 'order-2' },
        { queue: 'keys-a', key: 'order-1' },
        { queue: 'no-such-queue', key: 'order-1' },
        { queue: 'keys-a', key: 'order-1' },
      ],
    });
    expect(found.map((t) => t?.id ?? null)).toEqual([b.id, null, c.id, a.id, null, a.id]);
    expect(found[3]).toEqual(a);
    expect(await h.store.findTasksByKey({ items: [] })).toEqual([]);
  });

  test('findTasksByKey follows the task through its states until retention deletes it', async () => {
    const h = await setup();
    const task = await insertOne(h, { queue: 'keys-life', key: 'k' });
    await completeTask(h, task);
    const [done] = await h.store.findTasksByKey({ items: [{ queue: 'keys-life', key: 'k' }] });
    expect(done).toMatchObject({ id: task.id, state: 'completed', key: 'k' });

    h.clock.advance(1_000);
    expect(await h.store.deleteFinishedTasks({ state: 'completed', olderThanMs: 0, limit: 100, now: h.clock.now() })).toBe(1);
    expect(await h.store.findTasksByKey({ items: [{ queue: 'keys-life', key: 'k' }] })).toEqual([null]);
  });

  test('dependentsOf lists the blocked tasks waiting on each id, across queues, in id order', async () => {
    const h = await setup();
    const root = await insertOne(h, { queue: 'dep-root' });
    const same = await insertOne(h, { queue: 'dep-root', dependsOn: [root.id] });
    const other = await insertOne(h, { queue: 'dep-other', dependsOn: [root.id] });
    const grandchild = await insertOne(h, { queue: 'dep-other', dependsOn: [same.id] });
    const unknown = newTaskId();

    expect(await h.store.dependentsOf({ ids: [root.id, same.id, grandchild.id, unknown] })).toEqual([
      [same.id, other.id].sort(),
      [grandchild.id],
      [],
      [],
    ]);
    expect(await h.store.dependentsOf({ ids: [] })).toEqual([]);

    // The root completes: its dependents are released, so nothing waits on it any more.
    await completeTask(h, root);
    expect((await getTask(h, same.id)).state).toBe('pending');
    expect(await h.store.dependentsOf({ ids: [root.id, same.id] })).toEqual([[], [grandchild.id]]);
  });

  test('dependentsOf leaves out a dependent still waiting on another task, and cancelled dependents', async () => {
    const h = await setup();
    const first = await insertOne(h, { queue: 'dep-two' });
    const second = await insertOne(h, { queue: 'dep-two' });
    const both = await insertOne(h, { queue: 'dep-wait', dependsOn: [first.id, second.id] });
    const cancelled = await insertOne(h, { queue: 'dep-wait', dependsOn: [second.id] });
    expect(await h.store.cancelTasks({ ids: [cancelled.id], now: h.clock.now() })).toEqual([{ id: cancelled.id, outcome: 'cancelled' }]);

    expect(await h.store.dependentsOf({ ids: [first.id, second.id] })).toEqual([[both.id], [both.id]]);
    await completeTask(h, first);
    expect((await getTask(h, both.id)).state).toBe('blocked');
    expect(await h.store.dependentsOf({ ids: [first.id, second.id] })).toEqual([[], [both.id]]);
  });

  test('dependentsOf is empty once the task died (its dependents were cancelled)', async () => {
    const h = await setup();
    const dependency = await insertOne(h, { queue: 'dep-dies' });
    const dependent = await insertOne(h, { queue: 'dep-dies-2', dependsOn: [dependency.id] });
    expect(await h.store.dependentsOf({ ids: [dependency.id] })).toEqual([[dependent.id]]);
    const claimed = await claimOne(h, { queues: ['dep-dies'], expectedId: dependency.id });
    expect(await fail(h, leaseOf(claimed), { permanent: true })).toBe('dead');
    expect((await getTask(h, dependent.id)).state).toBe('cancelled');
    expect(await h.store.dependentsOf({ ids: [dependency.id] })).toEqual([[]]);
  });
};
