import { expect } from 'vitest';
import type { HeartbeatParams } from '../../src/store/store.js';
import type { ConformanceArea, StoreHarness } from './harness.js';

const TTL_MS = 15_000;

type Worker = HeartbeatParams['worker'];

function workerInfo(id: string, overrides: Partial<Worker> = {}): Worker {
  return {
    id,
    host: 'host-a',
    pid: 4242,
    queues: ['default', 'emails'],
    types: ['send-email', 'resize'],
    concurrency: { min: 1, max: 8, current: 4 },
    running: 2,
    startedAt: Date.parse('2029-12-31T23:00:00Z'),
    ...overrides,
  };
}

async function heartbeat(h: StoreHarness, worker: Worker, ttlMs = TTL_MS): Promise<void> {
  await h.store.recordWorkerHeartbeat({ worker, ttlMs, now: h.clock.now() });
}

async function listWorkers(h: StoreHarness) {
  return h.store.listWorkers({ now: h.clock.now() });
}

async function deleteStale(h: StoreHarness, limit = 100): Promise<number> {
  return h.store.deleteStaleWorkers({ limit, now: h.clock.now() });
}

export const workerRegistryTests: ConformanceArea = (setup, test) => {
  test('a heartbeat registers a worker with every field and lastHeartbeatAt = now', async () => {
    const h = await setup();
    const worker = workerInfo('worker-1');
    await heartbeat(h, worker);

    expect(await listWorkers(h)).toEqual([{ ...worker, lastHeartbeatAt: h.clock.now() }]);
  });

  test('a second heartbeat updates the entry and extends its expiry', async () => {
    const h = await setup();
    await heartbeat(h, workerInfo('worker-1'));
    h.clock.advance(TTL_MS - 1_000);
    const updated = workerInfo('worker-1', { running: 7, concurrency: { min: 1, max: 8, current: 8 }, queues: ['default'] });
    await heartbeat(h, updated);
    const secondAt = h.clock.now();

    expect(await listWorkers(h)).toEqual([{ ...updated, lastHeartbeatAt: secondAt }]);
    // Past the first heartbeat's ttl, within the second's.
    h.clock.advance(5_000);
    expect(await listWorkers(h)).toEqual([{ ...updated, lastHeartbeatAt: secondAt }]);
    expect(await deleteStale(h)).toBe(0);
  });

  test('listWorkers drops an entry once its ttl passed, and deleteStaleWorkers deletes it and returns the count', async () => {
    const h = await setup();
    const short = workerInfo('worker-short');
    const long = workerInfo('worker-long');
    await heartbeat(h, short, 5_000);
    await heartbeat(h, long, 60_000);
    const beatAt = h.clock.now();

    h.clock.advance(4_000);
    expect((await listWorkers(h)).map((w) => w.id)).toEqual(['worker-long', 'worker-short']);
    expect(await deleteStale(h)).toBe(0);

    h.clock.advance(1_001);
    expect(await listWorkers(h)).toEqual([{ ...long, lastHeartbeatAt: beatAt }]);
    expect(await deleteStale(h)).toBe(1);
    expect(await deleteStale(h)).toBe(0);
    expect(await listWorkers(h)).toEqual([{ ...long, lastHeartbeatAt: beatAt }]);
  });

  test('deleteStaleWorkers deletes at most limit entries per call', async () => {
    const h = await setup();
    for (const id of ['worker-a', 'worker-b', 'worker-c']) await heartbeat(h, workerInfo(id), 1_000);
    await heartbeat(h, workerInfo('worker-fresh'), 60_000);
    h.clock.advance(1_001);

    expect(await deleteStale(h, 2)).toBe(2);
    expect(await deleteStale(h, 2)).toBe(1);
    expect(await deleteStale(h, 2)).toBe(0);
    expect((await listWorkers(h)).map((w) => w.id)).toEqual(['worker-fresh']);
  });

  test('a worker whose entry expired is listed again after its next heartbeat', async () => {
    const h = await setup();
    await heartbeat(h, workerInfo('worker-1'));
    h.clock.advance(TTL_MS + 1);
    expect(await listWorkers(h)).toEqual([]);

    await heartbeat(h, workerInfo('worker-1'));
    expect(await listWorkers(h)).toEqual([{ ...workerInfo('worker-1'), lastHeartbeatAt: h.clock.now() }]);
    expect(await deleteStale(h)).toBe(0);
  });

  test('removeWorker deletes an entry at once and ignores an unknown id', async () => {
    const h = await setup();
    await heartbeat(h, workerInfo('worker-1'));
    await heartbeat(h, workerInfo('worker-2'));

    await h.store.removeWorker({ id: 'worker-1' });
    await h.store.removeWorker({ id: 'no-such-worker' });
    expect((await listWorkers(h)).map((w) => w.id)).toEqual(['worker-2']);
    expect(await deleteStale(h)).toBe(0);
  });

  test('role and version come back as sent, and an entry without them has neither', async () => {
    const h = await setup();
    const server = workerInfo('node-server', { role: 'server', version: '1.4.0-beta.2' });
    const worker = workerInfo('node-worker', { role: 'worker', version: '1.3.9' });
    const legacy = workerInfo('node-legacy');
    for (const w of [server, worker, legacy]) await heartbeat(h, w);

    const listed = await listWorkers(h);
    const at = h.clock.now();
    expect(listed).toEqual([
      { ...legacy, lastHeartbeatAt: at },
      { ...server, lastHeartbeatAt: at },
      { ...worker, lastHeartbeatAt: at },
    ]);
    // toEqual treats a property set to undefined as absent: check that the legacy entry has neither key.
    expect(Object.keys(listed[0]!)).not.toContain('role');
    expect(Object.keys(listed[0]!)).not.toContain('version');
    expect(listed[1]).toMatchObject({ role: 'server', version: '1.4.0-beta.2' });
  });

  test('listWorkers sorts by id', async () => {
    const h = await setup();
    const ids = ['worker-c', 'worker-a', 'worker-10', 'worker-b', 'worker-2'];
    for (const id of ids) await heartbeat(h, workerInfo(id));

    expect((await listWorkers(h)).map((w) => w.id)).toEqual(['worker-10', 'worker-2', 'worker-a', 'worker-b', 'worker-c']);
  });
};
