/**
 * Leader election in one process (two Coordinators on one store): exactly one leads, the one the
 * store names; only the leader runs the maintenance duties; stop() resigns the lease and stops the
 * duties at once; a leader whose lease was taken stops its duties at its next renewal.
 * Real time, short leases, generous bounds.
 */
import { describe, expect, inject, it, onTestFinished } from 'vitest';
import { createCoordinator, type Coordinator, type CoordinatorIntervals } from '../../src/coordinator/coordinator.js';
import { LEADER_LEASE_NAME } from '../../src/coordinator/leader-elector.js';
import type { Store } from '../../src/store/store.js';
import { eventually } from '../helpers/eventually.js';
import { openSharedStore, type StoreKind } from '../helpers/processes.js';

/** Every duty every 50 ms, so a running term shows at once in the store calls. */
const FAST: CoordinatorIntervals = {
  promoterMs: 50,
  leaseReaperMs: 50,
  deadlineEnforcerMs: 50,
  retentionCleanerMs: 50,
  workerPrunerMs: 50,
  cronSchedulerMs: 50,
};
/** The store calls only the leader's duties make. */
const DUTY_CALLS = new Set<PropertyKey>(['promoteDueTasks', 'reclaimExpiredLeases', 'expireDeadlines', 'deleteStaleWorkers', 'deleteFinishedTasks', 'listSchedules']);

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** A view of `store` that counts the duty calls made through it. */
function counting(store: Store): { store: Store; dutyCalls(): number } {
  let calls = 0;
  const proxy = new Proxy(store, {
    get(target, prop) {
      const value: unknown = Reflect.get(target, prop, target);
      if (typeof value !== 'function') return value;
      const method = value as (...args: unknown[]) => unknown;
      if (!DUTY_CALLS.has(prop)) return method.bind(target);
      return (...args: unknown[]) => {
        calls += 1;
        return method.apply(target, args);
      };
    },
  });
  return { store: proxy, dutyCalls: () => calls };
}

describe.each<StoreKind>(['sqlite', 'redis'])('leader elector on %s (two coordinators, one process)', (kind) => {
  async function open(): Promise<Store> {
    const shared = await openSharedStore(kind, inject('redisUrl'));
    onTestFinished(shared.cleanup);
    return shared.store;
  }

  function coordinators(store: Store, leaseMs: number): { nodes: Coordinator[]; dutyCalls: (node: Coordinator) => number } {
    const views = ['node-a', 'node-b'].map((nodeId) => ({ nodeId, view: counting(store) }));
    const nodes = views.map(({ nodeId, view }) => createCoordinator({ store: view.store, nodeId, leaseMs, intervals: FAST }));
    // Stopped before the store closes (onTestFinished runs the latest registered first).
    onTestFinished(async () => {
      await Promise.all(nodes.map((node) => node.stop()));
    });
    return { nodes, dutyCalls: (node) => views.find((v) => v.nodeId === node.nodeId)!.view.dutyCalls() };
  }

  async function theLeader(store: Store, nodes: Coordinator[]): Promise<Coordinator> {
    return eventually(
      async () => {
        const leading = nodes.filter((node) => node.isLeader);
        expect(leading.map((node) => node.nodeId)).toHaveLength(1);
        expect((await store.getLeader({ name: LEADER_LEASE_NAME }))?.nodeId).toBe(leading[0]!.nodeId);
        return leading[0]!;
      },
      { timeoutMs: 10_000 },
    );
  }

  it('a leader whose renewals hang ends its term before its lease could expire, and stop() still returns', async () => {
    const store = await open();
    const leaseMs = 1_000;
    // A store that answers everything but never answers a renewal (neither success nor error).
    const hanging = new Proxy(store, {
      get(target, prop, receiver) {
        if (prop === 'renewLeadership') return () => new Promise<boolean>(() => undefined);
        const value: unknown = Reflect.get(target, prop, receiver);
        return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
      },
    });
    const node = createCoordinator({ store: hanging, nodeId: 'hanging', leaseMs, intervals: FAST });
    onTestFinished(() => node.stop());
    await node.start();
    await eventually(() => expect(node.isLeader).toBe(true), { timeoutMs: 5_000 });
    const electedAt = Date.now();
    await eventually(() => expect(node.isLeader).toBe(false), { timeoutMs: 5_000, intervalMs: 10 });
    // Its term ended before the lease (judged from before the acquire) could run out.
    expect(Date.now() - electedAt).toBeLessThan(leaseMs);
    const stopping = Date.now();
    await node.stop();
    expect(Date.now() - stopping).toBeLessThan(2_000);
  });

  it('exactly one of them leads, the one the store names, and only it runs the duties', async () => {
    const store = await open();
    const { nodes, dutyCalls } = coordinators(store, 2_000);
    await Promise.all(nodes.map((node) => node.start()));
    const leader = await theLeader(store, nodes);
    const follower = nodes.find((node) => node !== leader)!;

    // 2 s (three renewals of the leader): always exactly one leader, the same one.
    for (let i = 0; i < 40; i++) {
      expect(nodes.filter((node) => node.isLeader)).toEqual([leader]);
      expect((await store.getLeader({ name: LEADER_LEASE_NAME }))?.nodeId).toBe(leader.nodeId);
      await sleep(50);
    }
    expect(dutyCalls(leader)).toBeGreaterThan(10);
    expect(dutyCalls(follower)).toBe(0);
  });

  it('stop() of the leader resigns the lease and ends its duties at once; the other takes over within the lease', async () => {
    const leaseMs = 1_500;
    const store = await open();
    const { nodes, dutyCalls } = coordinators(store, leaseMs);
    await Promise.all(nodes.map((node) => node.start()));
    const leader = await theLeader(store, nodes);
    const follower = nodes.find((node) => node !== leader)!;
    await sleep(300);

    const stoppedAt = Date.now();
    await leader.stop();
    expect(leader.isLeader).toBe(false);
    // Resigned: nobody holds the lease (unless the follower took it already).
    expect([null, follower.nodeId]).toContain((await store.getLeader({ name: LEADER_LEASE_NAME }))?.nodeId ?? null);
    const callsAtStop = dutyCalls(leader);

    await eventually(() => expect(follower.isLeader).toBe(true), { timeoutMs: leaseMs + 2_000, intervalMs: 10 });
    const takeoverMs = Date.now() - stoppedAt;
    expect(takeoverMs).toBeLessThanOrEqual(leaseMs + 1_000);
    await eventually(() => expect(dutyCalls(follower)).toBeGreaterThan(0), { timeoutMs: 2_000 });
    expect(dutyCalls(leader)).toBe(callsAtStop);
  });

  // A follower looks at the lease at least every third of it, so a resignation is noticed long
  // before the resigned lease would have expired.
  it('stop() of the leader lets the other take over well before the lease would have expired', async () => {
    const leaseMs = 6_000;
    const store = await open();
    const { nodes } = coordinators(store, leaseMs);
    await Promise.all(nodes.map((node) => node.start()));
    const leader = await theLeader(store, nodes);
    const follower = nodes.find((node) => node !== leader)!;

    await leader.stop();
    await eventually(() => expect(follower.isLeader).toBe(true), { timeoutMs: leaseMs / 2, intervalMs: 10 });
  }, 20_000);

  it('a leader whose lease was taken from it stops its duties at its next renewal, and does not lead again while the lease is held', async () => {
    const leaseMs = 1_500;
    const store = await open();
    const view = counting(store);
    const node = createCoordinator({ store: view.store, nodeId: 'node-a', leaseMs, intervals: FAST });
    onTestFinished(() => node.stop());
    await node.start();
    await eventually(() => expect(node.isLeader).toBe(true), { timeoutMs: 5_000 });
    await eventually(() => expect(view.dutyCalls()).toBeGreaterThan(0), { timeoutMs: 2_000 });

    // Someone else holds the lease now (as after a pause longer than the lease).
    const lease = (await store.getLeader({ name: LEADER_LEASE_NAME }))!;
    await store.resignLeadership({ name: LEADER_LEASE_NAME, nodeId: lease.nodeId, token: lease.token });
    const intruder = await store.acquireLeadership({ name: LEADER_LEASE_NAME, nodeId: 'intruder', ttlMs: 30_000 });
    expect(intruder?.nodeId).toBe('intruder');
    const takenAt = Date.now();

    await eventually(() => expect(node.isLeader).toBe(false), { timeoutMs: leaseMs / 3 + 1_500, intervalMs: 10 });
    const stepDownMs = Date.now() - takenAt;
    expect(stepDownMs).toBeLessThanOrEqual(leaseMs / 3 + 1_000);
    await sleep(100); // a run already under way may finish
    const calls = view.dutyCalls();
    await sleep(leaseMs);
    expect(view.dutyCalls()).toBe(calls);
    expect(node.isLeader).toBe(false);
    expect((await store.getLeader({ name: LEADER_LEASE_NAME }))?.nodeId).toBe('intruder');
  });
});
