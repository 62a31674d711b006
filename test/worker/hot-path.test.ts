/**
 * The worker's hot path (issue 6): an attempt makes its AbortSignal and its child logger only when
 * something reads them, yet behaves as before: an abort before the first read shows on the signal
 * when it is read, a handler that never reads it still ends with the abort's outcome, and the
 * handler's context is a plain-looking object. Claims and outcome writes come in batches under load.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { expect, it } from 'vitest';
import type { ClaimTasksParams, FinishTasksParams } from '../../src/store/store.js';
import type { Handlers, Logger } from '../../src/worker/handlers.js';
import { recordingLogger } from '../fixtures/run-context.js';
import { describeForEachStore, FIXTURE_HANDLERS, spyStore, TINY_BACKOFF } from './harness.js';

const handlers: Handlers = {
  ...FIXTURE_HANDLERS,
  /** Waits payload.ms without looking at its signal, then reports what the signal says. */
  lateLook: async (task, ctx) => {
    await sleep((task.payload as { ms: number }).ms);
    ctx.logger.info({ aborted: ctx.signal.aborted, reason: String(ctx.signal.reason) }, 'late look at the signal');
    return null;
  },
  /** What the context looks like to code that copies or lists it. */
  describeContext: (_task, ctx) => {
    const copy = { ...ctx };
    return {
      keys: Object.keys(ctx),
      ownKeys: Reflect.ownKeys(ctx).map(String),
      plain: Object.getPrototypeOf(ctx) === Object.prototype && ctx.constructor === Object,
      copiedSignal: copy.signal instanceof AbortSignal,
      copiedLogger: typeof copy.logger?.info === 'function',
      sameSignal: ctx.signal === ctx.signal && copy.signal === ctx.signal,
      hasSignal: 'signal' in ctx && Object.prototype.hasOwnProperty.call(ctx, 'signal'),
      attempt: copy.attempt,
      dependencies: copy.dependencies,
      progressIsFunction: typeof copy.progress === 'function',
    };
  },
};

/** A recording logger that also counts the child loggers made from it. */
function countingLogger(): { logger: ReturnType<typeof recordingLogger>; children: () => number } {
  const logger = recordingLogger();
  let children = 0;
  const child = logger.child.bind(logger);
  logger.child = (bindings: object): Logger => {
    children += 1;
    return child(bindings);
  };
  return { logger, children: () => children };
}

describeForEachStore('worker: hot path', (setup) => {
  it('a handler that never reads ctx.signal still ends with the outcome of its timeout', async () => {
    const t = await setup();
    await t.startWorker({ handlers });
    const started = Date.now();
    const [task] = await t.submit({ type: 'ignoreAbort', payload: { ms: 10_000 }, timeout: 200, retries: 0, backoff: TINY_BACKOFF });
    const dead = await t.waitForState(task!.id, 'dead', { timeoutMs: 5_000 });
    expect(Date.now() - started).toBeLessThan(3_000);
    expect(dead.error).toMatchObject({ reason: 'timeout', attempt: 1 });
  });

  it('a handler that reads ctx.signal only after its abort finds it aborted, with the reason', async () => {
    const t = await setup();
    const logger = recordingLogger();
    await t.startWorker({ handlers, logger });
    const [task] = await t.submit({ type: 'lateLook', payload: { ms: 400 }, timeout: 100, retries: 0 });
    const dead = await t.waitForState(task!.id, 'dead', { timeoutMs: 5_000 });
    expect(dead.error).toMatchObject({ reason: 'timeout' });
    await expect.poll(() => logger.lines.find((line) => line.msg === 'late look at the signal')?.obj, { timeout: 5_000 }).toMatchObject({
      taskId: task!.id,
      aborted: true,
      reason: 'timeout',
    });
  });

  it('the handler context copies and lists as a plain object of its five fields', async () => {
    const t = await setup();
    await t.startWorker({ handlers });
    const [task] = await t.submit({ type: 'describeContext' });
    const done = await t.waitForState(task!.id, 'completed');
    expect(done.result).toEqual({
      keys: ['signal', 'attempt', 'progress', 'logger', 'dependencies'],
      ownKeys: ['signal', 'attempt', 'progress', 'logger', 'dependencies'],
      plain: true,
      copiedSignal: true,
      copiedLogger: true,
      sameSignal: true,
      hasSignal: true,
      attempt: 1,
      dependencies: {},
      progressIsFunction: true,
    });
  });

  it('makes no child logger for attempts that do not log, and still logs their completion with the task fields', async () => {
    const t = await setup();
    const { logger, children } = countingLogger();
    const worker = await t.startWorker({ handlers, logger, concurrency: 5 });
    const tasks = await t.submitMany(20, { type: 'echo', payload: 1 });
    await t.waitForStates(
      tasks.map((task) => task.id),
      'completed',
    );
    await expect.poll(() => logger.lines.filter((line) => line.msg === 'task completed').length, { timeout: 5_000 }).toBe(20);
    // The worker's own child, none per attempt.
    expect(children()).toBe(1);
    const line = logger.lines.find((l) => l.msg === 'task completed' && (l.obj as { taskId?: string }).taskId === tasks[0]!.id);
    expect(line).toMatchObject({
      level: 'debug',
      obj: { workerId: worker.id, taskId: tasks[0]!.id, queue: 'default', type: 'echo', attempt: 1, durationMs: expect.any(Number) },
    });
  });

  it('under load, each claim brings many tasks and each finishTasks call carries many outcomes', async () => {
    const t = await setup();
    const spy = spyStore(t.store);
    const concurrency = 50;
    await t.startWorker({ store: spy.store, handlers, concurrency });
    const tasks = await t.submitMany(1_000, { type: 'echo', payload: 'x' });
    await t.waitForStates(
      tasks.map((task) => task.id),
      'completed',
      { timeoutMs: 30_000 },
    );
    const claims = spy.callsOf('claimTasks').map((call) => call.params as ClaimTasksParams);
    const finishes = spy.callsOf('finishTasks').map((call) => (call.params as FinishTasksParams).items.length);
    expect(finishes.reduce((a, b) => a + b, 0)).toBe(1_000);
    // 1,000 tasks in slots of 50: about 20 claims and as many writes when slots free together;
    // generous bounds (at least 5 tasks per call on average) for a busy machine.
    expect(claims.length).toBeLessThanOrEqual(200);
    expect(finishes.length).toBeLessThanOrEqual(200);
    for (const claim of claims) expect(claim.limit).toBeLessThanOrEqual(concurrency);
  });
});
