import { expect } from 'vitest';
import { newTaskId } from '../../src/ids.js';
import type { Task } from '../../src/types.js';
import { newTask } from '../helpers/factories.js';
import {
  claim,
  claimOne,
  complete,
  expectConveyorError,
  fail,
  getTask,
  insertOne,
  insertTasks,
  LEASE_MS,
  leaseOf,
  type ConformanceArea,
  type StoreHarness,
} from './harness.js';

/** Kills a pending task for good through the ordinary path: claim, then a permanent failure. */
async function killTask(h: StoreHarness, task: Task): Promise<void> {
  const claimed = await claimOne(h, { queues: [task.queue], expectedId: task.id });
  expect(await fail(h, leaseOf(claimed), { permanent: true })).toBe('dead');
}

async function completeTask(h: StoreHarness, task: Task): Promise<void> {
  const claimed = await claimOne(h, { queues: [task.queue], expectedId: task.id });
  expect(await complete(h, leaseOf(claimed), `result of ${task.id}`)).toBe('completed');
}

function expectCancelledByDependency(task: Task, dependencyIds: string[]): void {
  expect(task).toMatchObject({ state: 'cancelled', error: { reason: 'dependency_failed', attempt: 0 } });
  expect(task.finishedAt).not.toBeNull();
  const message = task.error?.message ?? '';
  expect(
    dependencyIds.some((id) => message.includes(id)),
    `error message ${JSON.stringify(message)} names one of ${dependencyIds.join(', ')}`,
  ).toBe(true);
}

export const dependencyTests: ConformanceArea = (setup, test) => {
  test('a task with two unfinished dependencies is blocked and becomes claimable only after both complete', async () => {
    const h = await setup();
    // The dependencies wait in a queue of their own, so that claiming the dependent's queue shows
    // exactly whether the dependent is claimable.
    const first = await insertOne(h, { queue: 'deps' });
    const second = await insertOne(h, { queue: 'deps' });
    const dependent = await insertOne(h, { dependsOn: [first.id, second.id] });
    expect(dependent).toMatchObject({ state: 'blocked', dependsOn: [first.id, second.id] });

    await completeTask(h, first);
    expect((await getTask(h, dependent.id)).state).toBe('blocked');
    expect(await claim(h)).toEqual([]);

    await completeTask(h, second);
    expect((await getTask(h, dependent.id)).state).toBe('pending');
    await claimOne(h, { expectedId: dependent.id });
  });

  test('dependencies may come earlier in the same batch', async () => {
    const h = await setup();
    const parent = newTask();
    const child = newTask({ dependsOn: [parent.id] });
    const [insertedParent, insertedChild] = await insertTasks(h, [parent, child]);
    expect(insertedParent?.state).toBe('pending');
    expect(insertedChild?.state).toBe('blocked');

    await completeTask(h, await getTask(h, parent.id));
    await claimOne(h, { expectedId: child.id });
  });

  test('a task depending on an already completed task is pending at once', async () => {
    const h = await setup();
    const parent = await insertOne(h);
    await completeTask(h, parent);

    const child = await insertOne(h, { dependsOn: [parent.id] });
    expect(child.state).toBe('pending');
    await claimOne(h, { expectedId: child.id });
  });

  test('a dependency in another queue unblocks its dependent when it completes', async () => {
    const h = await setup();
    const upstream = await insertOne(h, { queue: 'upstream' });
    const downstream = await insertOne(h, { queue: 'downstream', dependsOn: [upstream.id] });
    expect(downstream.state).toBe('blocked');

    await completeTask(h, upstream);
    expect((await getTask(h, downstream.id)).state).toBe('pending');
    await claimOne(h, { queues: ['downstream'], expectedId: downstream.id });
  });

  test('when one dependency dies its dependent is cancelled with dependency_failed, naming it', async () => {
    const h = await setup();
    const healthy = await insertOne(h, { queue: 'healthy' });
    const doomed = await insertOne(h);
    const dependent = await insertOne(h, { dependsOn: [healthy.id, doomed.id] });

    await killTask(h, doomed);
    expectCancelledByDependency(await getTask(h, dependent.id), [doomed.id]);
    expect((await getTask(h, healthy.id)).state).toBe('pending');
  });

  test('a dead dependency cancels its dependents transitively', async () => {
    const h = await setup();
    const a = await insertOne(h);
    const b = await insertOne(h, { dependsOn: [a.id] });
    const c = await insertOne(h, { dependsOn: [b.id] });

    await killTask(h, a);
    expectCancelledByDependency(await getTask(h, b.id), [a.id]);
    // Either the direct dependency or the root cause is a fair name for C's failure.
    expectCancelledByDependency(await getTask(h, c.id), [b.id, a.id]);
  });

  test('cancelling a task cancels its dependents', async () => {
    const h = await setup();
    const parent = await insertOne(h);
    const child = await insertOne(h, { dependsOn: [parent.id] });

    expect(await h.store.cancelTasks({ ids: [parent.id], now: h.clock.now() })).toEqual([{ id: parent.id, outcome: 'cancelled' }]);
    expectCancelledByDependency(await getTask(h, child.id), [parent.id]);
  });

  test('a dependency that dies by lease expiry cancels its dependent', async () => {
    const h = await setup();
    const parent = await insertOne(h, { maxAttempts: 1 });
    const child = await insertOne(h, { dependsOn: [parent.id] });
    await claimOne(h, { expectedId: parent.id });
    h.clock.advance(LEASE_MS + 1);

    expect((await h.store.reclaimExpiredLeases({ limit: 100, now: h.clock.now() })).dead).toEqual([parent.id]);
    expectCancelledByDependency(await getTask(h, child.id), [parent.id]);
  });

  test('a dependency that dies by deadline cancels its dependent', async () => {
    const h = await setup();
    const parent = await insertOne(h, { deadline: h.clock.now() + 10_000 });
    const child = await insertOne(h, { dependsOn: [parent.id] });
    h.clock.advance(10_001);

    expect(await h.store.expireDeadlines({ limit: 100, now: h.clock.now() })).toEqual([parent.id]);
    expectCancelledByDependency(await getTask(h, child.id), [parent.id]);
  });

  test('a task depending on a dead or cancelled task is inserted cancelled', async () => {
    const h = await setup();
    const dead = await insertOne(h);
    await killTask(h, dead);
    const cancelled = await insertOne(h);
    await h.store.cancelTasks({ ids: [cancelled.id], now: h.clock.now() });

    expectCancelledByDependency(await insertOne(h, { dependsOn: [dead.id] }), [dead.id]);
    expectCancelledByDependency(await insertOne(h, { dependsOn: [cancelled.id] }), [cancelled.id]);
  });

  test('an unknown dependency id rejects the whole batch with CONVEYOR_DEPENDENCY_NOT_FOUND and writes nothing', async () => {
    const h = await setup();
    const valid = newTask({ queue: 'first', key: 'valid-key' });
    const sibling = newTask({ queue: 'second', dependsOn: [valid.id] });
    const orphan = newTask({ queue: 'second', dependsOn: [valid.id, newTaskId()] });

    await expectConveyorError(
      h.store.insertTasks({ tasks: [valid, sibling, orphan], now: h.clock.now() }),
      'CONVEYOR_DEPENDENCY_NOT_FOUND',
    );
    expect(await h.store.getTasks({ ids: [valid.id, sibling.id, orphan.id] })).toEqual([null, null, null]);
    // Nothing half-written: the key is still free.
    const { items } = await h.store.insertTasks({ tasks: [newTask({ queue: 'first', key: 'valid-key' })], now: h.clock.now() });
    expect(items[0]?.created).toBe(true);
  });
};
