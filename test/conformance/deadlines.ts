import { expect } from 'vitest';
import type { Task } from '../../src/types.js';
import { claim, claimOne, complete, fail, getTask, insertOne, LEASE_MS, leaseOf, type ConformanceArea, type StoreHarness } from './harness.js';

function expire(h: StoreHarness): Promise<string[]> {
  return h.store.expireDeadlines({ limit: 100, now: h.clock.now() });
}

function expectDeadByDeadline(task: Task, finishedAt: number): void {
  expect(task).toMatchObject({ state: 'dead', finishedAt, leaseExpiresAt: null, error: { reason: 'deadline_exceeded' } });
}

export const deadlineTests: ConformanceArea = (setup, test) => {
  test('expireDeadlines ends a pending task past its deadline dead with deadline_exceeded', async () => {
    const h = await setup();
    const task = await insertOne(h, { deadline: h.clock.now() + 10_000 });
    h.clock.advance(10_001);

    expect(await expire(h)).toEqual([task.id]);
    expectDeadByDeadline(await getTask(h, task.id), h.clock.now());
    expect(await expire(h)).toEqual([]);
  });

  test('expireDeadlines ends a processing task past its deadline dead and fences its worker out', async () => {
    const h = await setup();
    const task = await insertOne(h, { deadline: h.clock.now() + 10_000 });
    const claimed = await claimOne(h, { expectedId: task.id, leaseMs: LEASE_MS });
    h.clock.advance(10_001);

    expect(await expire(h)).toEqual([task.id]);
    const diedAt = h.clock.now();
    expectDeadByDeadline(await getTask(h, task.id), diedAt);

    expect(await complete(h, leaseOf(claimed), 'too late')).toBe('lease_lost');
    const renewal = await h.store.renewLeases({ leases: [leaseOf(claimed)], leaseMs: LEASE_MS, now: h.clock.now() });
    expect(renewal.lost).toEqual([task.id]);
    expect(await getTask(h, task.id)).toMatchObject({ state: 'dead', result: null, finishedAt: diedAt });
  });

  test('expireDeadlines ends scheduled and blocked tasks past their deadline', async () => {
    const h = await setup();
    const now = h.clock.now();
    const blocker = await insertOne(h, { queue: 'slow' });
    const scheduled = await insertOne(h, { runAt: now + 60_000, deadline: now + 30_000 });
    const blocked = await insertOne(h, { dependsOn: [blocker.id], deadline: now + 30_000 });
    expect([scheduled.state, blocked.state]).toEqual(['scheduled', 'blocked']);
    h.clock.advance(30_001);

    expect([...(await expire(h))].sort()).toEqual([scheduled.id, blocked.id].sort());
    expectDeadByDeadline(await getTask(h, scheduled.id), h.clock.now());
    expectDeadByDeadline(await getTask(h, blocked.id), h.clock.now());
    expect((await getTask(h, blocker.id)).state).toBe('pending');
  });

  test('expireDeadlines leaves tasks before their deadline alone', async () => {
    const h = await setup();
    const task = await insertOne(h, { deadline: h.clock.now() + 10_000 });
    await insertOne(h);
    h.clock.advance(9_000);

    expect(await expire(h)).toEqual([]);
    expect((await getTask(h, task.id)).state).toBe('pending');
  });

  test('a claim after the deadline never hands the task out and ends it dead', async () => {
    const h = await setup();
    const late = await insertOne(h, { priority: 10, deadline: h.clock.now() + 10_000 });
    const onTime = await insertOne(h, { priority: 1 });
    h.clock.advance(10_001);

    expect((await claim(h)).map((t) => t.id)).toEqual([onTime.id]);
    expectDeadByDeadline(await getTask(h, late.id), h.clock.now());
  });

  test('a retry that would land after the deadline ends the task dead with deadline_exceeded', async () => {
    const h = await setup();
    const task = await insertOne(h, { maxAttempts: 5, deadline: h.clock.now() + 10_000 });
    const claimed = await claimOne(h, { expectedId: task.id });
    h.clock.advance(1_000);

    expect(await fail(h, leaseOf(claimed), { message: 'upstream 503', retryDelayMs: 20_000 })).toBe('dead');
    const dead = await getTask(h, task.id);
    expectDeadByDeadline(dead, h.clock.now());
    // The handler's own failure is not lost behind the deadline.
    expect(dead.errors.some((e) => e.message.includes('upstream 503'))).toBe(true);
  });

  test('a retry that lands before the deadline is scheduled as usual', async () => {
    const h = await setup();
    const task = await insertOne(h, { maxAttempts: 5, deadline: h.clock.now() + 60_000 });
    const claimed = await claimOne(h, { expectedId: task.id });

    expect(await fail(h, leaseOf(claimed), { retryDelayMs: 20_000 })).toBe('scheduled');
    expect(await getTask(h, task.id)).toMatchObject({ state: 'scheduled', runAt: h.clock.now() + 20_000 });
  });
};
