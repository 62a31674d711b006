import { expect } from 'vitest';
import { newTaskId } from '../../src/ids.js';
import type { LeaseRef } from '../../src/store/store.js';
import type { ClaimedTask } from '../../src/types.js';
import { newTask } from '../helpers/factories.js';
import {
  claimOne,
  complete,
  fail,
  finishOne,
  getTask,
  getTasks,
  insertOne,
  insertTasks,
  LEASE_MS,
  leaseOf,
  WORKER_ID,
  type ConformanceArea,
  type StoreHarness,
} from './harness.js';

const THIEF = 'worker-thief';

interface PrefetchOptions {
  queues?: string[];
  limit?: number;
  startLimit?: number;
  workerId?: string;
  leaseMs?: number;
}

/** A claim with `startLimit` (0 unless told: every task prefetched). */
async function claimPrefetching(h: StoreHarness, options: PrefetchOptions = {}): Promise<ClaimedTask[]> {
  return h.store.claimTasks({
    queues: options.queues ?? ['default'],
    workerId: options.workerId ?? WORKER_ID,
    limit: options.limit ?? 100,
    startLimit: options.startLimit ?? 0,
    leaseMs: options.leaseMs ?? LEASE_MS,
    now: h.clock.now(),
  });
}

/** Prefetches exactly one task for `workerId` and returns it. */
async function prefetchOne(h: StoreHarness, workerId = WORKER_ID, queue = 'default'): Promise<ClaimedTask> {
  const claimed = await claimPrefetching(h, { queues: [queue], limit: 1, workerId });
  expect(claimed).toHaveLength(1);
  return claimed[0]!;
}

/** Inserts one task into `default` and prefetches it for `workerId`. */
async function insertAndPrefetch(h: StoreHarness, workerId = WORKER_ID): Promise<ClaimedTask> {
  const task = await insertOne(h);
  const prefetched = await prefetchOne(h, workerId);
  expect(prefetched.id).toBe(task.id);
  return prefetched;
}

async function start(h: StoreHarness, leases: LeaseRef[]) {
  return h.store.startTasks({ leases, now: h.clock.now() });
}

async function steal(h: StoreHarness, options: { queues?: string[]; limit?: number; leaseMs?: number; workerId?: string } = {}) {
  return h.store.stealTasks({
    queues: options.queues ?? ['default'],
    workerId: options.workerId ?? THIEF,
    limit: options.limit ?? 100,
    leaseMs: options.leaseMs ?? LEASE_MS,
    now: h.clock.now(),
  });
}

export const prefetchAndStealingTests: ConformanceArea = (setup, test) => {
  test('claimTasks with startLimit starts the first tasks in claim order and prefetches the rest', async () => {
    const h = await setup();
    const [low, high, mid, lower] = [newTask({ priority: 1 }), newTask({ priority: 9 }), newTask({ priority: 5 }), newTask({ priority: 3 })];
    await insertTasks(h, [low, high, mid, lower]);
    const now = h.clock.now();

    const claimed = await claimPrefetching(h, { limit: 3, startLimit: 2 });
    expect(claimed.map((t) => t.id)).toEqual([high.id, mid.id, lower.id]);
    expect(claimed.map((t) => t.startedAt)).toEqual([now, now, null]);
    for (const task of claimed) {
      expect(task).toMatchObject({ state: 'processing', attempt: 1, workerId: WORKER_ID, leaseExpiresAt: now + LEASE_MS });
      expect(task.leaseToken).toEqual(expect.any(String));
    }

    const stored = await getTasks(h, [high.id, mid.id, lower.id, low.id]);
    expect(stored.map((t) => [t.state, t.startedAt])).toEqual([
      ['processing', now],
      ['processing', now],
      ['processing', null],
      ['pending', null],
    ]);
  });

  test('claimTasks with startLimit 0 prefetches every task, and without startLimit starts every task', async () => {
    const h = await setup();
    await insertTasks(h, [newTask(), newTask(), newTask(), newTask()]);
    const now = h.clock.now();

    const prefetched = await claimPrefetching(h, { limit: 2, startLimit: 0 });
    expect(prefetched.map((t) => t.startedAt)).toEqual([null, null]);

    const started = await h.store.claimTasks({ queues: ['default'], workerId: WORKER_ID, limit: 2, leaseMs: LEASE_MS, now });
    expect(started.map((t) => t.startedAt)).toEqual([now, now]);
    expect((await getTasks(h, prefetched.map((t) => t.id))).map((t) => [t.state, t.startedAt])).toEqual([
      ['processing', null],
      ['processing', null],
    ]);
  });

  test('startLimit counts across the queues of one claim, in their order of preference', async () => {
    const h = await setup();
    const first = await insertOne(h, { queue: 'first' });
    const second = [await insertOne(h, { queue: 'second' }), await insertOne(h, { queue: 'second' })];
    const now = h.clock.now();

    const claimed = await claimPrefetching(h, { queues: ['first', 'second'], limit: 3, startLimit: 2 });
    expect(claimed.map((t) => [t.id, t.startedAt])).toEqual([
      [first.id, now],
      [second[0]!.id, now],
      [second[1]!.id, null],
    ]);
  });

  test('startTasks starts held prefetched tasks and reports stolen, finished, reclaimed and unknown ones as lost', async () => {
    const h = await setup();
    await insertTasks(h, [newTask(), newTask(), newTask()]);
    // Claimed first, so it is the oldest claim: the one a steal takes.
    const toSteal = await prefetchOne(h, WORKER_ID);
    h.clock.advance(1_000);
    const [held, finished] = (await claimPrefetching(h, { limit: 2 })) as [ClaimedTask, ClaimedTask];
    await insertOne(h, { queue: 'other' });
    const [reclaimed] = (await claimPrefetching(h, { queues: ['other'], limit: 1, leaseMs: 500 })) as [ClaimedTask];
    const unknown: LeaseRef = { id: newTaskId(), queue: 'default', token: 'no-such-token' };

    expect(await complete(h, leaseOf(finished))).toBe('completed');
    expect((await steal(h, { limit: 1 })).map((t) => t.id)).toEqual([toSteal.id]);
    h.clock.advance(501);
    expect(await h.store.reclaimExpiredLeases({ limit: 100, now: h.clock.now() })).toEqual({ retried: [reclaimed.id], dead: [], cancelled: [] });
    h.clock.advance(1_000);

    const result = await start(h, [leaseOf(finished), leaseOf(held), leaseOf(toSteal), leaseOf(reclaimed), unknown]);
    expect(result.started).toEqual([held.id]);
    expect([...result.lost].sort()).toEqual([finished.id, toSteal.id, reclaimed.id, unknown.id].sort());
    expect(result.cancelRequested).toEqual([]);

    expect(await getTask(h, held.id)).toMatchObject({ state: 'processing', workerId: WORKER_ID, startedAt: h.clock.now() });
    expect(await getTask(h, finished.id)).toMatchObject({ state: 'completed' });
    expect(await getTask(h, toSteal.id)).toMatchObject({ state: 'processing', workerId: THIEF });
    expect(await getTask(h, reclaimed.id)).toMatchObject({ state: 'pending', attempt: 1, startedAt: null });
  });

  test('startTasks sets startedAt to now and keeps the task held under the same token', async () => {
    const h = await setup();
    const prefetched = await insertAndPrefetch(h);
    h.clock.advance(5_000);

    expect(await start(h, [leaseOf(prefetched)])).toEqual({ started: [prefetched.id], lost: [], cancelRequested: [] });
    const started = await getTask(h, prefetched.id);
    expect(started).toMatchObject({ state: 'processing', attempt: 1, workerId: WORKER_ID, startedAt: h.clock.now() });
    // A started task is no prefetch any more: nobody can steal it.
    expect(await steal(h)).toEqual([]);
    expect((await h.store.renewLeases({ leases: [leaseOf(prefetched)], leaseMs: LEASE_MS, now: h.clock.now() })).lost).toEqual([]);
    expect(await complete(h, leaseOf(prefetched), 'done')).toBe('completed');
  });

  test('startTasks reports a prefetched task whose lease expired as lost, and leaves it to reclaim', async () => {
    const h = await setup();
    const prefetched = await insertAndPrefetch(h);
    h.clock.set(prefetched.leaseExpiresAt + 1);

    expect(await start(h, [leaseOf(prefetched)])).toEqual({ started: [], lost: [prefetched.id], cancelRequested: [] });
    expect(await getTask(h, prefetched.id)).toMatchObject({ state: 'processing', startedAt: null });
    expect((await h.store.reclaimExpiredLeases({ limit: 100, now: h.clock.now() })).retried).toEqual([prefetched.id]);
  });

  test('startTasks reports a cancel asked for a prefetched task', async () => {
    const h = await setup();
    const prefetched = await insertAndPrefetch(h);
    expect(await h.store.cancelTasks({ ids: [prefetched.id], now: h.clock.now() })).toEqual([
      { id: prefetched.id, outcome: 'cancel_requested' },
    ]);

    expect(await start(h, [leaseOf(prefetched)])).toEqual({ started: [prefetched.id], lost: [], cancelRequested: [prefetched.id] });
    expect(await finishOne(h, leaseOf(prefetched), { outcome: 'cancel' })).toBe('cancelled');
    expect(await getTask(h, prefetched.id)).toMatchObject({ state: 'cancelled', error: { reason: 'cancelled' } });
  });

  test('a prefetched task is completed, failed, cancelled and reclaimed like a started one', async () => {
    const h = await setup();
    await insertTasks(h, [newTask(), newTask(), newTask(), newTask({ maxAttempts: 1 })]);
    const [toComplete, toFail, toCancel, toReclaim] = (await claimPrefetching(h, { limit: 4 })) as [
      ClaimedTask,
      ClaimedTask,
      ClaimedTask,
      ClaimedTask,
    ];

    expect(await complete(h, leaseOf(toComplete), 'early')).toBe('completed');
    expect(await fail(h, leaseOf(toFail), { retryDelayMs: 1_000 })).toBe('scheduled');
    expect(await h.store.cancelTasks({ ids: [toCancel.id], now: h.clock.now() })).toEqual([{ id: toCancel.id, outcome: 'cancel_requested' }]);
    const renewal = await h.store.renewLeases({ leases: [leaseOf(toCancel)], leaseMs: LEASE_MS, now: h.clock.now() });
    expect(renewal.cancelRequested).toEqual([toCancel.id]);
    expect(await finishOne(h, leaseOf(toCancel), { outcome: 'cancel' })).toBe('cancelled');
    h.clock.set(toReclaim.leaseExpiresAt + 1);
    expect(await h.store.reclaimExpiredLeases({ limit: 100, now: h.clock.now() })).toEqual({ retried: [], dead: [toReclaim.id], cancelled: [] });

    expect((await getTasks(h, [toComplete.id, toFail.id, toCancel.id, toReclaim.id])).map((t) => [t.state, t.attempt])).toEqual([
      ['completed', 1],
      ['scheduled', 1],
      ['cancelled', 1],
      ['dead', 1],
    ]);
    expect(await getTask(h, toComplete.id)).toMatchObject({ result: 'early' });
  });

  test('stealTasks takes only other workers’ prefetched tasks in the given queues, oldest claim first', async () => {
    const h = await setup();
    // Ids minted now: `newer` gets the smaller id and the higher priority, yet is claimed later, so
    // only the claim time can put `older` first.
    const newer = newTask({ priority: 9 });
    const older = newTask({ priority: 1 });
    await insertTasks(h, [older]);
    expect((await prefetchOne(h, 'worker-1')).id).toBe(older.id);
    h.clock.advance(1_000);
    await insertTasks(h, [newer]);
    expect((await prefetchOne(h, 'worker-2')).id).toBe(newer.id);
    h.clock.advance(1_000);
    // Not to be taken: a started task, the thief's own prefetch, one in another queue, a pending one.
    const startedTask = await insertOne(h);
    const started = await claimOne(h, { workerId: 'worker-1', expectedId: startedTask.id });
    const ownTask = await insertOne(h);
    const own = await prefetchOne(h, THIEF);
    expect(own.id).toBe(ownTask.id);
    await insertOne(h, { queue: 'elsewhere' });
    const elsewhere = await prefetchOne(h, 'worker-1', 'elsewhere');
    const pending = await insertOne(h);
    h.clock.advance(1_000);

    const first = await steal(h, { limit: 1 });
    expect(first.map((t) => t.id)).toEqual([older.id]);
    h.clock.advance(1_000);
    const second = await steal(h, { limit: 10 });
    expect(second.map((t) => t.id)).toEqual([newer.id]);
    expect(await steal(h, { limit: 10 })).toEqual([]);

    expect(await getTask(h, started.id)).toMatchObject({ state: 'processing', workerId: 'worker-1', startedAt: started.startedAt });
    expect(await getTask(h, own.id)).toMatchObject({ state: 'processing', workerId: THIEF, startedAt: null });
    expect(await getTask(h, elsewhere.id)).toMatchObject({ state: 'processing', workerId: 'worker-1', startedAt: null });
    expect(await getTask(h, pending.id)).toMatchObject({ state: 'pending', attempt: 0 });
  });

  test('a stolen task starts at once under a fresh token and lease, the attempt unchanged', async () => {
    const h = await setup();
    const victim = await insertAndPrefetch(h, 'worker-1');
    h.clock.advance(2_000);

    const [stolen] = await steal(h, { leaseMs: 60_000 });
    expect(stolen).toBeDefined();
    expect(stolen).toMatchObject({
      id: victim.id,
      state: 'processing',
      attempt: victim.attempt,
      workerId: THIEF,
      startedAt: h.clock.now(),
      leaseExpiresAt: h.clock.now() + 60_000,
    });
    expect(stolen!.leaseToken).toEqual(expect.any(String));
    expect(stolen!.leaseToken).not.toBe(victim.leaseToken);
    expect(stolen).toEqual({ ...(await getTask(h, victim.id)), leaseToken: stolen!.leaseToken });
  });

  test('after a steal the former holder’s token is refused by startTasks, renewLeases and finishTasks', async () => {
    const h = await setup();
    const victim = await insertAndPrefetch(h, 'worker-1');
    const [stolen] = await steal(h);
    expect(stolen?.id).toBe(victim.id);
    const before = await getTask(h, victim.id);

    const old = leaseOf(victim);
    expect(await start(h, [old])).toEqual({ started: [], lost: [victim.id], cancelRequested: [] });
    expect(await h.store.renewLeases({ leases: [{ ...old, progress: 'stale' }], leaseMs: LEASE_MS, now: h.clock.now() })).toEqual({
      renewed: [],
      lost: [victim.id],
      cancelRequested: [],
    });
    expect(await complete(h, old, 'stale result')).toBe('lease_lost');
    expect(await fail(h, old)).toBe('lease_lost');
    expect(await finishOne(h, old, { outcome: 'release' })).toBe('lease_lost');
    expect(await finishOne(h, old, { outcome: 'cancel' })).toBe('lease_lost');
    expect(await getTask(h, victim.id)).toEqual(before);
  });

  test('a stolen task completes under the thief’s token', async () => {
    const h = await setup();
    const victim = await insertAndPrefetch(h, 'worker-1');
    const [stolen] = await steal(h);
    if (!stolen) throw new Error('nothing was stolen');
    h.clock.advance(1_000);

    const renewal = await h.store.renewLeases({ leases: [leaseOf(stolen)], leaseMs: LEASE_MS, now: h.clock.now() });
    expect(renewal.renewed.map((r) => r.id)).toEqual([victim.id]);
    expect(await complete(h, leaseOf(stolen), 'stolen result')).toBe('completed');
    expect(await getTask(h, victim.id)).toMatchObject({ state: 'completed', result: 'stolen result', attempt: 1, workerId: THIEF, errors: [] });
  });

  test('stealTasks on a paused queue yields nothing', async () => {
    const h = await setup();
    const victim = await insertAndPrefetch(h, 'worker-1');
    await h.store.setQueuePaused({ queue: 'default', paused: true });

    expect(await steal(h)).toEqual([]);
    expect(await getTask(h, victim.id)).toMatchObject({ state: 'processing', workerId: 'worker-1', startedAt: null });

    await h.store.setQueuePaused({ queue: 'default', paused: false });
    expect((await steal(h)).map((t) => t.id)).toEqual([victim.id]);
  });

  test('stealTasks leaves prefetched tasks whose lease expired, whose cancel was asked for or whose deadline passed', async () => {
    const h = await setup();
    const soon = h.clock.now() + 10_000;
    await insertOne(h, { deadline: soon });
    await insertOne(h);
    const [pastDeadline, cancelAsked] = await claimPrefetching(h, { limit: 2, workerId: 'worker-1' });
    await h.store.cancelTasks({ ids: [cancelAsked!.id], now: h.clock.now() });
    h.clock.set(soon);
    expect(await steal(h)).toEqual([]);

    const expiring = await insertAndPrefetch(h, 'worker-1');
    h.clock.set(expiring.leaseExpiresAt);
    expect((await steal(h)).map((t) => t.id)).not.toContain(expiring.id);
    expect(await getTask(h, pastDeadline!.id)).toMatchObject({ workerId: 'worker-1', startedAt: null });
  });

  test('a reclaimed prefetched task is no longer stealable', async () => {
    const h = await setup();
    const victim = await insertAndPrefetch(h, 'worker-1');
    h.clock.set(victim.leaseExpiresAt + 1);
    expect((await h.store.reclaimExpiredLeases({ limit: 100, now: h.clock.now() })).retried).toEqual([victim.id]);

    expect(await steal(h)).toEqual([]);
    expect(await getTask(h, victim.id)).toMatchObject({ state: 'pending', attempt: 1 });
    expect((await claimOne(h, { expectedId: victim.id })).attempt).toBe(2);
  });
};
