/**
 * Redis-only properties of the task event feed that the conformance suite (test/conformance/events.ts)
 * cannot see: one stream entry per call, the cursor inside an entry, retention, and the one
 * connection that every blocked reader shares.
 */
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterEach, describe, expect, inject, it } from 'vitest';
import { isConveyorError } from '../../src/errors.js';
import { isPlainNewTask } from '../../src/store/redis/codec.js';
import { decodeCursor, encodeCursor } from '../../src/store/redis/events.js';
import { createRedisStore, type RedisStore, type RedisStoreOptions } from '../../src/store/redis/redis-store.js';
import { EVENTS_START } from '../../src/store/store.js';
import type { TaskEvent } from '../../src/types.js';
import { newTask } from '../helpers/factories.js';
import { deleteKeysWithPrefix } from '../helpers/redis-server.js';

describe('redis task events', () => {
  const opened: RedisStore[] = [];
  let admin: Redis | undefined;

  afterEach(async () => {
    for (const store of opened.splice(0)) {
      await store.close();
      await deleteKeysWithPrefix(inject('redisUrl'), store.keys.prefix);
    }
    admin?.disconnect();
    admin = undefined;
  });

  async function open(options: RedisStoreOptions = {}): Promise<RedisStore> {
    const store = createRedisStore({ url: inject('redisUrl'), prefix: `t${randomUUID().slice(0, 8)}`, ...options });
    opened.push(store);
    await store.migrate();
    return store;
  }

  function redis(): Redis {
    admin ??= new Redis(inject('redisUrl'));
    return admin;
  }

  const streamLength = (store: RedisStore, queue = 'default'): Promise<number> => redis().xlen(store.keys.queueKey(queue, 'events'));

  async function readAll(store: RedisStore, after: string = EVENTS_START): Promise<TaskEvent[]> {
    return (await store.readEvents({ after, limit: 100_000 })).events;
  }

  it('writes one stream entry per call, whatever the batch size, and none for a call that changed nothing', async () => {
    const store = await open();
    await store.insertTasks({ tasks: Array.from({ length: 100 }, () => newTask()) });
    expect(await streamLength(store)).toBe(1);
    const claimed = await store.claimTasks({ queues: ['default'], workerId: 'w', limit: 60, leaseMs: 30_000 });
    expect(await streamLength(store)).toBe(2);
    // Renewals without progress, starts and refused tokens record nothing.
    await store.renewLeases({ leases: claimed.map((t) => ({ id: t.id, queue: t.queue, token: t.leaseToken })), leaseMs: 30_000 });
    await store.startTasks({ leases: claimed.map((t) => ({ id: t.id, queue: t.queue, token: t.leaseToken })) });
    await store.finishTasks({ items: claimed.map((t) => ({ id: t.id, queue: t.queue, token: 'stale', outcome: 'complete' as const, result: null })) });
    expect(await streamLength(store)).toBe(2);
    // The completion fast path (one binary argument) and the general path both record their events.
    await store.finishTasks({ items: claimed.slice(0, 50).map((t) => ({ id: t.id, queue: t.queue, token: t.leaseToken, outcome: 'complete' as const, result: { ok: 1 } })) });
    await store.finishTasks({
      items: claimed.slice(50).map((t) => ({ id: t.id, queue: t.queue, token: t.leaseToken, outcome: 'fail' as const, error: { reason: 'error' as const, message: 'no' }, retryDelayMs: 0 })),
    });
    expect(await streamLength(store)).toBe(4);
    const counts = new Map<string, number>();
    for (const event of await readAll(store)) counts.set(event.name, (counts.get(event.name) ?? 0) + 1);
    expect(Object.fromEntries(counts)).toEqual({ 'task:submitted': 100, 'task:claimed': 60, 'task:completed': 50, 'task:failed': 10 });
  });

  it('the fast paths record the same events as the general ones (type, attempt, waitMs from runAt)', async () => {
    const store = await open();
    const t0 = 1_900_000_000_000;
    // A plain task (packed batch), one with a big payload (str32), one with a deadline (general claim).
    const plain = newTask({ type: 'fast.lane' });
    const big = newTask({ type: 'big', payload: { blob: 'x'.repeat(70_000) } });
    const withDeadline = newTask({ type: 'dl', deadline: t0 + 60_000 });
    await store.insertTasks({ tasks: [plain, big, withDeadline], now: t0 });
    const claimed = await store.claimTasks({ queues: ['default'], workerId: 'w', limit: 3, leaseMs: 30_000, now: t0 + 40 });
    expect(claimed).toHaveLength(3);
    // A retry: its runAt is in the record, so the next claim's wait counts from it.
    const first = claimed.find((t) => t.id === plain.id)!;
    await store.finishTasks({ items: [{ id: first.id, queue: 'default', token: first.leaseToken, outcome: 'fail', error: { reason: 'error', message: 'x' }, retryDelayMs: 100 }], now: t0 + 50 });
    const [again] = await store.claimTasks({ queues: ['default'], workerId: 'w2', limit: 1, leaseMs: 30_000, now: t0 + 400 });
    expect(again!.id).toBe(plain.id);
    await store.finishTasks({ items: [{ id: again!.id, queue: 'default', token: again!.leaseToken, outcome: 'complete', result: null }], now: t0 + 500 });

    const events = await readAll(store);
    const shape = events.map((e) => [e.name, e.taskId, e.type, e.attempt, e.state, e.at, e.workerId, e.waitMs]);
    expect(shape).toEqual([
      ['task:submitted', plain.id, 'fast.lane', 0, 'pending', t0, undefined, undefined],
      ['task:submitted', big.id, 'big', 0, 'pending', t0, undefined, undefined],
      ['task:submitted', withDeadline.id, 'dl', 0, 'pending', t0, undefined, undefined],
      ['task:claimed', plain.id, 'fast.lane', 1, 'processing', t0 + 40, 'w', 40],
      ['task:claimed', big.id, 'big', 1, 'processing', t0 + 40, 'w', 40],
      ['task:claimed', withDeadline.id, 'dl', 1, 'processing', t0 + 40, 'w', 40],
      ['task:failed', plain.id, 'fast.lane', 1, 'scheduled', t0 + 50, undefined, undefined],
      ['task:claimed', plain.id, 'fast.lane', 2, 'processing', t0 + 400, 'w2', 250],
      ['task:completed', plain.id, 'fast.lane', 2, 'completed', t0 + 500, undefined, undefined],
    ]);
    expect(events[6]).toMatchObject({ retryAt: t0 + 150, error: { reason: 'error', message: 'x' } });
  });

  it('resumes inside an entry: reads smaller than a batch miss and repeat nothing', async () => {
    const store = await open();
    const tasks = Array.from({ length: 10 }, () => newTask());
    await store.insertTasks({ tasks });
    await store.insertTasks({ tasks: [newTask({ queue: 'other' })] });
    const seen: TaskEvent[] = [];
    let cursor = EVENTS_START;
    for (let round = 0; round < 10; round++) {
      const page = await store.readEvents({ after: cursor, limit: 3 });
      if (page.events.length === 0) break;
      seen.push(...page.events);
      cursor = page.cursor;
      expect(cursor).toBe(page.events[page.events.length - 1]!.id);
    }
    expect(seen.map((e) => e.taskId)).toEqual([...tasks.map((t) => t.id), expect.any(String)]);
    expect(seen[10]!.queue).toBe('other');
    // Stopped after 3 of the 10 events of the first entry: the position says so.
    expect(decodeCursor(seen[2]!.id).get('default')!.k).toBe(3);
    expect(decodeCursor(seen[9]!.id).get('default')!.k).toBe(0);
    expect(await readAll(store, seen[4]!.id)).toEqual(seen.slice(5));
  });

  it('keeps at most eventsRetain entries per queue; a reader further behind goes on from the oldest kept', async () => {
    const store = await open({ eventsRetain: 5 });
    const first = await store.readEvents({ after: null, limit: 10 });
    const ids: string[] = [];
    for (let i = 0; i < 20; i++) {
      const task = newTask();
      ids.push(task.id);
      await store.insertTasks({ tasks: [task] });
    }
    expect(await streamLength(store)).toBe(5);
    expect((await readAll(store, first.cursor)).map((e) => e.taskId)).toEqual(ids.slice(15));
    expect((await readAll(store)).map((e) => e.taskId)).toEqual(ids.slice(15));
  });

  it('eventsRetain 0 writes no events stream at all', async () => {
    const store = await open({ eventsRetain: 0 });
    await store.insertTasks({ tasks: [newTask(), newTask({ queue: 'other' })] });
    const claimed = await store.claimTasks({ queues: ['default'], workerId: 'w', limit: 1, leaseMs: 1000 });
    await store.finishTasks({ items: [{ id: claimed[0]!.id, queue: 'default', token: claimed[0]!.leaseToken, outcome: 'complete', result: null }] });
    expect(await redis().exists(store.keys.queueKey('default', 'events'), store.keys.queueKey('other', 'events'))).toBe(0);
    expect(await readAll(store)).toEqual([]);
    expect(() => createRedisStore({ url: inject('redisUrl'), eventsRetain: -1 })).toThrow(/eventsRetain/);
  });

  it('50 blocked readers share one extra connection, and one insert wakes them all', async () => {
    const name = `ev${randomUUID().slice(0, 8)}`;
    const store = await open({ redisOptions: { connectionName: name } });
    const clients = async (): Promise<number> =>
      ((await redis().client('LIST')) as string).split('\n').filter((line) => line.includes(` name=${name} `)).length;
    await store.insertTasks({ tasks: [newTask()] });
    const start = await store.readEvents({ after: null, limit: 10 });
    const before = await clients();
    const readers = Array.from({ length: 50 }, () => store.readEvents({ after: start.cursor, limit: 10, blockMs: 20_000 }));
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(await clients()).toBe(before + 1);
    const task = newTask();
    const began = Date.now();
    await store.insertTasks({ tasks: [task] });
    const results = await Promise.all(readers);
    expect(Date.now() - began).toBeLessThan(5_000);
    for (const result of results) expect(result.events.map((e) => e.taskId)).toEqual([task.id]);
    expect(await clients()).toBe(before + 1);
  });

  it('a blocked read without a queue filter sees a queue created after its cursor was taken', async () => {
    const store = await open();
    await store.insertTasks({ tasks: [newTask()] });
    const start = await store.readEvents({ after: null, limit: 10 });
    const waiting = store.readEvents({ after: start.cursor, limit: 10, blockMs: 20_000 });
    await new Promise((resolve) => setTimeout(resolve, 200));
    // Another process creates the queue: this store's own registration is not what wakes the reader.
    const other = createRedisStore({ url: inject('redisUrl'), prefix: store.keys.prefix });
    try {
      const task = newTask({ queue: 'brand-new' });
      const began = Date.now();
      await other.insertTasks({ tasks: [task] });
      const { events } = await waiting;
      expect(events.map((e) => [e.queue, e.taskId])).toEqual([['brand-new', task.id]]);
      expect(Date.now() - began).toBeLessThan(5_000);
    } finally {
      await other.close();
    }
  });

  it('an abort ends a wait at once with the cursor it had, and closing the store ends every wait', async () => {
    const store = await open();
    const start = await store.readEvents({ after: null, limit: 10, queues: ['default'] });
    const controller = new AbortController();
    const began = Date.now();
    const aborted = store.readEvents({ after: start.cursor, limit: 10, blockMs: 20_000, signal: controller.signal });
    setTimeout(() => controller.abort(), 100);
    await expect(aborted).resolves.toEqual({ events: [], cursor: start.cursor });
    expect(Date.now() - began).toBeLessThan(5_000);

    // A wait that times out ends after blockMs.
    const timedBegan = Date.now();
    await expect(store.readEvents({ after: start.cursor, limit: 10, blockMs: 300 })).resolves.toMatchObject({ events: [] });
    expect(Date.now() - timedBegan).toBeGreaterThanOrEqual(250);

    const waits = [store.readEvents({ after: start.cursor, limit: 10, blockMs: 20_000 }), store.readEvents({ after: null, limit: 10, blockMs: 20_000 })];
    await new Promise((resolve) => setTimeout(resolve, 100));
    const closing = Date.now();
    await store.close();
    const results = await Promise.all(waits);
    expect(results.map((r) => r.events)).toEqual([[], []]);
    expect(Date.now() - closing).toBeLessThan(5_000);
  });

  it('a read that waits resumes exactly: a wake-up on one queue does not skip another', async () => {
    const store = await open();
    const start = await store.readEvents({ after: null, limit: 10, queues: ['a', 'b'] });
    const waiting = store.readEvents({ after: start.cursor, limit: 10, queues: ['a', 'b'], blockMs: 20_000 });
    await new Promise((resolve) => setTimeout(resolve, 100));
    const a = newTask({ queue: 'a' });
    await store.insertTasks({ tasks: [a] });
    const first = await waiting;
    expect(first.events.map((e) => e.taskId)).toEqual([a.id]);
    const b = newTask({ queue: 'b' });
    await store.insertTasks({ tasks: [b] });
    const second = await store.readEvents({ after: first.cursor, limit: 10, queues: ['a', 'b'], blockMs: 20_000 });
    expect(second.events.map((e) => e.taskId)).toEqual([b.id]);
  });

  it('the cursor is compact, URL-safe, and strictly checked', async () => {
    const positions = new Map([
      ['b.q-1_x', { ms: 1_712_345_678_901, seq: 0, k: 0 }],
      ['a', { ms: 1_712_345_678_902, seq: 3, k: 7 }],
    ]);
    const cursor = encodeCursor(positions);
    expect(cursor).toBe('a~1712345678902-3.7~b.q-1_x~1712345678901');
    expect(encodeURIComponent(cursor)).toBe(cursor);
    expect(decodeCursor(cursor)).toEqual(positions);
    expect(decodeCursor(EVENTS_START)).toEqual(new Map());
    expect(encodeCursor(new Map())).toBe(EVENTS_START);

    const store = await open();
    for (const bad of ['', '1', 'a~', 'a~1~a~2', 'a~x', 'a~1.0', 'a~01', '~1', 'a b~1', 'a~1-', 'a~1~b', 'a~99999999999999999']) {
      const err = await store.readEvents({ after: bad, limit: 1 }).then(
        () => null,
        (e: unknown) => e,
      );
      expect(isConveyorError(err, 'CONVEYOR_VALIDATION'), `cursor ${JSON.stringify(bad)}`).toBe(true);
      expect((err as { details: { field: string } }).details.field).toBe('after');
    }
  });

  it('oldestPending skips entries of tasks that left pending', async () => {
    const store = await open();
    const t0 = 1_900_000_000_000;
    const early = newTask();
    await store.insertTasks({ tasks: [early], now: t0 });
    const later = newTask();
    await store.insertTasks({ tasks: [later], now: t0 + 1000 });
    expect(await store.oldestPending({ queue: 'default' })).toEqual([{ queue: 'default', oldestRunAt: t0 }]);
    await store.cancelTasks({ ids: [early.id], now: t0 + 2000 });
    expect(await store.oldestPending({ queue: 'default' })).toEqual([{ queue: 'default', oldestRunAt: t0 + 1000 }]);
    await store.cancelTasks({ ids: [later.id], now: t0 + 2000 });
    expect(await store.oldestPending({})).toEqual([{ queue: 'default', oldestRunAt: null }]);
    // Retried: pending again, due at the retry.
    await store.retryTasks({ ids: [early.id], now: t0 + 3000 });
    expect(await store.oldestPending({})).toEqual([{ queue: 'default', oldestRunAt: t0 + 3000 }]);
  });

  it('a task with a trace context takes the general insert form and keeps it through claim and completion', async () => {
    const carrier = { traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01' };
    expect(isPlainNewTask(newTask({ traceContext: carrier }))).toBe(false);
    expect(isPlainNewTask(newTask())).toBe(true);
    const store = await open();
    const traced = newTask({ traceContext: carrier });
    await store.insertTasks({ tasks: [traced, newTask()] });
    const claimed = await store.claimTasks({ queues: ['default'], workerId: 'w', limit: 2, leaseMs: 30_000 });
    expect(claimed.map((t) => t.traceContext)).toEqual([carrier, undefined]);
    expect(claimed[1]).not.toHaveProperty('traceContext');
    await store.finishTasks({ items: claimed.map((t) => ({ id: t.id, queue: t.queue, token: t.leaseToken, outcome: 'complete' as const, result: null })) });
    const [done] = await store.getTasks({ ids: [traced.id] });
    expect(done).toMatchObject({ state: 'completed', traceContext: carrier });
  });
});
