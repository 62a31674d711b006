import { expect } from 'vitest';
import { newTaskId } from '../../src/ids.js';
import { claim, claimOne, fail, finishOne, getTask, insertOne, leaseOf, seedTasks, type ConformanceArea, type StoreHarness } from './harness.js';

function cancel(h: StoreHarness, ids: string[]) {
  return h.store.cancelTasks({ ids, now: h.clock.now() });
}

function retry(h: StoreHarness, ids: string[]) {
  return h.store.retryTasks({ ids, now: h.clock.now() });
}

export const cancelAndRetryTests: ConformanceArea = (setup, test) => {
  test('cancelTasks ends pending, scheduled and blocked tasks cancelled', async () => {
    const h = await setup();
    const blocker = await insertOne(h, { queue: 'other' });
    const pending = await insertOne(h);
    const scheduled = await insertOne(h, { runAt: h.clock.now() + 60_000 });
    const blocked = await insertOne(h, { dependsOn: [blocker.id] });

    expect(await cancel(h, [pending.id, scheduled.id, blocked.id])).toEqual([
      { id: pending.id, outcome: 'cancelled' },
      { id: scheduled.id, outcome: 'cancelled' },
      { id: blocked.id, outcome: 'cancelled' },
    ]);
    for (const id of [pending.id, scheduled.id, blocked.id]) {
      expect(await getTask(h, id)).toMatchObject({ state: 'cancelled', finishedAt: h.clock.now() });
    }
    h.clock.advance(120_000);
    expect(await claim(h)).toEqual([]);
  });

  test('cancelling a processing task asks for a cancel and keeps it processing', async () => {
    const h = await setup();
    const claimed = await claimOne(h, { expectedId: (await insertOne(h)).id });

    expect(await cancel(h, [claimed.id])).toEqual([{ id: claimed.id, outcome: 'cancel_requested' }]);
    expect(await getTask(h, claimed.id)).toMatchObject({ state: 'processing', cancelRequested: true, leaseExpiresAt: claimed.leaseExpiresAt });
  });

  test('a cancel-requested task whose worker finishes with outcome cancel ends cancelled', async () => {
    const h = await setup();
    const claimed = await claimOne(h, { expectedId: (await insertOne(h)).id });
    await cancel(h, [claimed.id]);

    expect(await finishOne(h, leaseOf(claimed), { outcome: 'cancel' })).toBe('cancelled');
    expect(await getTask(h, claimed.id)).toMatchObject({ state: 'cancelled', finishedAt: h.clock.now(), leaseExpiresAt: null });
  });

  test('a cancel requested during an attempt wins over the retry its failure would schedule', async () => {
    const h = await setup();
    const claimed = await claimOne(h, { expectedId: (await insertOne(h)).id });
    await cancel(h, [claimed.id]);

    expect(await fail(h, leaseOf(claimed), { retryDelayMs: 1000 })).toBe('cancelled');
    const task = await getTask(h, claimed.id);
    expect(task).toMatchObject({ state: 'cancelled', error: { reason: 'cancelled' } });
    expect(task.errors.map((e) => e.reason)).toEqual(['error', 'cancelled']);
  });

  test('a cancel requested during an attempt wins over a release', async () => {
    const h = await setup();
    const claimed = await claimOne(h, { expectedId: (await insertOne(h)).id });
    await cancel(h, [claimed.id]);

    expect(await finishOne(h, leaseOf(claimed), { outcome: 'release' })).toBe('cancelled');
    h.clock.advance(60_000);
    expect(await claim(h)).toEqual([]);
  });

  test('cancelTasks reports completed, dead and cancelled tasks as already_finished', async () => {
    const h = await setup();
    const [completed, dead, cancelled] = await seedTasks(h, [{ state: 'completed' }, { state: 'dead' }, { state: 'cancelled' }]);
    const ids = [completed!.id, dead!.id, cancelled!.id];

    expect(await cancel(h, ids)).toEqual(ids.map((id) => ({ id, outcome: 'already_finished' })));
    expect((await h.store.getTasks({ ids })).map((t) => t?.state)).toEqual(['completed', 'dead', 'cancelled']);
  });

  test('cancelTasks reports unknown ids as not_found, in input order', async () => {
    const h = await setup();
    const task = await insertOne(h);
    const unknown = newTaskId();

    expect(await cancel(h, [unknown, task.id])).toEqual([
      { id: unknown, outcome: 'not_found' },
      { id: task.id, outcome: 'cancelled' },
    ]);
  });

  test('retryTasks revives a dead task: pending, attempts reset, error history kept', async () => {
    const h = await setup();
    const task = await insertOne(h, { maxAttempts: 2 });
    await fail(h, leaseOf(await claimOne(h, { expectedId: task.id })), { message: 'first', retryDelayMs: 1_000 });
    h.clock.advance(1_001);
    expect(await fail(h, leaseOf(await claimOne(h, { expectedId: task.id })), { message: 'second' })).toBe('dead');
    const dead = await getTask(h, task.id);

    expect(await retry(h, [task.id])).toEqual([{ id: task.id, outcome: 'retried' }]);
    const revived = await getTask(h, task.id);
    expect(revived).toMatchObject({ state: 'pending', attempt: 0 });
    expect(revived.errors.slice(0, dead.errors.length)).toEqual(dead.errors);

    // A fresh set of attempts: the next failure is retried again instead of ending the task.
    const claimed = await claimOne(h, { expectedId: task.id });
    expect(claimed.attempt).toBe(1);
    expect(await fail(h, leaseOf(claimed), { message: 'third' })).toBe('scheduled');
  });

  test('retryTasks revives a cancelled task', async () => {
    const h = await setup();
    const task = await insertOne(h);
    await cancel(h, [task.id]);

    expect(await retry(h, [task.id])).toEqual([{ id: task.id, outcome: 'retried' }]);
    expect(await getTask(h, task.id)).toMatchObject({ state: 'pending', attempt: 0 });
    await claimOne(h, { expectedId: task.id });
  });

  test('retryTasks refuses completed and unfinished tasks as not_retryable and unknown ids as not_found', async () => {
    const h = await setup();
    const [completed, pending, processing] = await seedTasks(h, [{ state: 'completed' }, { state: 'pending' }, { state: 'processing' }]);
    const unknown = newTaskId();

    expect(await retry(h, [completed!.id, unknown, pending!.id, processing!.id])).toEqual([
      { id: completed!.id, outcome: 'not_retryable' },
      { id: unknown, outcome: 'not_found' },
      { id: pending!.id, outcome: 'not_retryable' },
      { id: processing!.id, outcome: 'not_retryable' },
    ]);
    expect((await getTask(h, completed!.id)).state).toBe('completed');
  });
};
