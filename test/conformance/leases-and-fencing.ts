import { expect } from 'vitest';
import { newTaskId } from '../../src/ids.js';
import type { LeaseRef, RenewLeasesParams } from '../../src/store/store.js';
import { claimOne, complete, fail, finishOne, getTask, insertOne, LEASE_MS, leaseOf, type ConformanceArea, type StoreHarness } from './harness.js';

async function renew(h: StoreHarness, leases: RenewLeasesParams['leases'], leaseMs = LEASE_MS) {
  return h.store.renewLeases({ leases, leaseMs, now: h.clock.now() });
}

async function reclaim(h: StoreHarness) {
  return h.store.reclaimExpiredLeases({ limit: 100, now: h.clock.now() });
}

export const leaseAndFencingTests: ConformanceArea = (setup, test) => {
  test('a stale lease token is refused by complete, fail, release, cancel and renew, and changes nothing', async () => {
    const h = await setup();
    const task = await insertOne(h);
    const stale = await claimOne(h);
    h.clock.advance(LEASE_MS + 1);
    expect((await reclaim(h)).retried).toEqual([task.id]);
    const current = await claimOne(h, { workerId: 'worker-2' });
    expect(current.leaseToken).not.toBe(stale.leaseToken);
    const before = await getTask(h, task.id);

    const old = leaseOf(stale);
    expect(await complete(h, old, 'stale result')).toBe('lease_lost');
    expect(await fail(h, old, { message: 'stale failure' })).toBe('lease_lost');
    expect(await finishOne(h, old, { outcome: 'release' })).toBe('lease_lost');
    expect(await finishOne(h, old, { outcome: 'cancel' })).toBe('lease_lost');
    expect(await renew(h, [old])).toEqual({ renewed: [], lost: [task.id], cancelRequested: [] });

    const after = await getTask(h, task.id);
    expect(after).toEqual(before);
    expect(after).toMatchObject({ state: 'processing', attempt: 2, workerId: 'worker-2', leaseExpiresAt: current.leaseExpiresAt, result: null });

    // The current holder is untouched by all of that.
    expect((await renew(h, [leaseOf(current)])).renewed.map((r) => r.id)).toEqual([task.id]);
    expect(await complete(h, leaseOf(current), 'fresh result')).toBe('completed');
    expect(await getTask(h, task.id)).toMatchObject({ state: 'completed', result: 'fresh result' });
  });

  test('a made-up lease token is refused for a task being processed', async () => {
    const h = await setup();
    const claimed = await claimOne(h, { expectedId: (await insertOne(h)).id });
    const forged = { ...leaseOf(claimed), token: `${claimed.leaseToken}-forged` };

    expect(await complete(h, forged)).toBe('lease_lost');
    expect(await fail(h, forged)).toBe('lease_lost');
    expect(await getTask(h, claimed.id)).toMatchObject({ state: 'processing', attempt: 1, errors: [] });
  });

  test('a lease token is refused once its attempt has finished', async () => {
    const h = await setup();
    const claimed = await claimOne(h, { expectedId: (await insertOne(h)).id });
    expect(await complete(h, leaseOf(claimed), 'first')).toBe('completed');

    expect(await complete(h, leaseOf(claimed), 'second')).toBe('lease_lost');
    expect(await fail(h, leaseOf(claimed))).toBe('lease_lost');
    expect(await getTask(h, claimed.id)).toMatchObject({ state: 'completed', result: 'first', errors: [] });
  });

  test('renewLeases extends the lease, so the task is not reclaimed at its old expiry', async () => {
    const h = await setup();
    const claimed = await claimOne(h, { expectedId: (await insertOne(h)).id });
    h.clock.advance(20_000);

    const renewal = await renew(h, [leaseOf(claimed)]);
    const extendedTo = h.clock.now() + LEASE_MS;
    expect(renewal).toEqual({ renewed: [{ id: claimed.id, leaseExpiresAt: extendedTo }], lost: [], cancelRequested: [] });
    expect((await getTask(h, claimed.id)).leaseExpiresAt).toBe(extendedTo);

    h.clock.set(claimed.leaseExpiresAt + 5_000);
    expect(await reclaim(h)).toEqual({ retried: [], dead: [], cancelled: [] });
    expect(await getTask(h, claimed.id)).toMatchObject({ state: 'processing', leaseExpiresAt: extendedTo });
    expect(await complete(h, leaseOf(claimed))).toBe('completed');
  });

  test('renewLeases reports unknown and finished tasks as lost and renews the rest', async () => {
    const h = await setup();
    await insertOne(h);
    await insertOne(h);
    const held = await claimOne(h);
    const done = await claimOne(h);
    await complete(h, leaseOf(done));
    const unknown: LeaseRef = { id: newTaskId(), queue: 'default', token: 'no-such-token' };

    const renewal = await renew(h, [leaseOf(held), leaseOf(done), unknown]);
    expect(renewal.renewed.map((r) => r.id)).toEqual([held.id]);
    expect([...renewal.lost].sort()).toEqual([done.id, unknown.id].sort());
    expect(renewal.cancelRequested).toEqual([]);
  });

  test('renewLeases reports a cancel asked for a processing task', async () => {
    const h = await setup();
    const claimed = await claimOne(h, { expectedId: (await insertOne(h)).id });
    expect(await h.store.cancelTasks({ ids: [claimed.id], now: h.clock.now() })).toEqual([{ id: claimed.id, outcome: 'cancel_requested' }]);

    const renewal = await renew(h, [leaseOf(claimed)]);
    expect(renewal.cancelRequested).toEqual([claimed.id]);
    expect(renewal.renewed.map((r) => r.id)).toEqual([claimed.id]);
    expect(renewal.lost).toEqual([]);
  });

  test('renewLeases stores progress sent with a held lease, and ignores it for a lost one', async () => {
    const h = await setup();
    const task = await insertOne(h);
    const held = await claimOne(h, { expectedId: task.id });
    const other = await insertOne(h);
    const stale = await claimOne(h, { expectedId: other.id, leaseMs: 1_000 });
    h.clock.advance(1_001);
    expect((await reclaim(h)).retried).toEqual([other.id]);
    const current = await claimOne(h, { workerId: 'worker-2', expectedId: other.id });

    const renewal = await renew(h, [
      { ...leaseOf(held), progress: { done: 3, of: 10 } },
      { ...leaseOf(stale), progress: 'stale progress' },
    ]);
    expect(renewal.renewed.map((r) => r.id)).toEqual([held.id]);
    expect(renewal.lost).toEqual([other.id]);
    expect((await getTask(h, held.id)).progress).toEqual({ done: 3, of: 10 });
    expect((await getTask(h, other.id)).progress).toBeNull();

    // A renewal without progress keeps what was stored; a later one replaces it.
    expect((await renew(h, [leaseOf(held), leaseOf(current)])).renewed).toHaveLength(2);
    expect((await getTask(h, held.id)).progress).toEqual({ done: 3, of: 10 });
    expect((await getTask(h, other.id)).progress).toBeNull();
    await renew(h, [{ ...leaseOf(held), progress: [7, 'of', 10] }]);
    expect((await getTask(h, held.id)).progress).toEqual([7, 'of', 10]);

    // Nor does a lease that ended with its attempt take progress.
    expect(await complete(h, leaseOf(held), 'done')).toBe('completed');
    expect((await renew(h, [{ ...leaseOf(held), progress: 'late' }])).lost).toEqual([held.id]);
    expect(await getTask(h, held.id)).toMatchObject({ state: 'completed', progress: [7, 'of', 10] });
  });

  test('reclaimExpiredLeases returns an expired task to pending with a lease_expired error, its attempt spent', async () => {
    const h = await setup();
    const claimed = await claimOne(h, { expectedId: (await insertOne(h, { maxAttempts: 3 })).id });
    h.clock.advance(LEASE_MS + 1);

    expect(await reclaim(h)).toEqual({ retried: [claimed.id], dead: [], cancelled: [] });
    const task = await getTask(h, claimed.id);
    expect(task).toMatchObject({
      state: 'pending',
      attempt: 1,
      leaseExpiresAt: null,
      error: { reason: 'lease_expired', attempt: 1 },
    });
    expect(task.errors).toHaveLength(1);
    expect(task.errors[0]).toMatchObject({ reason: 'lease_expired', attempt: 1 });
    expect((await claimOne(h, { expectedId: claimed.id })).attempt).toBe(2);
  });

  test('reclaimExpiredLeases leaves unexpired leases alone', async () => {
    const h = await setup();
    const claimed = await claimOne(h, { expectedId: (await insertOne(h)).id });
    h.clock.advance(LEASE_MS - 1_000);

    expect(await reclaim(h)).toEqual({ retried: [], dead: [], cancelled: [] });
    expect(await getTask(h, claimed.id)).toMatchObject({ state: 'processing', attempt: 1 });
  });

  test('a task that keeps losing its lease goes dead with lease_expired when no attempt is left', async () => {
    const h = await setup();
    const task = await insertOne(h, { maxAttempts: 2 });
    await claimOne(h, { expectedId: task.id });
    h.clock.advance(LEASE_MS + 1);
    expect((await reclaim(h)).retried).toEqual([task.id]);

    await claimOne(h, { expectedId: task.id });
    h.clock.advance(LEASE_MS + 1);
    expect(await reclaim(h)).toEqual({ retried: [], dead: [task.id], cancelled: [] });

    const dead = await getTask(h, task.id);
    expect(dead).toMatchObject({ state: 'dead', attempt: 2, finishedAt: h.clock.now(), leaseExpiresAt: null, error: { reason: 'lease_expired', attempt: 2 } });
    expect(dead.errors.map((e) => [e.reason, e.attempt])).toEqual([
      ['lease_expired', 1],
      ['lease_expired', 2],
    ]);
  });

  test('reclaimExpiredLeases ends a cancel-requested task cancelled', async () => {
    const h = await setup();
    const claimed = await claimOne(h, { expectedId: (await insertOne(h)).id });
    await h.store.cancelTasks({ ids: [claimed.id], now: h.clock.now() });
    h.clock.advance(LEASE_MS + 1);

    expect(await reclaim(h)).toEqual({ retried: [], dead: [], cancelled: [claimed.id] });
    expect(await getTask(h, claimed.id)).toMatchObject({ state: 'cancelled', finishedAt: h.clock.now(), leaseExpiresAt: null });
  });
};
