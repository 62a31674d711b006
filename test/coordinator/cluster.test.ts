/**
 * The cluster view: servers (coordinators) and workers with their role, which one leads, version,
 * host and uptime; a node that stops leaves it.
 */
import { hostname } from 'node:os';
import { describe, expect, inject, it, onTestFinished } from 'vitest';
import { createCoordinator, getClusterView } from '../../src/coordinator/coordinator.js';
import type { Store } from '../../src/store/store.js';
import { VERSION } from '../../src/version.js';
import { createWorker } from '../../src/worker/worker.js';
import { eventually } from '../helpers/eventually.js';
import { openSharedStore, type StoreKind } from '../helpers/processes.js';

describe.each<StoreKind>(['sqlite', 'redis'])('cluster view on %s', (kind) => {
  async function open(): Promise<Store> {
    const shared = await openSharedStore(kind, inject('redisUrl'));
    onTestFinished(shared.cleanup);
    return shared.store;
  }

  it('lists a coordinator and a worker with their roles, the leader flagged, uptime ≥ 0 and the version', async () => {
    const store = await open();
    const startedBefore = Date.now();
    const coordinator = createCoordinator({ store, nodeId: `server-${kind}`, leaseMs: 2_000 });
    const follower = createCoordinator({ store, nodeId: `standby-${kind}`, leaseMs: 2_000 });
    const worker = createWorker({ store, id: `worker-${kind}`, handlers: { echo: (task) => task.payload }, queues: ['cluster'], concurrency: 2 });
    onTestFinished(async () => {
      await Promise.all([worker.stop(1_000), coordinator.stop(), follower.stop()]);
    });
    await coordinator.start();
    await eventually(() => expect(coordinator.isLeader).toBe(true), { timeoutMs: 5_000 });
    await Promise.all([follower.start(), worker.start()]);

    const view = await coordinator.cluster();
    expect(view.self).toBe(coordinator.nodeId);
    expect(view.leader).toBe(coordinator.nodeId);
    const byId = new Map(view.nodes.map((node) => [node.id, node]));
    expect([...byId.keys()].sort()).toEqual([coordinator.nodeId, follower.nodeId, worker.id].sort());
    const common = { host: hostname(), pid: process.pid, version: VERSION };
    expect(byId.get(coordinator.nodeId)).toMatchObject({ ...common, role: 'server', leader: true });
    expect(byId.get(follower.nodeId)).toMatchObject({ ...common, role: 'server', leader: false });
    expect(byId.get(worker.id)).toMatchObject({ ...common, role: 'worker', leader: false });
    for (const node of view.nodes) {
      expect(node.uptimeMs, node.id).toBeGreaterThanOrEqual(0);
      expect(node.startedAt, node.id).toBeGreaterThanOrEqual(startedBefore);
      expect(node.startedAt, node.id).toBeLessThanOrEqual(Date.now());
      expect(node.lastHeartbeatAt, node.id).toBeGreaterThanOrEqual(node.startedAt - 1_000);
    }
    expect(VERSION).toMatch(/^\d+\.\d+\.\d+/);

    // Read from anywhere (no node of its own): the same nodes, `self` null.
    const outside = await getClusterView(store);
    expect(outside.self).toBeNull();
    expect(outside.leader).toBe(coordinator.nodeId);
    expect(outside.nodes.map((node) => node.id).sort()).toEqual([...byId.keys()].sort());

    // Uptime grows.
    await new Promise((resolve) => setTimeout(resolve, 50));
    const later = await getClusterView(store);
    expect(later.nodes.find((node) => node.id === worker.id)!.uptimeMs).toBeGreaterThan(byId.get(worker.id)!.uptimeMs);

    // A node that stops leaves the view; the standby takes over the lead.
    await coordinator.stop();
    const afterStop = await getClusterView(store);
    expect(afterStop.nodes.map((node) => node.id).sort()).toEqual([follower.nodeId, worker.id].sort());
    await eventually(async () => expect((await getClusterView(store)).leader).toBe(follower.nodeId), { timeoutMs: 5_000, intervalMs: 20 });
    const led = await follower.cluster();
    expect(led.nodes.find((node) => node.id === follower.nodeId)).toMatchObject({ role: 'server', leader: true });
  });
});
