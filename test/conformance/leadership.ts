import { expect } from 'vitest';
import type { LeaderLease } from '../../src/store/store.js';
import type { ConformanceArea, StoreHarness } from './harness.js';

const NAME = 'coordinator';
const TTL_MS = 10_000;

function acquire(h: StoreHarness, nodeId: string, name = NAME): Promise<LeaderLease | null> {
  return h.store.acquireLeadership({ name, nodeId, ttlMs: TTL_MS, now: h.clock.now() });
}

function renew(h: StoreHarness, lease: LeaderLease, name = NAME): Promise<boolean> {
  return h.store.renewLeadership({ name, nodeId: lease.nodeId, token: lease.token, ttlMs: TTL_MS, now: h.clock.now() });
}

function resign(h: StoreHarness, lease: LeaderLease, name = NAME): Promise<void> {
  return h.store.resignLeadership({ name, nodeId: lease.nodeId, token: lease.token, now: h.clock.now() });
}

function leader(h: StoreHarness, name = NAME): Promise<LeaderLease | null> {
  return h.store.getLeader({ name, now: h.clock.now() });
}

async function acquireOrFail(h: StoreHarness, nodeId: string, name = NAME): Promise<LeaderLease> {
  const lease = await acquire(h, nodeId, name);
  if (lease === null) throw new Error(`${nodeId} could not acquire ${name}`);
  return lease;
}

export const leadershipTests: ConformanceArea = (setup, test) => {
  test('nobody leads before a node acquires the lease', async () => {
    const h = await setup();
    expect(await leader(h)).toBeNull();
  });

  test('the first node takes a free lease and others are refused while it is unexpired', async () => {
    const h = await setup();
    const a = await acquireOrFail(h, 'node-a');
    expect(a).toEqual({ nodeId: 'node-a', token: expect.any(String), expiresAt: h.clock.now() + TTL_MS });
    expect(await leader(h)).toEqual(a);

    h.clock.advance(TTL_MS - 1);
    expect(await acquire(h, 'node-b')).toBeNull();
    expect(await leader(h)).toEqual(a);
  });

  test('renewing extends the lease past its first expiry', async () => {
    const h = await setup();
    const a = await acquireOrFail(h, 'node-a');
    h.clock.advance(5_000);

    expect(await renew(h, a)).toBe(true);
    const renewedUntil = h.clock.now() + TTL_MS;
    expect(await leader(h)).toMatchObject({ nodeId: 'node-a', token: a.token, expiresAt: renewedUntil });

    h.clock.set(a.expiresAt + 1_000);
    expect(await acquire(h, 'node-b')).toBeNull();
    expect(await leader(h)).toMatchObject({ nodeId: 'node-a' });
  });

  test('after expiry another node takes the lease and the old holder’s renew returns false', async () => {
    const h = await setup();
    const a = await acquireOrFail(h, 'node-a');
    h.clock.advance(TTL_MS + 1);
    expect(await leader(h)).toBeNull();

    const b = await acquireOrFail(h, 'node-b');
    expect(b.token).not.toBe(a.token);
    expect(await leader(h)).toEqual(b);
    expect(await renew(h, a)).toBe(false);
    expect(await leader(h)).toEqual(b);
  });

  test('resigning frees the lease at once for another node', async () => {
    const h = await setup();
    const a = await acquireOrFail(h, 'node-a');
    await resign(h, a);

    expect(await leader(h)).toBeNull();
    expect(await renew(h, a)).toBe(false);
    const b = await acquireOrFail(h, 'node-b');
    expect(await leader(h)).toEqual(b);
  });

  test('resigning with a stale token leaves the current holder in place', async () => {
    const h = await setup();
    const a = await acquireOrFail(h, 'node-a');
    h.clock.advance(TTL_MS + 1);
    const b = await acquireOrFail(h, 'node-b');

    await resign(h, a);
    expect(await leader(h)).toEqual(b);
    expect(await renew(h, b)).toBe(true);
  });

  test('a node may acquire a lease it already holds', async () => {
    const h = await setup();
    await acquireOrFail(h, 'node-a');
    h.clock.advance(1_000);

    const again = await acquireOrFail(h, 'node-a');
    expect(again).toMatchObject({ nodeId: 'node-a', expiresAt: h.clock.now() + TTL_MS });
    expect(await renew(h, again)).toBe(true);
  });

  test('leases with different names are independent', async () => {
    const h = await setup();
    const a = await acquireOrFail(h, 'node-a', 'coordinator');
    const b = await acquireOrFail(h, 'node-b', 'cron');

    expect(await leader(h, 'coordinator')).toEqual(a);
    expect(await leader(h, 'cron')).toEqual(b);
    await resign(h, a, 'coordinator');
    expect(await leader(h, 'cron')).toEqual(b);
  });
};
