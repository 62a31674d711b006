/**
 * The worker registry (heartbeats, listing, deregistration, expiry) and graceful shutdown:
 * prefetched tasks go back at once without spending an attempt, running ones are waited for, a
 * claim in flight is not stranded, and stop() is safe to call twice or before start().
 */
import { hostname } from 'node:os';
import { expect, it } from 'vitest';
import { describeForEachStore, FIXTURE_HANDLERS, sleep, spyStore, waitUntil } from './harness.js';

describeForEachStore('worker: registry and shutdown', (setup) => {
  it('lists a started worker with id, host, pid, queues, types, concurrency, running, startedAt and lastHeartbeatAt; stop() deregisters it', async () => {
    const t = await setup();
    const before = Date.now();
    const worker = await t.startWorker({ id: 'registry-worker', queues: ['default', 'other'], concurrency: '2:6', heartbeatIntervalMs: 200 });

    const [listed] = (await t.store.listWorkers({})).filter((w) => w.id === worker.id);
    // toMatchObject: the entry may carry more (role, version) than the issue asks for.
    expect(listed).toMatchObject({
      id: 'registry-worker',
      host: hostname(),
      pid: process.pid,
      queues: ['default', 'other'],
      types: Object.keys(FIXTURE_HANDLERS).sort(),
      concurrency: { min: 2, max: 6, current: 2 },
      running: 0,
      startedAt: expect.any(Number),
      lastHeartbeatAt: expect.any(Number),
    });
    expect(listed!.startedAt).toBeGreaterThanOrEqual(before - 50);
    expect(listed!.startedAt).toBeLessThanOrEqual(Date.now() + 50);
    expect(listed!.lastHeartbeatAt).toBeGreaterThanOrEqual(listed!.startedAt - 50);

    // Heartbeats keep it current: the running count, a later lastHeartbeatAt.
    const [task] = await t.submit({ type: 'sleep', payload: { ms: 1_500 } });
    await t.waitForState(task!.id, 'processing');
    await waitUntil(
      async () => (await t.store.listWorkers({})).some((w) => w.id === worker.id && w.running === 1 && w.lastHeartbeatAt > listed!.lastHeartbeatAt),
      'a heartbeat reports the running task',
      { timeoutMs: 5_000, intervalMs: 50 },
    );

    await worker.stop();
    expect(await t.getTask(task!.id)).toMatchObject({ state: 'completed' });
    expect((await t.store.listWorkers({})).map((w) => w.id)).not.toContain(worker.id);
  });

  it('drops a worker whose heartbeats stop (no deregistration) from the list once its entry expires', async () => {
    const t = await setup();
    const spy = spyStore(t.store);
    // A crash, as the registry sees it: the heartbeats stop and nobody deregisters.
    spy.replace('removeWorker', undefined);
    const heartbeatIntervalMs = 200;
    const worker = await t.startWorker({ store: spy.store, heartbeatIntervalMs });
    await worker.stop();
    expect((await t.store.listWorkers({})).map((w) => w.id)).toContain(worker.id);
    await waitUntil(async () => !(await t.store.listWorkers({})).some((w) => w.id === worker.id), 'the entry expired', {
      timeoutMs: heartbeatIntervalMs * 3 + 3_000,
      intervalMs: 50,
    });
  });

  it('stop() releases prefetched tasks at once (pending, attempt unchanged) and waits for the running ones', async () => {
    const t = await setup();
    const worker = await t.startWorker({ concurrency: 2, prefetch: 3 });
    const tasks = await t.submitMany(5, { type: 'sleep', payload: { ms: 1_200 } });
    const ids = tasks.map((task) => task.id);
    await waitUntil(() => worker.running === 2 && worker.prefetched === 3, '2 tasks run and 3 are prefetched', { timeoutMs: 5_000 });
    // Claimed with a prefetch, a task has no start time until it starts.
    const running = new Set((await t.getTasks(ids)).filter((x) => x.startedAt !== null).map((x) => x.id));
    expect(running.size).toBe(2);
    const prefetched = ids.filter((id) => !running.has(id));

    const stopAt = Date.now();
    const stopped = worker.stop(10_000);
    // The prefetched ones are back well before the running ones end.
    const released = await t.waitForStates(prefetched, 'pending', { timeoutMs: 1_000, intervalMs: 10 });
    expect(Date.now() - stopAt).toBeLessThan(700);
    for (const task of released) expect(task).toMatchObject({ attempt: 0, workerId: null, leaseExpiresAt: null, errors: [] });
    expect((await t.getTasks([...running])).map((x) => x.state)).toEqual(['processing', 'processing']);

    await stopped;
    expect(worker.state).toBe('stopped');
    const after = await t.getTasks(ids);
    for (const task of after) {
      if (running.has(task.id)) expect(task).toMatchObject({ state: 'completed', attempt: 1, result: { sleptMs: 1_200 } });
      else expect(task).toMatchObject({ state: 'pending', attempt: 0 });
    }
    // It claimed nothing after the stop began.
    await sleep(200);
    expect((await t.getTasks(prefetched)).every((task) => task.state === 'pending')).toBe(true);
  });

  it('gives back the tasks of a claim that was in flight when stop() began, without running them', async () => {
    const t = await setup();
    const spy = spyStore(t.store);
    let openGate!: () => void;
    spy.holdUntil('claimTasks', new Promise<void>((resolve) => (openGate = resolve)));
    const worker = await t.startWorker({ store: spy.store, concurrency: 2 });
    await waitUntil(() => spy.callsOf('claimTasks').length === 1, 'a claim is in flight');
    const tasks = await t.submitMany(3, { type: 'echo', payload: 'never' });

    const stopped = worker.stop();
    await sleep(50);
    openGate();
    await stopped;

    const claimed = spy.callsOf('claimTasks');
    expect(claimed).toHaveLength(1);
    const after = await t.getTasks(tasks.map((task) => task.id));
    expect(after.map((task) => [task.state, task.attempt, task.result])).toEqual([
      ['pending', 0, null],
      ['pending', 0, null],
      ['pending', 0, null],
    ]);
  });

  it('stop() twice, concurrently or after it finished, and stop() before start() are harmless', async () => {
    const t = await setup();
    const never = t.worker();
    await never.stop();
    await never.stop();
    expect(never.state).toBe('stopped');

    const worker = await t.startWorker();
    const [task] = await t.submit({ type: 'echo', payload: 1 });
    await t.waitForState(task!.id, 'completed');
    const first = worker.stop();
    const second = worker.stop();
    await Promise.all([first, second]);
    await worker.stop();
    expect(worker.state).toBe('stopped');
    expect((await t.store.listWorkers({})).map((w) => w.id)).not.toContain(worker.id);

    // A stopped worker claims nothing more.
    const [later] = await t.submit({ type: 'echo', payload: 2 });
    await sleep(300);
    expect(await t.getTask(later!.id)).toMatchObject({ state: 'pending', attempt: 0 });
  });
});
