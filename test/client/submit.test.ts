/**
 * Client: submit and submitBatch on both stores. Bad input names the field and writes nothing;
 * a batch is all or nothing.
 */
import { expect, it } from 'vitest';
import { createClient, type Client } from '../../src/client/client.js';
import { ConveyorError, type ErrorCode } from '../../src/errors.js';
import type { SubmitTaskOptions } from '../../src/schemas.js';
import type { Store } from '../../src/store/store.js';
import { describeForEachStore } from '../worker/harness.js';

/** Everything a bad call could have written: tasks per queue and state, queues, schedules. */
async function snapshot(store: Store): Promise<unknown> {
  const [counts, queues, schedules, tasks] = await Promise.all([
    store.countTasks({}),
    store.listQueues(),
    store.listSchedules(),
    store.listTasks({ limit: 1000 }),
  ]);
  return { counts, queues, schedules, ids: tasks.tasks.map((t) => t.id) };
}

/** Runs `call`, expects a ConveyorError with `code` whose issues name `paths`, and that nothing changed. */
async function expectRefused(store: Store, call: () => Promise<unknown>, code: ErrorCode, paths: string[]): Promise<ConveyorError> {
  const before = await snapshot(store);
  const err = await call().then(
    () => {
      throw new Error('expected the call to be refused');
    },
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ConveyorError);
  const error = err as ConveyorError;
  expect(error.code).toBe(code);
  const issuePaths = ((error.details.issues as { path: string }[] | undefined) ?? []).map((i) => i.path);
  for (const path of paths) {
    expect(issuePaths).toContain(path);
    expect(error.message).toContain(path);
  }
  expect(await snapshot(store)).toEqual(before);
  return error;
}

const bad = (input: unknown): SubmitTaskOptions => input as SubmitTaskOptions;

describeForEachStore('client: submit', (setup) => {
  async function open(options: Partial<Parameters<typeof createClient>[0]> = {}): Promise<{ client: Client; store: Store }> {
    const t = await setup();
    return { client: createClient({ store: t.store, ...options }), store: t.store };
  }

  it('submits a task with the built-in defaults and returns it created', async () => {
    const { client, store } = await open();
    const { task, created } = await client.submit({ type: 'email', payload: { to: 'a@example.com' } });
    expect(created).toBe(true);
    expect(task).toMatchObject({ queue: 'default', type: 'email', payload: { to: 'a@example.com' }, priority: 5, state: 'pending', maxAttempts: 4 });
    expect((await store.getTasks({ ids: [task.id] }))[0]).toEqual(task);
  });

  it("applies the client's default retries and backoff when a task leaves them out, and a task's own replace them", async () => {
    const { client } = await open({ defaults: { retries: 7, backoff: { type: 'linear', delay: '2s' } } });
    const { task: defaulted } = await client.submit({ type: 'x' });
    expect(defaulted.maxAttempts).toBe(8);
    expect(defaulted.backoff).toMatchObject({ kind: 'linear', delayMs: 2_000 });
    const { task: own } = await client.submit({ type: 'x', retries: 0, backoff: { delay: 10 } });
    expect(own.maxAttempts).toBe(1);
    // The task's backoff replaces the default whole: its type is the built-in default's.
    expect(own.backoff).toMatchObject({ kind: 'exponential', delayMs: 10 });
  });

  it('refuses invalid client options, naming the field', async () => {
    const t = await setup();
    const attempt = (options: unknown) => () => createClient(options as Parameters<typeof createClient>[0]);
    expect(attempt({})).toThrow(/store/);
    expect(attempt({ store: t.store, defaults: { retries: -1 } })).toThrow(/defaults\.retries/);
    expect(attempt({ store: t.store, defaults: { backoff: { delay: 'soon' } } })).toThrow(/defaults\.backoff\.delay/);
    expect(attempt({ store: t.store, defaults: { retry: 3 } })).toThrow(/defaults\.retry/);
    expect(attempt({ store: t.store, payloadLimits: { maxBytes: 0 } })).toThrow(/payloadLimits\.maxBytes/);
  });

  it('returns the existing task with created false for a repeated key in the same queue', async () => {
    const { client } = await open();
    const first = await client.submit({ type: 'x', key: 'order-1', payload: 1 });
    const second = await client.submit({ type: 'x', key: 'order-1', payload: 2 });
    expect(first.created).toBe(true);
    expect(second.created).toBe(false);
    expect(second.task.id).toBe(first.task.id);
    expect(second.task.payload).toBe(1);
    const other = await client.submit({ type: 'x', queue: 'other', key: 'order-1' });
    expect(other.created).toBe(true);
  });

  it('submits a task depending on an existing one as blocked', async () => {
    const { client } = await open();
    const { task: parent } = await client.submit({ type: 'x' });
    const { task: child } = await client.submit({ type: 'x', dependsOn: [parent.id.toLowerCase()] });
    expect(child.state).toBe('blocked');
    expect(child.dependsOn).toEqual([parent.id]);
  });

  it('refuses bad input, naming each field, and writes nothing', async () => {
    const { client, store } = await open();
    await client.submit({ type: 'seed' });
    await expectRefused(store, () => client.submit(bad({})), 'CONVEYOR_VALIDATION', ['type']);
    await expectRefused(store, () => client.submit(bad({ type: 'x', priority: 11 })), 'CONVEYOR_VALIDATION', ['priority']);
    await expectRefused(store, () => client.submit(bad({ type: 'x', delay: -5 })), 'CONVEYOR_VALIDATION', ['delay']);
    await expectRefused(store, () => client.submit(bad({ type: 'x', queue: 'a b' })), 'CONVEYOR_VALIDATION', ['queue']);
    await expectRefused(store, () => client.submit(bad({ type: 'x', retrys: 3 })), 'CONVEYOR_VALIDATION', ['retrys']);
    await expectRefused(store, () => client.submit(bad({ type: 'x', backoff: { delay: 'soon' } })), 'CONVEYOR_VALIDATION', ['backoff.delay']);
    await expectRefused(store, () => client.submit(bad({ type: 'x', payload: JSON.parse('{"a":{"__proto__":1}}') })), 'CONVEYOR_VALIDATION', ['payload.a.__proto__']);
    await expectRefused(store, () => client.submit(bad('email')), 'CONVEYOR_VALIDATION', []);
    await expectRefused(store, () => client.submit(bad({ type: 'x', dependsOn: ['nope'] })), 'CONVEYOR_VALIDATION', ['dependsOn[0]']);
  });

  it('refuses a deadline in the past', async () => {
    const { client, store } = await open();
    const error = await expectRefused(store, () => client.submit({ type: 'x', deadline: Date.now() - 1_000 }), 'CONVEYOR_VALIDATION', ['deadline']);
    expect(error.message).toContain('in the past');
  });

  it('refuses a dependency on an unknown task, naming dependsOn[i]', async () => {
    const { client, store } = await open();
    const { task: known } = await client.submit({ type: 'x' });
    const unknown = '0' + known.id.slice(1, -1) + (known.id.endsWith('0') ? '1' : '0');
    const error = await expectRefused(store, () => client.submit({ type: 'x', dependsOn: [known.id, unknown] }), 'CONVEYOR_DEPENDENCY_NOT_FOUND', ['dependsOn[1]']);
    expect(error.details.missing).toEqual([unknown]);
  });

  it('refuses a payload over the limit (the default, and a configured one)', async () => {
    const { client, store } = await open();
    const big = 'x'.repeat(1024 * 1024);
    await expectRefused(store, () => client.submit({ type: 'x', payload: big }), 'CONVEYOR_VALIDATION', ['payload']);
    const small = createClient({ store, payloadLimits: { maxBytes: 100 } });
    expect(small.payloadLimits.maxBytes).toBe(100);
    await expectRefused(store, () => small.submit({ type: 'x', payload: 'y'.repeat(200) }), 'CONVEYOR_VALIDATION', ['payload']);
    expect((await small.submit({ type: 'x', payload: 'y'.repeat(50) })).created).toBe(true);
  });
});

describeForEachStore('client: submitBatch', (setup) => {
  it('inserts every task of a batch, in input order, across queues', async () => {
    const t = await setup();
    const client = createClient({ store: t.store });
    const results = await client.submitBatch([
      { type: 'a', queue: 'q1' },
      { type: 'b', queue: 'q2', priority: 'high' },
      { type: 'c', delay: '1h' },
    ]);
    expect(results.map((r) => [r.task.type, r.task.queue, r.task.state, r.created])).toEqual([
      ['a', 'q1', 'pending', true],
      ['b', 'q2', 'pending', true],
      ['c', 'default', 'scheduled', true],
    ]);
    const stored = await t.store.getTasks({ ids: results.map((r) => r.task.id) });
    expect(stored.map((task) => task?.id)).toEqual(results.map((r) => r.task.id));
  });

  it('returns existing tasks for repeated keys, also within the batch', async () => {
    const t = await setup();
    const client = createClient({ store: t.store });
    const { task: existing } = await client.submit({ type: 'x', key: 'k1' });
    const results = await client.submitBatch([{ type: 'x', key: 'k1' }, { type: 'x', key: 'k2' }, { type: 'x', key: 'k2' }]);
    expect(results.map((r) => r.created)).toEqual([false, true, false]);
    expect(results[0]!.task.id).toBe(existing.id);
    expect(results[2]!.task.id).toBe(results[1]!.task.id);
  });

  it('is all or nothing: one bad item refuses the batch, named by its index, and nothing is inserted', async () => {
    const t = await setup();
    const client = createClient({ store: t.store });
    await client.submit({ type: 'seed' });
    const inputs = [{ type: 'ok', queue: 'fresh' }, { type: 'ok' }, { type: 'ok', priority: 99 }, { type: 'ok', retries: 'many' }];
    const error = await expectRefused(t.store, () => client.submitBatch(bad(inputs) as unknown as SubmitTaskOptions[]), 'CONVEYOR_VALIDATION', [
      'tasks[2].priority',
      'tasks[3].retries',
    ]);
    expect(error.message).toContain('nothing was submitted');
    // The queue of the good first item was not created either.
    expect((await t.store.listQueues()).map((q) => q.name)).not.toContain('fresh');
  });

  it('refuses a batch whose item depends on an unknown task, naming tasks[i].dependsOn[j], and inserts nothing', async () => {
    const t = await setup();
    const client = createClient({ store: t.store });
    const { task } = await client.submit({ type: 'seed' });
    const unknown = '0' + task.id.slice(1, -1) + (task.id.endsWith('0') ? '1' : '0');
    await expectRefused(t.store, () => client.submitBatch([{ type: 'a' }, { type: 'b', dependsOn: [unknown] }]), 'CONVEYOR_DEPENDENCY_NOT_FOUND', ['tasks[1].dependsOn[0]']);
  });

  it('refuses more than 1,000 tasks with CONVEYOR_BATCH_TOO_LARGE and a non-array, writing nothing', async () => {
    const t = await setup();
    const client = createClient({ store: t.store });
    const tooMany = Array.from({ length: 1_001 }, () => ({ type: 'x' }));
    const error = await expectRefused(t.store, () => client.submitBatch(tooMany), 'CONVEYOR_BATCH_TOO_LARGE', ['tasks']);
    expect(error.details).toMatchObject({ count: 1_001, max: 1_000 });
    await expectRefused(t.store, () => client.submitBatch(bad({ type: 'x' }) as unknown as SubmitTaskOptions[]), 'CONVEYOR_VALIDATION', ['tasks']);
    expect(await client.submitBatch([])).toEqual([]);
  });

  it('accepts exactly 1,000 tasks', async () => {
    const t = await setup();
    const client = createClient({ store: t.store });
    const results = await client.submitBatch(Array.from({ length: 1_000 }, (_, i) => ({ type: 'x', payload: i })));
    expect(results).toHaveLength(1_000);
    expect((await t.store.countTasks({ queue: 'default' }))[0]!.counts.pending).toBe(1_000);
  });
});
