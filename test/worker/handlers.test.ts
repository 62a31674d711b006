/**
 * Handlers as the worker runs them: results, failures and retries, permanent errors, unknown types,
 * dependencies, progress, attempts and the logger.
 */
import { setTimeout as delay } from 'node:timers/promises';
import { expect, it } from 'vitest';
import { RetryAfterError, type Handlers } from '../../src/worker/handlers.js';
import { recordingLogger } from '../fixtures/run-context.js';
import { describeForEachStore, FIXTURE_HANDLERS, TINY_BACKOFF } from './harness.js';

describeForEachStore('worker: handlers', (setup) => {
  it('stores the value a handler returns as the task’s result', async () => {
    const t = await setup();
    const worker = await t.startWorker();
    const payload = { to: 'a@example.com', items: [1, 2, { deep: true }] };
    const [task, nothing] = await t.submit({ type: 'echo', payload }, { type: 'nothing' });

    const [done, empty] = await t.waitForStates([task!.id, nothing!.id], 'completed');
    expect(done).toMatchObject({ state: 'completed', result: payload, attempt: 1, error: null, errors: [], workerId: worker.id });
    expect(done!.finishedAt).toEqual(expect.any(Number));
    expect(empty).toMatchObject({ state: 'completed', result: null });
  });

  it('keeps the last progress of a handler that returns before the next lease renewal', async () => {
    const t = await setup();
    await t.startWorker();
    const [task] = await t.submit({ type: 'progress' });
    const [done] = await t.waitForStates([task!.id], 'completed');
    expect(done).toMatchObject({ result: 'reported', progress: 3 });
  });

  it('retries a throwing handler per its backoff until no attempt is left, then dead with the error history', async () => {
    const t = await setup();
    await t.startWorker();
    const [task] = await t.submit({ type: 'fail', retries: 2, backoff: { type: 'fixed', delay: 200, jitter: 0 } });

    const dead = await t.waitForState(task!.id, 'dead');
    expect(dead.attempt).toBe(3);
    expect(dead.errors.map((e) => [e.attempt, e.reason, e.name, e.message])).toEqual([
      [1, 'error', 'Error', 'boom'],
      [2, 'error', 'Error', 'boom'],
      [3, 'error', 'Error', 'boom'],
    ]);
    expect(dead.error).toMatchObject({ reason: 'error', message: 'boom', attempt: 3 });
    expect(dead.errors[0]!.stack).toContain('boom');
    // Each retry waited for its backoff (200 ms, measured on the store's clock).
    for (let i = 1; i < dead.errors.length; i++) {
      expect(dead.errors[i]!.at - dead.errors[i - 1]!.at).toBeGreaterThanOrEqual(190);
    }
  });

  it('a RetryAfterError sets the retry delay', async () => {
    const t = await setup();
    const handlers: Handlers = {
      rateLimited: (_task, ctx) => {
        if (ctx.attempt === 1) throw new RetryAfterError('slow down', 1_200);
        return { succeededOn: ctx.attempt };
      },
    };
    await t.startWorker({ handlers });
    // The backoff alone would retry after 10 ms.
    const [task] = await t.submit({ type: 'rateLimited', retries: 3, backoff: TINY_BACKOFF });

    const scheduled = await t.waitForState(task!.id, 'scheduled');
    const failedAt = scheduled.errors[0]!.at;
    expect(scheduled.errors[0]).toMatchObject({ attempt: 1, reason: 'error', name: 'RetryAfterError', message: 'slow down' });
    // Both times are on the store's clock, taken in the same write.
    expect(scheduled.runAt - failedAt).toBeGreaterThanOrEqual(1_200);
    expect(scheduled.runAt - failedAt).toBeLessThan(1_300);

    const done = await t.waitForState(task!.id, 'completed');
    expect(done).toMatchObject({ attempt: 2, result: { succeededOn: 2 } });
    expect(done.finishedAt! - failedAt).toBeGreaterThanOrEqual(1_190);
  });

  it('skips the remaining retries when a handler throws a PermanentError', async () => {
    const t = await setup();
    await t.startWorker();
    const [task] = await t.submit({ type: 'permanent', retries: 5, backoff: TINY_BACKOFF });

    const dead = await t.waitForState(task!.id, 'dead');
    expect(dead.attempt).toBe(1);
    expect(dead.errors).toHaveLength(1);
    expect(dead.error).toMatchObject({ reason: 'error', name: 'PermanentError', message: 'bad input: will never work', attempt: 1 });
  });

  it('fails a task of a type it has no handler for with reason no_handler, naming the type and the types it knows', async () => {
    const t = await setup();
    await t.startWorker();
    const [task] = await t.submit({ type: 'no-such-type', retries: 1, backoff: TINY_BACKOFF });

    const dead = await t.waitForState(task!.id, 'dead');
    const known = Object.keys(FIXTURE_HANDLERS).sort();
    // Not permanent: another worker may have the handler, so the retry is spent too.
    expect(dead.attempt).toBe(2);
    expect(dead.errors.map((e) => e.reason)).toEqual(['no_handler', 'no_handler']);
    expect(dead.error!.message).toContain('"no-such-type"');
    expect(dead.error!.message).toContain(known.join(', '));
  });

  it('gives a handler the results of the tasks it depends on in ctx.dependencies', async () => {
    const t = await setup();
    await t.startWorker();
    const [a, b] = await t.submit({ type: 'echo', payload: { from: 'a' } }, { type: 'echo', payload: ['b', 2] });
    const [child] = await t.submit({ type: 'deps', dependsOn: [a!.id, b!.id] });
    expect(child!.state).toBe('blocked');

    const done = await t.waitForState(child!.id, 'completed');
    expect(done.result).toEqual({ [a!.id]: { from: 'a' }, [b!.id]: ['b', 2] });
  });

  it('stores what ctx.progress reports on the task while it runs (carried by lease renewal)', async () => {
    const t = await setup();
    const handlers: Handlers = {
      slowProgress: async (_task, ctx) => {
        ctx.progress({ step: 1, of: 2 });
        await delay(1_000, undefined, { signal: ctx.signal });
        ctx.progress({ step: 2, of: 2 });
        await delay(1_500, undefined, { signal: ctx.signal });
        return 'done';
      },
    };
    await t.startWorker({ handlers, leaseMs: 1_500 });
    const [task] = await t.submit({ type: 'slowProgress' });

    const first = await t.waitForTasks([task!.id], (x) => JSON.stringify(x.progress) === '{"step":1,"of":2}', 'at progress step 1', { timeoutMs: 5_000 });
    expect(first[0]!.state).toBe('processing');
    const second = await t.waitForTasks([task!.id], (x) => JSON.stringify(x.progress) === '{"step":2,"of":2}', 'at progress step 2', { timeoutMs: 5_000 });
    expect(second[0]!.state).toBe('processing');
    expect((await t.waitForState(task!.id, 'completed')).result).toBe('done');
  });

  it('counts attempts in ctx.attempt', async () => {
    const t = await setup();
    const seen: number[] = [];
    const handlers: Handlers = {
      flaky: (_task, ctx) => {
        seen.push(ctx.attempt);
        if (ctx.attempt < 3) throw new Error(`attempt ${ctx.attempt} fails`);
        return { succeededOn: ctx.attempt };
      },
    };
    await t.startWorker({ handlers });
    const [task] = await t.submit({ type: 'flaky', retries: 5, backoff: TINY_BACKOFF });

    const done = await t.waitForState(task!.id, 'completed');
    expect(seen).toEqual([1, 2, 3]);
    expect(done).toMatchObject({ attempt: 3, result: { succeededOn: 3 } });
    expect(done.errors.map((e) => [e.attempt, e.message])).toEqual([
      [1, 'attempt 1 fails'],
      [2, 'attempt 2 fails'],
    ]);
  });

  it('gives a handler a logger bound to the worker, the task and its attempt', async () => {
    const t = await setup();
    const logger = recordingLogger();
    const worker = await t.startWorker({ logger });
    const [task] = await t.submit({ type: 'log' });
    await t.waitForState(task!.id, 'completed');

    const hello = logger.lines.find((line) => line.msg === 'hello from the handler');
    expect(hello).toMatchObject({ level: 'info', obj: { workerId: worker.id, taskId: task!.id, type: 'log', attempt: 1 } });
    const child = logger.lines.find((line) => line.msg === 'a child logger line');
    expect(child).toMatchObject({ level: 'warn', obj: { taskId: task!.id, step: 2, detail: 'x' } });
  });
});
