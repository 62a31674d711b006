/**
 * Client: get, getMany, list, cancel and retry on both stores; bad input names the field and
 * changes nothing.
 */
import { expect, it } from 'vitest';
import { createClient } from '../../src/client/client.js';
import { ConveyorError, type ErrorCode } from '../../src/errors.js';
import type { Store } from '../../src/store/store.js';
import type { Task } from '../../src/types.js';
import { describeForEachStore } from '../worker/harness.js';
import { killAll } from '../helpers/factories.js';

/** A valid id that no task has. */
const UNKNOWN_ID = '01ARZ3NDEKTSV4RRFFQ69G5FAV';

async function caught(call: () => Promise<unknown>): Promise<ConveyorError> {
  const err = await call().then(
    () => new Error('expected the call to be refused'),
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ConveyorError);
  return err as ConveyorError;
}

async function expectRefused(store: Store, call: () => Promise<unknown>, code: ErrorCode, path?: string): Promise<ConveyorError> {
  const before = await store.listTasks({ limit: 1000 });
  const error = await caught(call);
  expect(error.code).toBe(code);
  if (path !== undefined) {
    expect((error.details.issues as { path: string }[]).map((i) => i.path)).toContain(path);
    expect(error.message).toContain(path);
  }
  expect(await store.listTasks({ limit: 1000 })).toEqual(before);
  return error;
}


describeForEachStore('client: get and getMany', (setup) => {
  it('gets a task by id, case-insensitively', async () => {
    const t = await setup();
    const client = createClient({ store: t.store });
    const { task } = await client.submit({ type: 'x', payload: { a: 1 } });
    expect(await client.get(task.id)).toEqual(task);
    expect(await client.get(task.id.toLowerCase())).toEqual(task);
  });

  it('refuses an unknown id with CONVEYOR_TASK_NOT_FOUND naming it, and a malformed id naming the field', async () => {
    const t = await setup();
    const client = createClient({ store: t.store });
    const notFound = await caught(() => client.get(UNKNOWN_ID));
    expect(notFound.code).toBe('CONVEYOR_TASK_NOT_FOUND');
    expect(notFound.details.id).toBe(UNKNOWN_ID);
    expect(notFound.message).toContain(UNKNOWN_ID);
    await expectRefused(t.store, () => client.get('not-an-id'), 'CONVEYOR_VALIDATION', 'id');
    await expectRefused(t.store, () => client.get(42 as unknown as string), 'CONVEYOR_VALIDATION', 'id');
  });

  it('gets many tasks in input order, with null for unknown ids', async () => {
    const t = await setup();
    const client = createClient({ store: t.store });
    const [a, b] = await client.submitBatch([{ type: 'a', queue: 'q1' }, { type: 'b', queue: 'q2' }]);
    const found = await client.getMany([b!.task.id, UNKNOWN_ID, a!.task.id.toLowerCase()]);
    expect(found.map((task) => task?.type ?? null)).toEqual(['b', null, 'a']);
    expect(await client.getMany([])).toEqual([]);
    await expectRefused(t.store, () => client.getMany([a!.task.id, 'bad']), 'CONVEYOR_VALIDATION', 'ids[1]');
    await expectRefused(t.store, () => client.getMany('x' as unknown as string[]), 'CONVEYOR_VALIDATION', 'ids');
    await expectRefused(t.store, () => client.getMany(Array.from({ length: 1_001 }, () => UNKNOWN_ID)), 'CONVEYOR_VALIDATION', 'ids');
  });
});

describeForEachStore('client: list', (setup) => {
  it('lists newest first with filters on queue, state and type, 50 by default', async () => {
    const t = await setup();
    const client = createClient({ store: t.store });
    const results = await client.submitBatch([
      ...Array.from({ length: 55 }, () => ({ type: 'bulk', queue: 'q1' })),
      { type: 'email', queue: 'q2' },
      { type: 'email', queue: 'q2', delay: '1h' },
    ]);
    const ids = results.map((r) => r.task.id);

    const first = await client.list();
    expect(first.tasks).toHaveLength(50);
    expect(first.tasks.map((task) => task.id)).toEqual([...ids].reverse().slice(0, 50));
    expect(first.nextCursor).not.toBeNull();

    expect((await client.list({ queue: 'q2' })).tasks.map((task) => task.id)).toEqual([ids[56], ids[55]]);
    expect((await client.list({ state: 'scheduled' })).tasks.map((task) => task.id)).toEqual([ids[56]]);
    expect((await client.list({ type: 'email', state: 'pending' })).tasks.map((task) => task.id)).toEqual([ids[55]]);
    expect((await client.list({ queue: 'nowhere' })).tasks).toEqual([]);
  });

  it('pages with limit and cursor through every task exactly once', async () => {
    const t = await setup();
    const client = createClient({ store: t.store });
    const results = await client.submitBatch(Array.from({ length: 25 }, (_, i) => ({ type: 'x', queue: i % 2 === 0 ? 'even' : 'odd' })));
    const seen: Task[] = [];
    let cursor: string | null = null;
    do {
      const page: Awaited<ReturnType<typeof client.list>> = await client.list({ limit: 7, cursor });
      expect(page.tasks.length).toBeLessThanOrEqual(7);
      seen.push(...page.tasks);
      cursor = page.nextCursor;
    } while (cursor !== null);
    expect(seen.map((task) => task.id).sort()).toEqual(results.map((r) => r.task.id).sort());
  });

  it('accepts a limit given as a string of digits (query strings, CLI flags)', async () => {
    const t = await setup();
    const client = createClient({ store: t.store });
    await client.submitBatch([{ type: 'a' }, { type: 'b' }, { type: 'c' }]);
    expect((await client.list({ limit: '2' as unknown as number })).tasks).toHaveLength(2);
  });

  it('refuses bad options, naming the field', async () => {
    const t = await setup();
    const client = createClient({ store: t.store });
    await client.submit({ type: 'x' });
    await expectRefused(t.store, () => client.list({ state: 'done' as never }), 'CONVEYOR_VALIDATION', 'state');
    await expectRefused(t.store, () => client.list({ limit: 0 }), 'CONVEYOR_VALIDATION', 'limit');
    await expectRefused(t.store, () => client.list({ limit: 1_001 }), 'CONVEYOR_VALIDATION', 'limit');
    await expectRefused(t.store, () => client.list({ limit: 2.5 }), 'CONVEYOR_VALIDATION', 'limit');
    await expectRefused(t.store, () => client.list({ queue: 'bad queue' }), 'CONVEYOR_VALIDATION', 'queue');
    await expectRefused(t.store, () => client.list({ type: '' }), 'CONVEYOR_VALIDATION', 'type');
    await expectRefused(t.store, () => client.list({ cursor: 'not a cursor' }), 'CONVEYOR_VALIDATION', 'cursor');
    const unknown = await expectRefused(t.store, () => client.list({ queues: 'x' } as never), 'CONVEYOR_VALIDATION', 'queues');
    expect(unknown.message).toContain('did you mean "queue"');
  });
});

describeForEachStore('client: cancel and retry', (setup) => {
  it('cancels a waiting task and reports already_finished for a finished one', async () => {
    const t = await setup();
    const client = createClient({ store: t.store });
    const { task } = await client.submit({ type: 'x' });
    const cancelled = await client.cancel(task.id.toLowerCase());
    expect(cancelled.outcome).toBe('cancelled');
    expect(cancelled.task).toMatchObject({ id: task.id, state: 'cancelled' });
    const again = await client.cancel(task.id);
    expect(again.outcome).toBe('already_finished');
    expect(again.task.state).toBe('cancelled');
  });

  it('asks a running task to stop (cancel_requested)', async () => {
    const t = await setup();
    const client = createClient({ store: t.store });
    const { task } = await client.submit({ type: 'x' });
    await t.store.claimTasks({ queues: ['default'], workerId: 'w', limit: 1, leaseMs: 60_000 });
    const result = await client.cancel(task.id);
    expect(result.outcome).toBe('cancel_requested');
    expect(result.task).toMatchObject({ state: 'processing', cancelRequested: true });
  });

  it('refuses to cancel an unknown or malformed id, changing nothing', async () => {
    const t = await setup();
    const client = createClient({ store: t.store });
    await client.submit({ type: 'x' });
    const error = await expectRefused(t.store, () => client.cancel(UNKNOWN_ID), 'CONVEYOR_TASK_NOT_FOUND');
    expect(error.details.id).toBe(UNKNOWN_ID);
    await expectRefused(t.store, () => client.cancel('x'), 'CONVEYOR_VALIDATION', 'id');
  });

  it('retries a dead task and a cancelled one: back to pending with fresh attempts, history kept', async () => {
    const t = await setup();
    const client = createClient({ store: t.store });
    const { task } = await client.submit({ type: 'x', retries: 0 });
    await killAll(t.store, 'default', 'broken');
    expect((await client.get(task.id)).state).toBe('dead');
    const retried = await client.retry(task.id);
    expect(retried.outcome).toBe('retried');
    expect(retried.task).toMatchObject({ state: 'pending', attempt: 0 });
    expect(retried.task.errors.map((e) => e.message)).toEqual(['broken']);

    const { task: other } = await client.submit({ type: 'x' });
    await client.cancel(other.id);
    expect((await client.retry(other.id)).task.state).toBe('pending');
  });

  it('refuses to retry a task that is not dead or cancelled, naming its state, and an unknown id', async () => {
    const t = await setup();
    const client = createClient({ store: t.store });
    const { task } = await client.submit({ type: 'x' });
    const error = await expectRefused(t.store, () => client.retry(task.id), 'CONVEYOR_TASK_NOT_RETRYABLE');
    expect(error.details).toMatchObject({ id: task.id, state: 'pending' });
    expect(error.message).toContain('pending');
    await expectRefused(t.store, () => client.retry(UNKNOWN_ID), 'CONVEYOR_TASK_NOT_FOUND');
    await expectRefused(t.store, () => client.retry(''), 'CONVEYOR_VALIDATION', 'id');
  });
});
