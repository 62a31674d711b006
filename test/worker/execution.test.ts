/**
 * Why an attempt stops early, and what each reason does to the task: timeout, cancel, deadline,
 * shutdown past its grace. The fixture handler `reason` waits for its abort and logs the reason it
 * saw (then throws), so the tests read `ctx.signal.reason` from the log.
 */
import { expect, it } from 'vitest';
import { recordingLogger, type LogLine } from '../fixtures/run-context.js';
import { describeForEachStore, TINY_BACKOFF, waitUntil } from './harness.js';

/** The abort reasons the `reason` handler logged for a task, in order. */
function reasonsSeen(lines: LogLine[], taskId: string): string[] {
  return lines
    .filter((line) => line.msg === 'handler saw its abort' && (line.obj as { taskId?: string }).taskId === taskId)
    .map((line) => String((line.obj as { reason?: unknown }).reason));
}

describeForEachStore('worker: execution', (setup) => {
  it('aborts ctx.signal with reason timeout when an attempt times out, and fails that attempt (reason timeout)', async () => {
    const t = await setup();
    const logger = recordingLogger();
    await t.startWorker({ logger });
    const started = Date.now();
    const [task] = await t.submit({ type: 'reason', timeout: 300, retries: 1, backoff: TINY_BACKOFF });

    const dead = await t.waitForState(task!.id, 'dead');
    // Two attempts of 300 ms each, not the lease length or more.
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(dead.attempt).toBe(2);
    expect(dead.errors.map((e) => [e.attempt, e.reason])).toEqual([
      [1, 'timeout'],
      [2, 'timeout'],
    ]);
    expect(dead.error!.message).toContain('300 ms');
    await waitUntil(() => reasonsSeen(logger.lines, task!.id).length === 2, 'the handler saw both aborts');
    expect(reasonsSeen(logger.lines, task!.id)).toEqual(['timeout', 'timeout']);
  });

  it('aborts a running task with reason cancelled on cancelTasks, within about a third of the lease, and ends it cancelled', async () => {
    const t = await setup();
    const logger = recordingLogger();
    const leaseMs = 1_500;
    await t.startWorker({ logger, leaseMs });
    const [task] = await t.submit({ type: 'reason', retries: 3 });
    await t.waitForState(task!.id, 'processing');

    const asked = Date.now();
    expect(await t.store.cancelTasks({ ids: [task!.id] })).toEqual([{ id: task!.id, outcome: 'cancel_requested' }]);
    const cancelled = await t.waitForState(task!.id, 'cancelled', { timeoutMs: 10_000, intervalMs: 10 });
    // The next renewal (every leaseMs / 3 = 500 ms) carries the request; generous bound.
    expect(Date.now() - asked).toBeLessThan(leaseMs);
    expect(cancelled.attempt).toBe(1);
    expect(cancelled.errors.every((e) => e.reason !== 'error' && e.reason !== 'lease_expired')).toBe(true);
    await waitUntil(() => reasonsSeen(logger.lines, task!.id).length > 0, 'the handler saw its abort');
    expect(reasonsSeen(logger.lines, task!.id)).toEqual(['cancelled']);
  });

  it('aborts with reason deadline when the deadline passes, and the task ends dead (deadline_exceeded) without a retry', async () => {
    const t = await setup();
    const logger = recordingLogger();
    await t.startWorker({ logger });
    const deadline = Date.now() + 700;
    const [task] = await t.submit({ type: 'reason', deadline, retries: 3, backoff: TINY_BACKOFF });

    const dead = await t.waitForState(task!.id, 'dead');
    expect(dead.attempt).toBe(1);
    expect(dead.error).toMatchObject({ reason: 'deadline_exceeded', attempt: 1 });
    expect(dead.errors).toHaveLength(1);
    expect(dead.finishedAt!).toBeGreaterThanOrEqual(deadline - 50);
    await waitUntil(() => reasonsSeen(logger.lines, task!.id).length > 0, 'the handler saw its abort');
    expect(reasonsSeen(logger.lines, task!.id)).toEqual(['deadline']);
  });

  it('stop() past its grace aborts running handlers with reason shutdown and gives the task back (pending, attempt not spent)', async () => {
    const t = await setup();
    const logger = recordingLogger();
    const worker = await t.startWorker({ logger });
    const [task] = await t.submit({ type: 'reason', retries: 3 });
    await t.waitForTasks([task!.id], (x) => x.state === 'processing' && x.attempt === 1, 'running');

    const stopping = Date.now();
    await worker.stop(300);
    const took = Date.now() - stopping;
    expect(took).toBeGreaterThanOrEqual(250);
    expect(took).toBeLessThan(3_000);
    expect(worker.state).toBe('stopped');

    const back = await t.getTask(task!.id);
    expect(back).toMatchObject({ state: 'pending', attempt: 0, workerId: null, leaseExpiresAt: null });
    expect(back.errors.filter((e) => e.reason !== 'shutdown')).toEqual([]);
    await waitUntil(() => reasonsSeen(logger.lines, task!.id).length > 0, 'the handler saw its abort');
    expect(reasonsSeen(logger.lines, task!.id)).toEqual(['shutdown']);
  });
});
