import { expect } from 'vitest';
import { newTaskId } from '../../src/ids.js';
import type { JsonValue } from '../../src/types.js';
import { newTask } from '../helpers/factories.js';
import { claimOne, complete, expectConveyorError, getTask, insertOne, leaseOf, type ConformanceArea } from './harness.js';

export const insertAndIdempotencyTests: ConformanceArea = (setup, test) => {
  test('insertTasks stores every field and getTasks returns the same task', async () => {
    const h = await setup();
    const input = newTask({
      queue: 'emails',
      type: 'send-welcome',
      payload: { to: 'ada@example.com' },
      priority: 8,
      maxAttempts: 4,
      backoff: { kind: 'exponential', delayMs: 500, maxDelayMs: 60_000, jitter: 0.1 },
      timeoutMs: 15_000,
      deadline: h.clock.now() + 86_400_000,
      key: 'welcome-ada',
    });
    const { items } = await h.store.insertTasks({ tasks: [input], now: h.clock.now() });

    expect(items).toHaveLength(1);
    expect(items[0]!.created).toBe(true);
    const { runAt: _absent, ...fields } = input;
    expect(items[0]!.task).toEqual({
      ...fields,
      state: 'pending',
      attempt: 0,
      runAt: h.clock.now(),
      result: null,
      error: null,
      errors: [],
      progress: null,
      createdAt: h.clock.now(),
      startedAt: null,
      finishedAt: null,
      workerId: null,
      leaseExpiresAt: null,
      cancelRequested: false,
    });
    expect(await getTask(h, input.id)).toEqual(items[0]!.task);
  });

  test('a payload comes back as the same JSON value', async () => {
    const h = await setup();
    const payload: JsonValue = {
      text: 'naïve 日本語 🚚 "quoted" \\ back',
      int: 42,
      float: -1.5,
      big: 2 ** 52,
      yes: true,
      no: false,
      nothing: null,
      list: [1, 'two', [3], { four: 4 }],
      nested: { deeper: { deepest: [] } },
      empty: {},
    };
    const task = await insertOne(h, { payload });
    expect(task.payload).toEqual(payload);
    expect((await getTask(h, task.id)).payload).toEqual(payload);

    for (const scalar of ['just a string', 7, null, [] as JsonValue]) {
      const other = await insertOne(h, { payload: scalar });
      expect((await getTask(h, other.id)).payload).toEqual(scalar);
    }
  });

  test('getTasks answers in input order, with null for unknown ids', async () => {
    const h = await setup();
    const first = await insertOne(h);
    const second = await insertOne(h, { queue: 'other' });
    const unknown = newTaskId();

    const tasks = await h.store.getTasks({ ids: [second.id, unknown, first.id] });
    expect(tasks.map((task) => task?.id ?? null)).toEqual([second.id, null, first.id]);
  });

  test('a task due later is scheduled; a task due now or earlier is pending', async () => {
    const h = await setup();
    const now = h.clock.now();
    const later = await insertOne(h, { runAt: now + 60_000 });
    const dueNow = await insertOne(h, { runAt: now });
    const overdue = await insertOne(h, { runAt: now - 60_000 });

    expect(later).toMatchObject({ state: 'scheduled', runAt: now + 60_000 });
    expect(dueNow.state).toBe('pending');
    expect(overdue.state).toBe('pending');
  });

  test('a repeated idempotency key returns the first task instead of creating one', async () => {
    const h = await setup();
    const first = await insertOne(h, { key: 'order-42', payload: { version: 1 } });
    const { items } = await h.store.insertTasks({
      tasks: [newTask({ key: 'order-42', payload: { version: 2 } })],
      now: h.clock.now(),
    });

    expect(items).toEqual([{ created: false, task: expect.objectContaining({ id: first.id, payload: { version: 1 } }) }]);
    const [counts] = await h.store.countTasks({ queue: 'default' });
    expect(counts?.counts.pending).toBe(1);
  });

  test('a repeated idempotency key within one batch returns the first task of the batch', async () => {
    const h = await setup();
    const { items } = await h.store.insertTasks({
      tasks: [newTask({ key: 'k', payload: 'first' }), newTask({ key: 'other' }), newTask({ key: 'k', payload: 'second' })],
      now: h.clock.now(),
    });

    expect(items.map((item) => item.created)).toEqual([true, true, false]);
    expect(items[2]!.task.id).toBe(items[0]!.task.id);
    expect(items[2]!.task.payload).toBe('first');
    const [counts] = await h.store.countTasks({ queue: 'default' });
    expect(counts?.counts.pending).toBe(2);
  });

  test('the same idempotency key in another queue is a different task', async () => {
    const h = await setup();
    const inDefault = await insertOne(h, { key: 'shared' });
    const { items } = await h.store.insertTasks({ tasks: [newTask({ queue: 'other', key: 'shared' })], now: h.clock.now() });

    expect(items[0]!.created).toBe(true);
    expect(items[0]!.task.id).not.toBe(inDefault.id);
    expect(items[0]!.task.queue).toBe('other');
  });

  test('an idempotency key stays taken after its task finished, while the task exists', async () => {
    const h = await setup();
    const first = await insertOne(h, { key: 'once' });
    await complete(h, leaseOf(await claimOne(h)), 'done');

    const { items } = await h.store.insertTasks({ tasks: [newTask({ key: 'once' })], now: h.clock.now() });
    expect(items).toEqual([{ created: false, task: expect.objectContaining({ id: first.id, state: 'completed' }) }]);
  });

  test('inserting an id that exists returns that task instead of a second one (a retried call)', async () => {
    const h = await setup();
    const task = newTask();
    await h.store.insertTasks({ tasks: [task], now: h.clock.now() });
    const again = await h.store.insertTasks({ tasks: [task], now: h.clock.now() });
    expect(again.items).toEqual([{ task: expect.objectContaining({ id: task.id, state: 'pending' }), created: false }]);
    const [counts] = await h.store.countTasks({ queue: task.queue });
    expect(counts!.counts.pending).toBe(1);
    expect((await h.store.listTasks({ limit: 10 })).tasks.map((t) => t.id)).toEqual([task.id]);
  });

  test('tasks without a key are never deduplicated', async () => {
    const h = await setup();
    const { items } = await h.store.insertTasks({
      tasks: [newTask({ payload: 'same' }), newTask({ payload: 'same' })],
      now: h.clock.now(),
    });
    expect(items.map((item) => item.created)).toEqual([true, true]);
    expect(items[0]!.task.id).not.toBe(items[1]!.task.id);
  });

  test('insertTasks refuses a queue name that could reach a key pattern, and writes nothing', async () => {
    const h = await setup();
    const valid = newTask({ key: 'valid' });
    await expectConveyorError(
      h.store.insertTasks({ tasks: [valid, newTask({ queue: 'bad{queue}*' })], now: h.clock.now() }),
      'CONVEYOR_INVALID_NAME',
    );
    expect(await h.store.getTasks({ ids: [valid.id] })).toEqual([null]);
  });
};
