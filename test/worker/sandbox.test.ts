/**
 * Sandboxed handlers (worker_threads): a CPU-bound handler does not block lease renewal, so a
 * reaper never takes its task; a handler that ignores its abort is terminated after the grace and
 * the worker goes on with the next task.
 */
import { expect, it } from 'vitest';
import type { ReclaimResult } from '../../src/store/store.js';
import { recordingLogger } from '../fixtures/run-context.js';
import { describeForEachStore, HANDLERS_MODULE } from './harness.js';

const TERMINATING = 'terminating a sandbox thread: its handler did not settle within the grace after its abort';

describeForEachStore('worker: sandbox', (setup) => {
  it('runs a handler that busy-loops for twice the lease exactly once: renewal goes on, the reaper never takes it', async () => {
    const t = await setup();
    const leaseMs = 1_000;
    const worker = await t.startWorker({ handlersModule: HANDLERS_MODULE, sandbox: true, concurrency: 1, leaseMs });
    const reclaims: ReclaimResult[] = [];
    // The leader's reaper, on the store's own clock.
    const reaper = t.every(200, async () => {
      reclaims.push(await t.store.reclaimExpiredLeases({ limit: 100 }));
    });
    const [task] = await t.submit({ type: 'busy', payload: { ms: 2 * leaseMs }, retries: 3 });

    const done = await t.waitForState(task!.id, 'completed', { timeoutMs: 15_000 });
    await reaper.stop();
    expect(done).toMatchObject({ attempt: 1, result: { busyMs: 2 * leaseMs, spun: true }, workerId: worker.id, errors: [] });
    expect(done.finishedAt! - done.startedAt!).toBeGreaterThanOrEqual(2 * leaseMs - 50);
    expect(reclaims.length).toBeGreaterThanOrEqual(8);
    expect(reclaims.flatMap((r) => [...r.retried, ...r.dead, ...r.cancelled])).toEqual([]);
  });

  it('terminates a handler that ignores its abort after the grace on timeout, and runs the next task', async () => {
    const t = await setup();
    const logger = recordingLogger();
    await t.startWorker({ handlersModule: HANDLERS_MODULE, sandbox: { terminateGraceMs: 300 }, concurrency: 1, logger });
    const started = Date.now();
    const [stubborn] = await t.submit({ type: 'ignoreAbort', payload: { ms: 10_000 }, timeout: 300, retries: 0 });
    await t.waitForState(stubborn!.id, 'processing');
    const [next] = await t.submit({ type: 'echo', payload: 'next' });

    const dead = await t.waitForState(stubborn!.id, 'dead', { timeoutMs: 8_000 });
    expect(dead.error).toMatchObject({ reason: 'timeout', attempt: 1 });
    // One thread, held by the stubborn handler: the next task runs only once that thread is gone.
    const done = await t.waitForState(next!.id, 'completed', { timeoutMs: 8_000 });
    expect(done.result).toBe('next');
    expect(done.finishedAt! - started).toBeLessThan(8_000);
    expect(logger.lines.some((line) => line.msg === TERMINATING && (line.obj as { reason?: string }).reason === 'timeout')).toBe(true);
  });

  it('terminates a handler that ignores its abort after the grace on cancel, and runs the next task', async () => {
    const t = await setup();
    const logger = recordingLogger();
    await t.startWorker({ handlersModule: HANDLERS_MODULE, sandbox: { terminateGraceMs: 300 }, concurrency: 1, leaseMs: 1_200, logger });
    const [stubborn] = await t.submit({ type: 'ignoreAbort', payload: { ms: 10_000 } });
    await t.waitForState(stubborn!.id, 'processing', { timeoutMs: 8_000 });
    const [next] = await t.submit({ type: 'echo', payload: 'next' });

    const asked = Date.now();
    expect(await t.store.cancelTasks({ ids: [stubborn!.id] })).toEqual([{ id: stubborn!.id, outcome: 'cancel_requested' }]);
    expect((await t.waitForState(stubborn!.id, 'cancelled', { timeoutMs: 5_000 })).attempt).toBe(1);
    const done = await t.waitForState(next!.id, 'completed', { timeoutMs: 8_000 });
    expect(done.result).toBe('next');
    expect(done.finishedAt! - asked).toBeLessThan(7_000);
    expect(logger.lines.some((line) => line.msg === TERMINATING && (line.obj as { reason?: string }).reason === 'cancelled')).toBe(true);
  });
});
