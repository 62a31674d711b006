import { expect } from 'vitest';
import { EVENTS_START, type ReadEventsParams } from '../../src/store/store.js';
import type { TaskEvent, TaskEventName } from '../../src/types.js';
import { newTask } from '../helpers/factories.js';
import {
  claimOne,
  complete,
  expectConveyorError,
  fail,
  getTask,
  insertOne,
  insertTasks,
  LEASE_MS,
  leaseOf,
  WORKER_ID,
  type ConformanceArea,
  type StoreHarness,
} from './harness.js';

type EventRead = Omit<ReadEventsParams, 'after' | 'limit'> & { after?: string | null; limit?: number };

/** Every retained event (or those after `after`), read in one call. */
async function readAll(h: StoreHarness, options: EventRead = {}): Promise<TaskEvent[]> {
  const { events } = await h.store.readEvents({ limit: 10_000, ...options, after: options.after ?? EVENTS_START });
  return events;
}

/** `[name, taskId]` pairs: the shape most assertions compare. */
function names(events: TaskEvent[]): [TaskEventName, string][] {
  return events.map((e) => [e.name, e.taskId]);
}

/**
 * Events of one queue: order across queues is only consistent with each queue's own (Redis keeps a
 * stream per queue), so assertions that span queues compare per queue.
 */
function inQueue(events: TaskEvent[], queue: string): TaskEvent[] {
  return events.filter((e) => e.queue === queue);
}

/** Reads one event at a time, each read starting after the previous event's id. */
async function readOneByOne(h: StoreHarness, after: string): Promise<TaskEvent[]> {
  const seen: TaskEvent[] = [];
  let cursor = after;
  for (let i = 0; i < 1000; i += 1) {
    const { events, cursor: next } = await h.store.readEvents({ after: cursor, limit: 1 });
    if (events.length === 0) return seen;
    expect(events).toHaveLength(1);
    expect(next).toBe(events[0]!.id);
    seen.push(events[0]!);
    cursor = next;
  }
  throw new Error('readOneByOne: more than 1000 events');
}

export const eventTests: ConformanceArea = (setup, test) => {
  test('events: a task that fails once and then completes reports submitted, claimed, failed, claimed, completed', async () => {
    const h = await setup();
    const task = await insertOne(h, { type: 'mail.send' });
    const submittedAt = h.clock.now();
    h.clock.advance(250);
    const first = await claimOne(h, { expectedId: task.id });
    expect(await fail(h, leaseOf(first), { message: 'smtp down', retryDelayMs: 1000 })).toBe('scheduled');
    h.clock.advance(1000);
    const second = await claimOne(h, { expectedId: task.id });
    expect(await complete(h, leaseOf(second), { sent: true })).toBe('completed');

    const events = await readAll(h);
    expect(names(events)).toEqual([
      ['task:submitted', task.id],
      ['task:claimed', task.id],
      ['task:failed', task.id],
      ['task:claimed', task.id],
      ['task:completed', task.id],
    ]);
    const base = { taskId: task.id, queue: 'default', type: 'mail.send' };
    expect(events[0]).toMatchObject({ ...base, state: 'pending', attempt: 0, at: submittedAt });
    expect(events[1]).toMatchObject({ ...base, state: 'processing', attempt: 1, workerId: WORKER_ID, waitMs: 250 });
    expect(events[2]).toMatchObject({
      ...base,
      state: 'scheduled',
      attempt: 1,
      error: { reason: 'error', message: 'smtp down' },
      retryAt: submittedAt + 250 + 1000,
    });
    expect(events[3]).toMatchObject({ ...base, state: 'processing', attempt: 2, workerId: WORKER_ID });
    expect(events[4]).toMatchObject({ ...base, state: 'completed', attempt: 2 });
    // Small on purpose: the result stays on the task.
    expect(events[4]).not.toHaveProperty('result');
    expect(new Set(events.map((e) => e.id)).size).toBe(events.length);
  });

  test('events: reading from null starts at the end; the returned cursor picks up what comes next', async () => {
    const h = await setup();
    await insertOne(h);
    const now = await h.store.readEvents({ after: null, limit: 100 });
    expect(now.events).toEqual([]);
    const later = await insertOne(h);
    const next = await h.store.readEvents({ after: now.cursor, limit: 100 });
    expect(names(next.events)).toEqual([['task:submitted', later.id]]);
    expect(next.cursor).toBe(next.events[0]!.id);
    // Nothing new: the cursor stays where it is.
    const again = await h.store.readEvents({ after: next.cursor, limit: 100 });
    expect(again.events).toEqual([]);
    expect((await h.store.readEvents({ after: again.cursor, limit: 100 })).events).toEqual([]);
  });

  test('events: resuming after any event id, one at a time, misses and repeats nothing, inside a batch too', async () => {
    const h = await setup();
    // One insert of five tasks in two queues, then a claim of three: events written several per call.
    const tasks = await insertTasks(h, [
      newTask({ queue: 'a' }),
      newTask({ queue: 'b' }),
      newTask({ queue: 'a' }),
      newTask({ queue: 'b' }),
      newTask({ queue: 'a' }),
    ]);
    await h.store.claimTasks({ queues: ['a'], workerId: WORKER_ID, limit: 3, leaseMs: LEASE_MS, now: h.clock.now() });
    const all = await readAll(h);
    expect(all).toHaveLength(8);
    expect(new Set(all.filter((e) => e.name === 'task:submitted').map((e) => e.taskId))).toEqual(new Set(tasks.map((t) => t.id)));
    const oneByOne = await readOneByOne(h, EVENTS_START);
    expect(oneByOne).toEqual(all);
    // From the middle: after the third event, exactly the rest.
    const rest = await readAll(h, { after: all[2]!.id });
    expect(rest).toEqual(all.slice(3));
    // Per queue, events come in the order the changes happened.
    const inA = all.filter((e) => e.queue === 'a');
    expect(inA.map((e) => e.name)).toEqual(['task:submitted', 'task:submitted', 'task:submitted', 'task:claimed', 'task:claimed', 'task:claimed']);
  });

  test('events: filters by queue, event name and task type, and filtered reads still move on', async () => {
    const h = await setup();
    const a1 = await insertOne(h, { queue: 'a', type: 'x' });
    const b1 = await insertOne(h, { queue: 'b', type: 'y' });
    const a2 = await insertOne(h, { queue: 'a', type: 'y' });
    await claimOne(h, { queues: ['a'], expectedId: a1.id });

    expect(names(await readAll(h, { queues: ['a'] }))).toEqual([
      ['task:submitted', a1.id],
      ['task:submitted', a2.id],
      ['task:claimed', a1.id],
    ]);
    const typeY = await readAll(h, { types: ['y'] });
    expect(names(inQueue(typeY, 'a'))).toEqual([['task:submitted', a2.id]]);
    expect(names(inQueue(typeY, 'b'))).toEqual([['task:submitted', b1.id]]);
    expect(typeY).toHaveLength(2);
    expect(names(await readAll(h, { names: ['task:claimed'] }))).toEqual([['task:claimed', a1.id]]);

    // A filter that matches nothing yet still returns a cursor that resumes after what it skipped.
    const skipped = await h.store.readEvents({ after: EVENTS_START, limit: 100, names: ['task:completed'] });
    expect(skipped.events).toEqual([]);
    const b2 = await insertOne(h, { queue: 'b' });
    expect(names((await h.store.readEvents({ after: skipped.cursor, limit: 100 })).events)).toEqual([['task:submitted', b2.id]]);
  });

  test('events: an idempotent repeat writes no event', async () => {
    const h = await setup();
    const first = await insertOne(h, { key: 'once' });
    await insertOne(h, { key: 'once' });
    expect(names(await readAll(h))).toEqual([['task:submitted', first.id]]);
  });

  test('events: a permanent failure reports dead, and its blocked dependent reports cancelled', async () => {
    const h = await setup();
    const parent = await insertOne(h, { queue: 'a' });
    const child = await insertOne(h, { queue: 'b', dependsOn: [parent.id] });
    const start = await h.store.readEvents({ after: null, limit: 10 });
    const claimed = await claimOne(h, { queues: ['a'], expectedId: parent.id });
    expect(await fail(h, leaseOf(claimed), { message: 'bad input', permanent: true })).toBe('dead');
    // A dependent in another queue may be cancelled a moment later (Redis relays across queues).
    await getTask(h, child.id);

    const events = await readAll(h, { after: start.cursor });
    expect(names(inQueue(events, 'a'))).toEqual([
      ['task:claimed', parent.id],
      ['task:dead', parent.id],
    ]);
    expect(names(inQueue(events, 'b'))).toEqual([['task:cancelled', child.id]]);
    expect(inQueue(events, 'a')[1]).toMatchObject({ state: 'dead', attempt: 1, error: { reason: 'error', message: 'bad input' } });
    expect(inQueue(events, 'b')[0]).toMatchObject({ state: 'cancelled', error: { reason: 'dependency_failed' } });

    // A task submitted after its dependency died is cancelled at once: submitted, then cancelled.
    const beforeLate = await h.store.readEvents({ after: null, limit: 10 });
    const late = await insertOne(h, { dependsOn: [parent.id] });
    const lateEvents = (await readAll(h, { after: beforeLate.cursor })).filter((e) => e.taskId === late.id);
    expect(lateEvents.map((e) => [e.name, e.state])).toEqual([
      ['task:submitted', 'cancelled'],
      ['task:cancelled', 'cancelled'],
    ]);
  });

  test('events: an expired lease reports reclaimed, then dead on the last attempt', async () => {
    const h = await setup();
    const task = await insertOne(h, { maxAttempts: 2 });
    await claimOne(h, { expectedId: task.id, leaseMs: 1000 });
    h.clock.advance(2000);
    expect((await h.store.reclaimExpiredLeases({ limit: 100, now: h.clock.now() })).retried).toEqual([task.id]);
    await claimOne(h, { expectedId: task.id, leaseMs: 1000 });
    h.clock.advance(2000);
    expect((await h.store.reclaimExpiredLeases({ limit: 100, now: h.clock.now() })).dead).toEqual([task.id]);

    const events = await readAll(h);
    expect(events.map((e) => [e.name, e.state, e.attempt])).toEqual([
      ['task:submitted', 'pending', 0],
      ['task:claimed', 'processing', 1],
      ['task:reclaimed', 'pending', 1],
      ['task:claimed', 'processing', 2],
      ['task:reclaimed', 'dead', 2],
      ['task:dead', 'dead', 2],
    ]);
    expect(events[5]).toMatchObject({ error: { reason: 'lease_expired' } });
  });

  test('events: deadlines, cancels, operator retries, releases, progress and steals', async () => {
    const h = await setup();
    const expiring = await insertOne(h, { queue: 'dl', deadline: h.clock.now() + 1000 });
    const toCancel = await insertOne(h, { queue: 'c' });
    const running = await insertOne(h, { queue: 'r' });
    const released = await insertOne(h, { queue: 'rel' });
    const start = await h.store.readEvents({ after: null, limit: 10 });

    h.clock.advance(2000);
    expect(await h.store.expireDeadlines({ limit: 100, now: h.clock.now() })).toEqual([expiring.id]);
    await h.store.cancelTasks({ ids: [toCancel.id], now: h.clock.now() });
    await h.store.retryTasks({ ids: [toCancel.id], now: h.clock.now() });

    const lease = leaseOf(await claimOne(h, { queues: ['r'], expectedId: running.id }));
    await h.store.renewLeases({ leases: [{ ...lease, progress: { done: 3 } }], leaseMs: LEASE_MS, now: h.clock.now() });
    // Cancelling a running task only asks its worker: no event until the worker stops.
    expect(await h.store.cancelTasks({ ids: [running.id], now: h.clock.now() })).toEqual([{ id: running.id, outcome: 'cancel_requested' }]);
    const relLease = leaseOf(await claimOne(h, { queues: ['rel'], expectedId: released.id }));
    const { items } = await h.store.finishTasks({ items: [{ ...relLease, outcome: 'release' }], now: h.clock.now() });
    expect(items[0]!.outcome).toBe('pending');

    // A prefetched task taken by an idle worker is claimed again, by the thief.
    const prefetched = await insertOne(h, { queue: 's' });
    await h.store.claimTasks({ queues: ['s'], workerId: 'holder', limit: 1, startLimit: 0, leaseMs: LEASE_MS, now: h.clock.now() });
    const stolen = await h.store.stealTasks({ queues: ['s'], workerId: 'thief', limit: 1, leaseMs: LEASE_MS, now: h.clock.now() });
    expect(stolen.map((t) => t.id)).toEqual([prefetched.id]);

    const read = await readAll(h, { after: start.cursor });
    const shape = (e: TaskEvent) => ({ name: e.name, taskId: e.taskId, state: e.state, error: e.error?.reason, workerId: e.workerId, progress: e.progress });
    // Each queue's events in order; queues compared one by one (see inQueue).
    const events = ['dl', 'c', 'r', 'rel', 's'].flatMap((queue) => inQueue(read, queue).map(shape));
    expect(read).toHaveLength(events.length);
    expect(events).toEqual([
      { name: 'task:dead', taskId: expiring.id, state: 'dead', error: 'deadline_exceeded', workerId: undefined, progress: undefined },
      { name: 'task:cancelled', taskId: toCancel.id, state: 'cancelled', error: 'cancelled', workerId: undefined, progress: undefined },
      { name: 'task:retried', taskId: toCancel.id, state: 'pending', error: undefined, workerId: undefined, progress: undefined },
      { name: 'task:claimed', taskId: running.id, state: 'processing', error: undefined, workerId: WORKER_ID, progress: undefined },
      { name: 'task:progress', taskId: running.id, state: 'processing', error: undefined, workerId: undefined, progress: { done: 3 } },
      { name: 'task:claimed', taskId: released.id, state: 'processing', error: undefined, workerId: WORKER_ID, progress: undefined },
      { name: 'task:released', taskId: released.id, state: 'pending', error: undefined, workerId: undefined, progress: undefined },
      { name: 'task:submitted', taskId: prefetched.id, state: 'pending', error: undefined, workerId: undefined, progress: undefined },
      { name: 'task:claimed', taskId: prefetched.id, state: 'processing', error: undefined, workerId: 'holder', progress: undefined },
      { name: 'task:claimed', taskId: prefetched.id, state: 'processing', error: undefined, workerId: 'thief', progress: undefined },
    ]);
  });

  test('events: a waiting read wakes when an event arrives, and an abort ends it without an error', async () => {
    const h = await setup();
    const start = await h.store.readEvents({ after: null, limit: 10 });
    const waiting = h.store.readEvents({ after: start.cursor, limit: 10, blockMs: 20_000 });
    await new Promise((resolve) => setTimeout(resolve, 100));
    const task = await insertOne(h);
    const began = Date.now();
    const { events } = await waiting;
    expect(names(events)).toEqual([['task:submitted', task.id]]);
    expect(Date.now() - began).toBeLessThan(10_000);

    const controller = new AbortController();
    const aborted = h.store.readEvents({ after: events[0]!.id, limit: 10, blockMs: 20_000, signal: controller.signal });
    setTimeout(() => controller.abort(), 100);
    const result = await aborted;
    expect(result.events).toEqual([]);
    expect(result.cursor).toBeTypeOf('string');
  });

  test('events: a malformed position is refused, naming the field', async () => {
    const h = await setup();
    await expectConveyorError(h.store.readEvents({ after: 'not a cursor!', limit: 10 }), 'CONVEYOR_VALIDATION');
  });

  test('traceContext: stored with the task and returned on reads and claims; absent when not given', async () => {
    const h = await setup();
    const carrier = { traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01', tracestate: 'vendor=1' };
    const traced = await insertOne(h, { traceContext: carrier });
    const plain = await insertOne(h);
    expect(traced.traceContext).toEqual(carrier);
    expect((await getTask(h, traced.id)).traceContext).toEqual(carrier);
    expect(plain).not.toHaveProperty('traceContext');
    const claimed = await claimOne(h, { expectedId: traced.id });
    expect(claimed.traceContext).toEqual(carrier);
  });

  test('oldestPending: the due time of the longest-waiting pending task per queue, null when none', async () => {
    const h = await setup();
    const t0 = h.clock.now();
    await insertOne(h, { queue: 'a', priority: 1 });
    h.clock.advance(100);
    await insertOne(h, { queue: 'a', priority: 9 });
    await insertOne(h, { queue: 'b', runAt: t0 + 60_000 });
    const result = await h.store.oldestPending({});
    const byQueue = Object.fromEntries(result.map((r) => [r.queue, r.oldestRunAt]));
    expect(byQueue).toEqual({ a: t0, b: null });
    // The oldest one leaves pending: the next one counts.
    await claimOne(h, { queues: ['a'], limit: 1 });
    expect(await h.store.oldestPending({ queue: 'a' })).toEqual([{ queue: 'a', oldestRunAt: t0 }]);
  });
};
