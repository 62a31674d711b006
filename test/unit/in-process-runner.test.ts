import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { PermanentError, RetryAfterError, retryAfterMsOf, type Handlers } from '../../src/worker/handlers.js';
import { InProcessRunner } from '../../src/worker/in-process-runner.js';
import type { RunOutcome } from '../../src/worker/runner.js';
import { eventually } from '../helpers/eventually.js';
import { FIXTURE_TYPES, HANDLERS_MODULE, runContext, taskOf } from '../fixtures/run-context.js';

/** The handler's later settlement must not surface anywhere: collect what would. */
const unhandled: unknown[] = [];
const onUnhandled = (reason: unknown) => unhandled.push(reason);
beforeEach(() => {
  unhandled.length = 0;
  process.on('unhandledRejection', onUnhandled);
});
afterEach(() => {
  process.off('unhandledRejection', onUnhandled);
  expect(unhandled).toEqual([]);
});

describe('InProcessRunner: loading handlers', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'conveyor-in-process-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  async function moduleFile(name: string, source: string): Promise<string> {
    const path = join(dir, name);
    await writeFile(path, source);
    return path;
  }

  it('ready() lists the types of a handlers module given by path, sorted', async () => {
    expect(await new InProcessRunner({ module: HANDLERS_MODULE }).ready()).toEqual(FIXTURE_TYPES);
  });

  it('accepts a URL and a file: URL string', async () => {
    const url = pathToFileURL(HANDLERS_MODULE);
    expect(await new InProcessRunner({ module: url }).ready()).toEqual(FIXTURE_TYPES);
    expect(await new InProcessRunner({ module: url.href }).ready()).toEqual(FIXTURE_TYPES);
  });

  it('ready() lists the types of a handlers map', async () => {
    expect(await new InProcessRunner({ handlers: { b: () => 1, a: () => 2 } }).ready()).toEqual(['a', 'b']);
  });

  it('rejects a module that cannot be found, naming it', async () => {
    const missing = join(dir, 'missing-handlers.mjs');
    await expect(new InProcessRunner({ module: missing }).ready()).rejects.toThrow(
      `cannot load the handlers module ${missing}`,
    );
  });

  it('rejects a module without a default export, naming it and what it exports', async () => {
    const path = await moduleFile('named.mjs', 'export const handlers = { a: () => 1 };\n');
    await expect(new InProcessRunner({ module: path }).ready()).rejects.toThrow(
      `the handlers module ${path} has no default export (it exports only handlers)`,
    );
  });

  it('rejects a default export that is not an object, saying what it is', async () => {
    const path = await moduleFile('function.mjs', 'export default () => 1;\n');
    await expect(new InProcessRunner({ module: path }).ready()).rejects.toThrow(
      `the default export of the handlers module ${path} must be an object mapping task types to handler functions, but it is a function`,
    );
  });

  it('rejects a map with a value that is not a function, naming the type', async () => {
    const path = await moduleFile('mixed.mjs', 'export default { ok: () => 1, broken: 42 };\n');
    await expect(new InProcessRunner({ module: path }).ready()).rejects.toThrow(`"broken" is a number`);
    await expect(new InProcessRunner({ handlers: { x: 'nope' } as unknown as Handlers }).ready()).rejects.toThrow(
      'the `handlers` option must map task types to handler functions, but "x" is a string',
    );
  });

  it('run() resolves failed (never rejects) when the module cannot load', async () => {
    const runner = new InProcessRunner({ module: join(dir, 'missing-handlers.mjs') });
    const outcome = await runner.run(taskOf('echo'), runContext());
    expect(outcome).toMatchObject({ status: 'failed', permanent: false, error: { message: expect.stringContaining('cannot load') } });
  });
});

describe('InProcessRunner: outcomes', () => {
  const runner = new InProcessRunner({ module: HANDLERS_MODULE });
  beforeAll(async () => {
    await runner.ready();
  });

  it('a returned value is the result, as JSON', async () => {
    const payload = { to: 'a@example.com', n: [1, 2, { deep: true }] };
    expect(await runner.run(taskOf('echo', payload), runContext())).toEqual({ status: 'completed', result: payload });
  });

  it('the result is a JSON copy: a Date becomes its string, undefined fields vanish', async () => {
    const dated = new InProcessRunner({ handlers: { dated: () => ({ at: new Date(0), gone: undefined }) } });
    expect(await dated.run(taskOf('dated'), runContext())).toEqual({ status: 'completed', result: { at: '1970-01-01T00:00:00.000Z' } });
  });

  it('undefined becomes null', async () => {
    expect(await runner.run(taskOf('nothing'), runContext())).toEqual({ status: 'completed', result: null });
  });

  it('a throw fails the attempt with name, message and stack, not permanently', async () => {
    const outcome = await runner.run(taskOf('fail'), runContext());
    expect(outcome).toMatchObject({ status: 'failed', permanent: false, error: { name: 'Error', message: 'boom' } });
    expect(failure(outcome).error.stack).toContain('boom');
    expect(failure(outcome).noHandler).toBeUndefined();
  });

  it('a rejected promise fails the attempt', async () => {
    const rejecting = new InProcessRunner({ handlers: { later: async () => Promise.reject(new TypeError('later boom')) } });
    expect(await rejecting.run(taskOf('later'), runContext())).toMatchObject({
      status: 'failed',
      permanent: false,
      error: { name: 'TypeError', message: 'later boom' },
    });
  });

  it('a PermanentError, or any error with permanent: true, is permanent', async () => {
    expect(await runner.run(taskOf('permanent'), runContext())).toMatchObject({
      status: 'failed',
      permanent: true,
      error: { name: 'PermanentError', message: 'bad input: will never work' },
    });
    const flagged = new InProcessRunner({
      handlers: { flagged: () => Promise.reject(Object.assign(new Error('flagged'), { permanent: true })) },
    });
    expect(await flagged.run(taskOf('flagged'), runContext())).toMatchObject({ status: 'failed', permanent: true });
    expect(new PermanentError('x').permanent).toBe(true);
  });

  it('a RetryAfterError (or any error with a finite retryAfterMs ≥ 0) carries its delay in the outcome', async () => {
    const outcome = await runner.run(taskOf('retryAfter', { ms: 2_500 }), runContext());
    expect(outcome).toMatchObject({ status: 'failed', permanent: false, retryAfterMs: 2_500, error: { name: 'RetryAfterError', message: 'try again later' } });

    const flagged = new InProcessRunner({
      handlers: {
        plain: () => Promise.reject(Object.assign(new Error('rate limited'), { retryAfterMs: 10.2 })),
        both: () => Promise.reject(Object.assign(new PermanentError('gone'), { retryAfterMs: 5 })),
      },
    });
    expect(await flagged.run(taskOf('plain'), runContext())).toMatchObject({ status: 'failed', permanent: false, retryAfterMs: 11 });
    expect(await flagged.run(taskOf('both'), runContext())).toMatchObject({ status: 'failed', permanent: true, retryAfterMs: 5 });
    // A plain throw has no delay of its own: the backoff applies.
    expect(failure(await runner.run(taskOf('fail'), runContext())).retryAfterMs).toBeUndefined();
  });

  it('ignores a retryAfterMs that is not a finite number ≥ 0', () => {
    for (const retryAfterMs of [-1, Number.NaN, Number.POSITIVE_INFINITY, '1000', null, undefined]) {
      expect(retryAfterMsOf(Object.assign(new Error('x'), { retryAfterMs }))).toBeUndefined();
    }
    expect(retryAfterMsOf('a string')).toBeUndefined();
    expect(retryAfterMsOf(null)).toBeUndefined();
    expect(retryAfterMsOf(new RetryAfterError('x', 0))).toBe(0);
    expect(retryAfterMsOf(new RetryAfterError('x', 1e300))).toBe(100 * 365.25 * 24 * 60 * 60 * 1000);
    const err = new RetryAfterError('later', 750);
    expect(err).toBeInstanceOf(Error);
    expect([err.name, err.message, err.retryAfterMs]).toEqual(['RetryAfterError', 'later', 750]);
  });

  it('a thrown non-Error value fails the attempt with the value in the message', async () => {
    const outcome = await runner.run(taskOf('throwString'), runContext());
    expect(outcome).toMatchObject({ status: 'failed', permanent: false });
    expect(failure(outcome).error.message).toContain('not an Error');
  });

  it('a result that is not JSON (BigInt, a cycle, a function) fails permanently, saying so', async () => {
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    const odd = new InProcessRunner({ handlers: { cycle: () => cyclic, fn: () => () => 1 } });
    for (const outcome of [
      await runner.run(taskOf('bigint'), runContext()),
      await odd.run(taskOf('cycle'), runContext()),
      await odd.run(taskOf('fn'), runContext()),
    ]) {
      expect(outcome).toMatchObject({ status: 'failed', permanent: true });
      expect(failure(outcome).error.message).toMatch(/returned a result that is not JSON/);
    }
  });

  it('an unknown type fails with noHandler, naming the type and the known types', async () => {
    const small = new InProcessRunner({ handlers: { b: () => 1, a: () => 2 } });
    expect(await small.run(taskOf('x'), runContext())).toEqual({
      status: 'failed',
      noHandler: true,
      permanent: false,
      error: { name: 'NoHandlerError', message: 'no handler for task type "x"; this worker handles: a, b' },
    });
  });

  it('a type named like an Object.prototype member finds no handler', async () => {
    for (const type of ['toString', 'constructor', '__proto__']) {
      expect(await runner.run(taskOf(type), runContext())).toMatchObject({ status: 'failed', noHandler: true });
    }
  });

  it('passes progress, log lines, dependencies and the attempt through', async () => {
    const ctx = runContext({ attempt: 3, dependencies: { 'dep-1': { ok: true }, 'dep-2': null } });
    expect(await runner.run(taskOf('progress'), ctx)).toEqual({ status: 'completed', result: 'reported' });
    expect(ctx.progress).toEqual([1, 2, 3]);

    const task = taskOf('log');
    await runner.run(task, ctx);
    expect(ctx.logger.lines).toEqual([
      { level: 'info', obj: { taskId: task.id }, msg: 'hello from the handler' },
      { level: 'warn', obj: { step: 2, detail: 'x' }, msg: 'a child logger line' },
    ]);

    expect(await runner.run(taskOf('deps'), ctx)).toEqual({ status: 'completed', result: { 'dep-1': { ok: true }, 'dep-2': null } });
    expect(await runner.run(taskOf('attempt'), ctx)).toEqual({ status: 'completed', result: 3 });
  });
});

describe('InProcessRunner: aborts', () => {
  const runner = new InProcessRunner({ module: HANDLERS_MODULE });
  beforeAll(async () => {
    await runner.ready();
  });

  it('resolves aborted at once, and the handler sees the reason on its signal', async () => {
    const ctx = runContext();
    const running = runner.run(taskOf('reason'), ctx);
    await new Promise((resolve) => setTimeout(resolve, 20));
    const abortedAt = Date.now();
    ctx.controller.abort('timeout');
    expect(await running).toEqual({ status: 'aborted' });
    expect(Date.now() - abortedAt).toBeLessThan(50);
    // The handler settles afterwards (it throws): ignored, and no unhandled rejection (afterEach).
    await eventually(() => expect(ctx.logger.lines).toContainEqual({ level: 'info', obj: { reason: 'timeout' }, msg: 'handler saw its abort' }));
  });

  it('does not wait for a handler that ignores its signal', async () => {
    const ctx = runContext();
    const running = runner.run(taskOf('ignoreAbort', { ms: 300 }), ctx);
    setTimeout(() => ctx.controller.abort('cancelled'), 10);
    const started = Date.now();
    expect(await running).toEqual({ status: 'aborted' });
    expect(Date.now() - started).toBeLessThan(150);
  });

  it('a handler rejecting after the abort causes no unhandled rejection', async () => {
    const ctx = runContext();
    const running = runner.run(taskOf('sleep', { ms: 5_000 }), ctx);
    ctx.controller.abort('shutdown');
    expect(await running).toEqual({ status: 'aborted' });
    await new Promise((resolve) => setTimeout(resolve, 20));
  });

  it('an already-aborted signal: aborted, and the handler is not called', async () => {
    let calls = 0;
    const counting = new InProcessRunner({ handlers: { count: () => (calls += 1) } });
    const ctx = runContext();
    ctx.controller.abort('deadline');
    expect(await counting.run(taskOf('count'), ctx)).toEqual({ status: 'aborted' });
    expect(calls).toBe(0);
  });

  it('a handler that settles before the abort keeps its outcome', async () => {
    const ctx = runContext();
    const outcome: RunOutcome = await runner.run(taskOf('echo', 7), ctx);
    ctx.controller.abort('lease_lost');
    expect(outcome).toEqual({ status: 'completed', result: 7 });
  });
});

function failure(outcome: RunOutcome): Extract<RunOutcome, { status: 'failed' }> {
  if (outcome.status !== 'failed') throw new Error(`expected a failed outcome, got ${JSON.stringify(outcome)}`);
  return outcome;
}
