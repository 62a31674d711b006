import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { HandlerAbortReason } from '../../src/worker/handlers.js';
import type { RunOutcome } from '../../src/worker/runner.js';
import { SandboxRunner, type SandboxRunnerOptions } from '../../src/worker/sandbox/sandbox-runner.js';
import { eventually } from '../helpers/eventually.js';
import { FIXTURE_TYPES, HANDLERS_MODULE, recordingLogger, runContext, taskOf } from '../fixtures/run-context.js';

/** Runners a test opened; closed after it, whatever happened. */
const opened: SandboxRunner[] = [];
function sandbox(options: Partial<SandboxRunnerOptions> = {}): SandboxRunner {
  const runner = new SandboxRunner({ module: HANDLERS_MODULE, threads: 1, ...options });
  opened.push(runner);
  return runner;
}
afterEach(async () => {
  await Promise.all(opened.splice(0).map((runner) => runner.close()));
});

function failure(outcome: RunOutcome): Extract<RunOutcome, { status: 'failed' }> {
  if (outcome.status !== 'failed') throw new Error(`expected a failed outcome, got ${JSON.stringify(outcome)}`);
  return outcome;
}

const wait = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('SandboxRunner: outcomes (same mapping as in-process)', () => {
  // One runner for the whole block: starting a thread that loads TypeScript takes a few hundred ms.
  const runner = new SandboxRunner({ module: HANDLERS_MODULE, threads: 2 });
  beforeAll(async () => {
    expect(await runner.ready()).toEqual(FIXTURE_TYPES);
  });
  afterAll(async () => {
    await runner.close();
  });

  it('a returned value is the result, as JSON; undefined becomes null', async () => {
    const payload = { to: 'a@example.com', n: [1, 2, { deep: true }] };
    expect(await runner.run(taskOf('echo', payload), runContext())).toEqual({ status: 'completed', result: payload });
    expect(await runner.run(taskOf('nothing'), runContext())).toEqual({ status: 'completed', result: null });
  });

  it('a throw fails the attempt with name, message and stack', async () => {
    const outcome = await runner.run(taskOf('fail'), runContext());
    expect(outcome).toMatchObject({ status: 'failed', permanent: false, error: { name: 'Error', message: 'boom' } });
    expect(failure(outcome).error.stack).toContain('boom');
  });

  it('a PermanentError is permanent', async () => {
    expect(await runner.run(taskOf('permanent'), runContext())).toMatchObject({
      status: 'failed',
      permanent: true,
      error: { name: 'PermanentError', message: 'bad input: will never work' },
    });
  });

  it('a RetryAfterError carries its delay across the thread boundary', async () => {
    expect(await runner.run(taskOf('retryAfter', { ms: 2_500 }), runContext())).toMatchObject({
      status: 'failed',
      permanent: false,
      retryAfterMs: 2_500,
      error: { name: 'RetryAfterError', message: 'try again later' },
    });
    expect(failure(await runner.run(taskOf('fail'), runContext())).retryAfterMs).toBeUndefined();
  });

  it('a thrown non-Error value and a result that is not JSON fail, saying what happened', async () => {
    expect(failure(await runner.run(taskOf('throwString'), runContext())).error.message).toContain('not an Error');
    const notJson = failure(await runner.run(taskOf('bigint'), runContext()));
    expect(notJson.permanent).toBe(true);
    expect(notJson.error.message).toMatch(/returned a result that is not JSON/);
  });

  it('an unknown type fails with noHandler, naming the type and the known types', async () => {
    expect(await runner.run(taskOf('x'), runContext())).toEqual({
      status: 'failed',
      noHandler: true,
      permanent: false,
      error: { name: 'NoHandlerError', message: `no handler for task type "x"; this worker handles: ${FIXTURE_TYPES.join(', ')}` },
    });
  });

  it('forwards progress and log lines (at their level, with child bindings); passes dependencies and attempt', async () => {
    const ctx = runContext({ attempt: 2, dependencies: { 'dep-1': { ok: true }, 'dep-2': null } });
    expect(await runner.run(taskOf('progress'), ctx)).toEqual({ status: 'completed', result: 'reported' });
    expect(ctx.progress).toEqual([1, 2, 3]);

    const task = taskOf('log');
    expect(await runner.run(task, ctx)).toEqual({ status: 'completed', result: null });
    expect(ctx.logger.lines).toEqual([
      { level: 'info', obj: { taskId: task.id }, msg: 'hello from the handler' },
      { level: 'warn', obj: { step: 2, detail: 'x' }, msg: 'a child logger line' },
    ]);

    expect(await runner.run(taskOf('deps'), ctx)).toEqual({ status: 'completed', result: { 'dep-1': { ok: true }, 'dep-2': null } });
    expect(await runner.run(taskOf('attempt'), ctx)).toEqual({ status: 'completed', result: 2 });
  });

  it('on abort: aborted at once, and the handler sees the same reason on its signal', async () => {
    const reasons: HandlerAbortReason[] = ['timeout', 'cancelled', 'deadline', 'lease_lost', 'shutdown'];
    for (const reason of reasons) {
      const ctx = runContext();
      const running = runner.run(taskOf('reason'), ctx);
      await wait(30);
      const abortedAt = Date.now();
      ctx.controller.abort(reason);
      expect(await running).toEqual({ status: 'aborted' });
      expect(Date.now() - abortedAt).toBeLessThan(50);
      await eventually(() =>
        expect(ctx.logger.lines).toContainEqual({ level: 'info', obj: { reason }, msg: 'handler saw its abort' }),
      );
    }
  });

  it('an already-aborted signal resolves aborted without running the handler', async () => {
    const ctx = runContext();
    ctx.controller.abort('shutdown');
    expect(await runner.run(taskOf('log'), ctx)).toEqual({ status: 'aborted' });
    await wait(50);
    expect(ctx.logger.lines).toEqual([]);
  });
});

describe('SandboxRunner: threads', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'conveyor-sandbox-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('a busy handler does not block the main event loop', async () => {
    const runner = sandbox();
    await runner.ready();
    const periodMs = 20;
    const ticks: number[] = [];
    const interval = setInterval(() => ticks.push(Date.now()), periodMs);
    const started = Date.now();
    try {
      expect(await runner.run(taskOf('busy', { ms: 500 }), runContext())).toEqual({
        status: 'completed',
        result: { busyMs: 500, spun: true },
      });
    } finally {
      clearInterval(interval);
    }
    const elapsed = Date.now() - started;
    expect(elapsed).toBeGreaterThanOrEqual(500);
    // 25 ticks at most in 500 ms; a blocked loop would show one or two. Generous bounds for a loaded machine.
    expect(ticks.length).toBeGreaterThanOrEqual(10);
    const gaps = ticks.slice(1).map((at, i) => at - (ticks[i] ?? at));
    expect(Math.max(...gaps)).toBeLessThan(250);
  });

  it('terminates a thread whose handler ignores its abort after terminateGraceMs, and runs the next task', async () => {
    const logger = recordingLogger();
    const runner = sandbox({ terminateGraceMs: 200, logger });
    await runner.ready();
    const ctx = runContext();
    const ignoring = runner.run(taskOf('ignoreAbort', { ms: 30_000 }), ctx);
    await wait(30);
    ctx.controller.abort('timeout');
    expect(await ignoring).toEqual({ status: 'aborted' });

    // The only thread is still busy with the ignoring handler: the next task waits for its replacement.
    const started = Date.now();
    expect(await runner.run(taskOf('echo', 'next'), runContext())).toEqual({ status: 'completed', result: 'next' });
    expect(Date.now() - started).toBeGreaterThanOrEqual(190);
    expect(logger.lines.some((line) => line.level === 'warn' && /terminating a sandbox thread/.test(line.msg ?? ''))).toBe(true);
  });

  it('terminates a busy-looping handler after its grace (it never returns to its event loop)', async () => {
    const runner = sandbox({ terminateGraceMs: 100 });
    await runner.ready();
    const ctx = runContext();
    const looping = runner.run(taskOf('busy', { ms: 20_000 }), ctx);
    await wait(50);
    ctx.controller.abort('cancelled');
    expect(await looping).toEqual({ status: 'aborted' });
    const started = Date.now();
    expect(await runner.run(taskOf('echo', 1), runContext())).toEqual({ status: 'completed', result: 1 });
    expect(Date.now() - started).toBeLessThan(10_000);
  });

  it('a handler that settles within the grace keeps its thread', async () => {
    const logger = recordingLogger();
    const runner = sandbox({ terminateGraceMs: 2_000, logger });
    await runner.ready();
    const ctx = runContext();
    const sleeping = runner.run(taskOf('sleep', { ms: 10_000 }), ctx);
    await wait(30);
    ctx.controller.abort('shutdown');
    expect(await sleeping).toEqual({ status: 'aborted' });
    const started = Date.now();
    expect(await runner.run(taskOf('echo', 2), runContext())).toEqual({ status: 'completed', result: 2 });
    // No replacement thread to wait for: the same thread took the task.
    expect(Date.now() - started).toBeLessThan(1_000);
    expect(logger.lines).toEqual([]);
  });

  it('a thread that dies while running a task fails that run (not permanently) and is replaced', async () => {
    const logger = recordingLogger();
    const runner = sandbox({ logger });
    await runner.ready();
    const outcome = failure(await runner.run(taskOf('exitThread'), runContext()));
    expect(outcome.permanent).toBe(false);
    expect(outcome.error.message).toMatch(/the sandbox thread died while running the task: exit code 3/);
    expect(await runner.run(taskOf('echo', 'after'), runContext())).toEqual({ status: 'completed', result: 'after' });
    expect(runner.loadedThreads).toBe(1);
    expect(logger.lines.map((line) => line.msg)).toContain('a sandbox thread exited unexpectedly; starting a replacement');
  });

  it('threads: 2 runs two tasks at once', async () => {
    const runner = sandbox({ threads: 2 });
    await runner.ready();
    // ready() only waits for the first thread: time the pair once both can take a task.
    await eventually(() => expect(runner.loadedThreads).toBe(2));
    const started = Date.now();
    const outcomes = await Promise.all([
      runner.run(taskOf('sleep', { ms: 400 }), runContext()),
      runner.run(taskOf('sleep', { ms: 400 }), runContext()),
    ]);
    expect(outcomes).toEqual([
      { status: 'completed', result: { sleptMs: 400 } },
      { status: 'completed', result: { sleptMs: 400 } },
    ]);
    expect(Date.now() - started).toBeLessThan(700);
  });

  it('tasks wait for a free thread in arrival order', async () => {
    const runner = sandbox();
    await runner.ready();
    const finished: number[] = [];
    await Promise.all(
      [1, 2, 3].map((n) =>
        runner.run(taskOf('sleep', { ms: 30 }), runContext()).then(() => {
          finished.push(n);
        }),
      ),
    );
    expect(finished).toEqual([1, 2, 3]);
  });

  it('a run aborted while it waits for a thread resolves aborted and never runs', async () => {
    const runner = sandbox();
    await runner.ready();
    const first = runner.run(taskOf('sleep', { ms: 200 }), runContext());
    const ctx = runContext();
    const queued = runner.run(taskOf('log'), ctx);
    await wait(20);
    ctx.controller.abort('cancelled');
    expect(await queued).toEqual({ status: 'aborted' });
    expect(await first).toEqual({ status: 'completed', result: { sleptMs: 200 } });
    await wait(50);
    expect(ctx.logger.lines).toEqual([]);
  });

  it('a module that cannot be found: ready() rejects naming it, run() resolves failed', async () => {
    const missing = join(dir, 'no-such-handlers.mjs');
    const runner = sandbox({ module: missing, threads: 2 });
    await expect(runner.ready()).rejects.toThrow(`cannot load the handlers module ${missing}`);
    const outcome = failure(await runner.run(taskOf('echo'), runContext()));
    expect(outcome.error.message).toContain(missing);
  });

  it('a module whose default export is not a map of handlers: ready() rejects saying what it found', async () => {
    const path = join(dir, 'array-default.mjs');
    await writeFile(path, 'export default [1, 2];\n');
    await expect(sandbox({ module: path }).ready()).rejects.toThrow(
      `the default export of the handlers module ${path} must be an object mapping task types to handler functions, but it is an array`,
    );
  });

  it('close() fails the runs still waiting for a thread, and later runs', async () => {
    const runner = sandbox();
    await runner.ready();
    const running = runner.run(taskOf('sleep', { ms: 5_000 }), runContext());
    const waiting = runner.run(taskOf('echo'), runContext());
    await wait(20);
    await runner.close();
    expect(failure(await running).error.message).toMatch(/sandbox thread died.*the sandbox runner closed/);
    expect(failure(await waiting).error.name).toBe('SandboxClosedError');
    expect(await runner.run(taskOf('echo'), runContext())).toMatchObject({ status: 'failed', permanent: false });
  });

  it('rejects options that make no pool', () => {
    expect(() => new SandboxRunner({ module: HANDLERS_MODULE, threads: 0 })).toThrow(/`threads` must be an integer of at least 1, got 0/);
    expect(() => new SandboxRunner({ module: HANDLERS_MODULE, threads: 1, terminateGraceMs: -1 })).toThrow(/`terminateGraceMs`/);
  });
});
