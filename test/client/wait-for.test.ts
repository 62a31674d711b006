/**
 * Client: waitFor on both stores, with a real worker running the fixture handlers.
 */
import { expect, it } from 'vitest';
import { createClient } from '../../src/client/client.js';
import { ConveyorError } from '../../src/errors.js';
import { describeForEachStore, TINY_BACKOFF } from '../worker/harness.js';

const UNKNOWN_ID = '01ARZ3NDEKTSV4RRFFQ69G5FAV';

async function caught(promise: Promise<unknown>): Promise<ConveyorError> {
  const err = await promise.then(
    () => new Error('expected the wait to reject'),
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ConveyorError);
  return err as ConveyorError;
}

describeForEachStore('client: waitFor', (setup) => {
  it('resolves with the completed task and its result', async () => {
    const t = await setup();
    const client = createClient({ store: t.store });
    await t.startWorker();
    const { task } = await client.submit({ type: 'echo', payload: { hello: 'world' } });
    const done = await client.waitFor(task.id, { timeoutMs: 10_000 });
    expect(done).toMatchObject({ id: task.id, state: 'completed', result: { hello: 'world' } });
  });

  it('resolves at once for a task that already completed', async () => {
    const t = await setup();
    const client = createClient({ store: t.store });
    await t.startWorker();
    const { task } = await client.submit({ type: 'echo', payload: 1 });
    await t.waitForState(task.id, 'completed');
    const started = Date.now();
    expect((await client.waitFor(task.id, { timeoutMs: '5s' })).result).toBe(1);
    expect(Date.now() - started).toBeLessThan(1_000);
  });

  it('rejects with CONVEYOR_TASK_FAILED carrying the last error when the task ends dead', async () => {
    const t = await setup();
    const client = createClient({ store: t.store });
    await t.startWorker();
    const { task } = await client.submit({ type: 'fail', retries: 1, backoff: TINY_BACKOFF });
    const error = await caught(client.waitFor(task.id, { timeoutMs: 10_000 }));
    expect(error.code).toBe('CONVEYOR_TASK_FAILED');
    expect(error.details).toMatchObject({ id: task.id, state: 'dead', attempt: 2, error: { reason: 'error', message: 'boom', attempt: 2 } });
    expect(error.message).toContain('boom');
  });

  it('rejects with CONVEYOR_TASK_FAILED when the task is cancelled', async () => {
    const t = await setup();
    const client = createClient({ store: t.store });
    const { task } = await client.submit({ type: 'x', delay: '1h' });
    const waiting = caught(client.waitFor(task.id, { timeoutMs: 10_000 }));
    await client.cancel(task.id);
    const error = await waiting;
    expect(error.code).toBe('CONVEYOR_TASK_FAILED');
    expect(error.details).toMatchObject({ state: 'cancelled', error: { reason: 'cancelled' } });
  });

  it('rejects with CONVEYOR_WAIT_TIMEOUT after timeoutMs, naming the state, and the task goes on', async () => {
    const t = await setup();
    const client = createClient({ store: t.store });
    const { task } = await client.submit({ type: 'nobody-handles-this' });
    const started = Date.now();
    const error = await caught(client.waitFor(task.id, { timeoutMs: 300 }));
    const took = Date.now() - started;
    expect(error.code).toBe('CONVEYOR_WAIT_TIMEOUT');
    expect(error.details).toMatchObject({ id: task.id, timeoutMs: 300, state: 'pending' });
    expect(took).toBeGreaterThanOrEqual(290);
    expect(took).toBeLessThan(1_500);
    expect((await client.get(task.id)).state).toBe('pending');
  });

  it('reads the task at a growing interval from 50 ms, as a safety net beside the events', async () => {
    const t = await setup();
    const calls: number[] = [];
    const store = new Proxy(t.store, {
      get(target, prop) {
        const value: unknown = Reflect.get(target, prop, target);
        if (prop === 'getTasks') calls.push(Date.now());
        return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
      },
    });
    const client = createClient({ store });
    const { task } = await client.submit({ type: 'nobody-handles-this' });
    await caught(client.waitFor(task.id, { timeoutMs: 3_000 }));
    const gaps = calls.slice(1).map((at, i) => at - calls[i]!);
    // 50, 75, 113, 169, 253, 380, 570, 854, 1281, … (up to 5 s with events): about 10 reads in 3 s, not 60.
    expect(calls.length).toBeGreaterThanOrEqual(6);
    expect(calls.length).toBeLessThanOrEqual(14);
    expect(gaps[0]!).toBeLessThan(200);
    expect(Math.max(...gaps)).toBeLessThan(1_300);
  });

  it('rejects with the signal reason when aborted, and at once when already aborted', async () => {
    const t = await setup();
    const client = createClient({ store: t.store });
    const { task } = await client.submit({ type: 'nobody-handles-this' });
    const controller = new AbortController();
    // 30 days: longer than a Node timer holds, so the wait must not time out at once either.
    const waiting = client.waitFor(task.id, { timeoutMs: '30d', signal: controller.signal });
    setTimeout(() => controller.abort(new Error('client went away')), 100);
    await expect(waiting).rejects.toThrow('client went away');
    await expect(client.waitFor(task.id, { timeoutMs: 10_000, signal: AbortSignal.abort(new Error('already')) })).rejects.toThrow('already');
  });

  it('rejects with CONVEYOR_TASK_NOT_FOUND for an unknown id, and validates its input', async () => {
    const t = await setup();
    const client = createClient({ store: t.store });
    expect((await caught(client.waitFor(UNKNOWN_ID, { timeoutMs: 1_000 }))).code).toBe('CONVEYOR_TASK_NOT_FOUND');
    const badId = await caught(client.waitFor('nope', { timeoutMs: 1_000 }));
    expect(badId.code).toBe('CONVEYOR_VALIDATION');
    expect(badId.message).toContain('id');
    const badTimeout = await caught(client.waitFor(UNKNOWN_ID, { timeoutMs: -1 }));
    expect(badTimeout.message).toContain('timeoutMs');
    const noTimeout = await caught(client.waitFor(UNKNOWN_ID, {} as never));
    expect(noTimeout.message).toContain('timeoutMs');
  });
});
