/**
 * Client: stats, queues with pause and resume, the dead-letter queue, workers, the cluster view and
 * schedules, on both stores. Bad input names the field and changes nothing.
 */
import { expect, it } from 'vitest';
import { createClient } from '../../src/client/client.js';
import { createCoordinator } from '../../src/coordinator/coordinator.js';
import { ConveyorError, type ErrorCode } from '../../src/errors.js';
import type { Store } from '../../src/store/store.js';
import { describeForEachStore, waitUntil } from '../worker/harness.js';
import { killAll } from '../helpers/factories.js';

async function snapshot(store: Store): Promise<unknown> {
  const [counts, queues, schedules, tasks] = await Promise.all([
    store.countTasks({}),
    store.listQueues(),
    store.listSchedules(),
    store.listTasks({ limit: 1000 }),
  ]);
  return { counts, queues, schedules, tasks: tasks.tasks.map((t) => [t.id, t.state]) };
}

async function expectRefused(store: Store, call: () => Promise<unknown>, code: ErrorCode, path?: string): Promise<ConveyorError> {
  const before = await snapshot(store);
  const err = await call().then(
    () => new Error('expected the call to be refused'),
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ConveyorError);
  const error = err as ConveyorError;
  expect(error.code).toBe(code);
  if (path !== undefined) {
    expect(((error.details.issues as { path: string }[] | undefined) ?? []).map((i) => i.path)).toContain(path);
    expect(error.message).toContain(path);
  }
  expect(await snapshot(store)).toEqual(before);
  return error;
}


describeForEachStore('client: stats and queues', (setup) => {
  it('counts tasks per queue and state, every state present', async () => {
    const t = await setup();
    const client = createClient({ store: t.store });
    await client.submitBatch([{ type: 'a', queue: 'q1' }, { type: 'a', queue: 'q1', delay: '1h' }, { type: 'b', queue: 'q2' }]);
    const stats = await client.stats();
    expect(stats).toEqual([
      { queue: 'q1', counts: { blocked: 0, scheduled: 1, pending: 1, processing: 0, completed: 0, dead: 0, cancelled: 0 } },
      { queue: 'q2', counts: { blocked: 0, scheduled: 0, pending: 1, processing: 0, completed: 0, dead: 0, cancelled: 0 } },
    ]);
    expect(await client.stats({ queue: 'q2' })).toEqual([stats[1]]);
    await expectRefused(t.store, () => client.stats({ queue: 'no good' }), 'CONVEYOR_VALIDATION', 'queue');
  });

  it('lists queues with their pause flag and counts; pauses and resumes', async () => {
    const t = await setup();
    const client = createClient({ store: t.store });
    await client.submitBatch([{ type: 'a', queue: 'emails' }, { type: 'a', queue: 'images' }]);
    const paused = await client.pauseQueue('emails');
    expect(paused).toMatchObject({ name: 'emails', paused: true, counts: { pending: 1 } });
    const queues = await client.queues();
    expect(queues.map((q) => [q.name, q.paused, q.counts.pending])).toEqual([
      ['emails', true, 1],
      ['images', false, 1],
    ]);
    // A paused queue yields nothing to workers.
    expect(await t.store.claimTasks({ queues: ['emails'], workerId: 'w', limit: 10, leaseMs: 10_000 })).toEqual([]);
    expect((await client.resumeQueue('emails')).paused).toBe(false);
    expect((await client.queues()).find((q) => q.name === 'emails')?.paused).toBe(false);
  });

  it('pauses a queue before its first task; refuses to resume an unknown queue and bad names', async () => {
    const t = await setup();
    const client = createClient({ store: t.store });
    expect(await client.pauseQueue('later')).toMatchObject({ name: 'later', paused: true, counts: { pending: 0 } });
    expect((await client.queues()).map((q) => q.name)).toEqual(['later']);
    const error = await expectRefused(t.store, () => client.resumeQueue('typo'), 'CONVEYOR_QUEUE_NOT_FOUND');
    expect(error.details.queue).toBe('typo');
    await expectRefused(t.store, () => client.pauseQueue('bad name'), 'CONVEYOR_VALIDATION', 'name');
    await expectRefused(t.store, () => client.resumeQueue(''), 'CONVEYOR_VALIDATION', 'name');
  });
});

describeForEachStore('client: dead-letter queue', (setup) => {
  it('lists dead tasks newest first, by queue, with a cursor', async () => {
    const t = await setup();
    const client = createClient({ store: t.store });
    await client.submitBatch([...Array.from({ length: 3 }, () => ({ type: 'a', queue: 'q1' })), { type: 'b', queue: 'q2' }, { type: 'alive', queue: 'q3' }]);
    const dead = [...(await killAll(t.store, 'q1')), ...(await killAll(t.store, 'q2'))];
    const all = await client.dead.list();
    expect(all.tasks.map((task) => task.id).sort()).toEqual([...dead].sort());
    expect(all.tasks.every((task) => task.state === 'dead')).toBe(true);
    expect((await client.dead.list({ queue: 'q2' })).tasks.map((task) => task.id)).toEqual([dead[3]]);
    const first = await client.dead.list({ limit: 2 });
    expect(first.tasks).toHaveLength(2);
    const rest = await client.dead.list({ limit: 2, cursor: first.nextCursor });
    expect([...first.tasks, ...rest.tasks].map((task) => task.id).sort()).toEqual([...dead].sort());
    await expectRefused(t.store, () => client.dead.list({ state: 'pending' } as never), 'CONVEYOR_VALIDATION', 'state');
  });

  it('retries every dead task (of a queue, or of all), and returns the count', async () => {
    const t = await setup();
    const client = createClient({ store: t.store });
    await client.submitBatch([...Array.from({ length: 4 }, () => ({ type: 'a', queue: 'q1' })), ...Array.from({ length: 3 }, () => ({ type: 'a', queue: 'q2' }))]);
    await killAll(t.store, 'q1');
    await killAll(t.store, 'q2');
    expect(await client.dead.retry({ queue: 'q2' })).toBe(3);
    expect((await client.stats({ queue: 'q2' }))[0]!.counts).toMatchObject({ dead: 0, pending: 3 });
    expect(await client.dead.retry()).toBe(4);
    expect(await client.dead.retry()).toBe(0);
    expect((await client.stats()).map((s) => s.counts.pending)).toEqual([4, 3]);
  });

  it('pages through more dead tasks than one page holds', async () => {
    const t = await setup();
    const client = createClient({ store: t.store });
    await client.submitBatch(Array.from({ length: 1_000 }, () => ({ type: 'a', queue: 'big' })));
    await client.submitBatch(Array.from({ length: 200 }, () => ({ type: 'a', queue: 'big' })));
    await killAll(t.store, 'big');
    await killAll(t.store, 'big');
    expect((await client.stats({ queue: 'big' }))[0]!.counts.dead).toBe(1_200);
    expect(await client.dead.retry()).toBe(1_200);
    expect((await client.stats({ queue: 'big' }))[0]!.counts).toMatchObject({ dead: 0, pending: 1_200 });
  });

  it('retries chosen ids: only those that are dead (and in the queue when given); an unknown id retries nothing', async () => {
    const t = await setup();
    const client = createClient({ store: t.store });
    const [a, b] = await client.submitBatch([{ type: 'a', queue: 'q1' }, { type: 'a', queue: 'q1' }]);
    const [c] = await client.submitBatch([{ type: 'a', queue: 'q2' }]);
    await killAll(t.store, 'q1');
    await killAll(t.store, 'q2');
    const { task: alive } = await client.submit({ type: 'a', queue: 'q1' });
    const cancelled = (await client.submit({ type: 'a', queue: 'q1' })).task;
    await client.cancel(cancelled.id);

    const unknown = '01ARZ3NDEKTSV4RRFFQ69G5FAV';
    const error = await expectRefused(t.store, () => client.dead.retry({ ids: [a!.task.id, unknown] }), 'CONVEYOR_TASK_NOT_FOUND', 'ids[1]');
    expect(error.details.ids).toEqual([unknown]);
    await expectRefused(t.store, () => client.dead.retry({ ids: ['nope'] }), 'CONVEYOR_VALIDATION', 'ids[0]');

    expect(await client.dead.retry({ queue: 'q1', ids: [a!.task.id, c!.task.id, alive.id, cancelled.id] })).toBe(1);
    expect((await client.get(a!.task.id)).state).toBe('pending');
    expect((await client.get(c!.task.id)).state).toBe('dead');
    expect((await client.get(cancelled.id)).state).toBe('cancelled');
    expect(await client.dead.retry({ ids: [b!.task.id.toLowerCase(), c!.task.id] })).toBe(2);
    expect(await client.dead.retry({ ids: [] })).toBe(0);
  });

  it('purges dead tasks (of a queue, or of all) and returns the count, leaving the rest', async () => {
    const t = await setup();
    const client = createClient({ store: t.store });
    await client.submitBatch([...Array.from({ length: 5 }, () => ({ type: 'a', queue: 'q1' })), ...Array.from({ length: 2 }, () => ({ type: 'a', queue: 'q2' }))]);
    await killAll(t.store, 'q1');
    await killAll(t.store, 'q2');
    const { task: alive } = await client.submit({ type: 'a', queue: 'q1' });
    expect(await client.dead.purge({ queue: 'q2' })).toBe(2);
    expect(await client.dead.purge()).toBe(5);
    expect(await client.dead.purge()).toBe(0);
    expect((await client.dead.list()).tasks).toEqual([]);
    expect((await client.get(alive.id)).state).toBe('pending');
    await expectRefused(t.store, () => client.dead.purge({ queue: 'a b' }), 'CONVEYOR_VALIDATION', 'queue');
    await expectRefused(t.store, () => client.dead.purge({ olderThan: '1d' } as never), 'CONVEYOR_VALIDATION', 'olderThan');
  });

  it('purges more dead tasks than one batch holds', async () => {
    const t = await setup();
    const client = createClient({ store: t.store });
    await client.submitBatch(Array.from({ length: 1_000 }, () => ({ type: 'a', queue: 'big' })));
    await client.submitBatch(Array.from({ length: 300 }, () => ({ type: 'a', queue: 'big' })));
    await killAll(t.store, 'big');
    await killAll(t.store, 'big');
    expect(await client.dead.purge()).toBe(1_300);
    expect((await client.stats({ queue: 'big' }))[0]!.counts.dead).toBe(0);
  });
});

describeForEachStore('client: workers and cluster', (setup) => {
  it('lists running workers and shows the cluster with its leader', async () => {
    const t = await setup();
    const client = createClient({ store: t.store });
    const worker = await t.startWorker({ queues: ['emails'] });
    const coordinator = createCoordinator({ store: t.store, nodeId: 'server-1', leaseMs: 2_000 });
    await coordinator.start();
    try {
      await waitUntil(async () => (await client.workers()).length === 2, 'both nodes registered');
      const workers = await client.workers();
      expect(workers.find((w) => w.id === worker.id)).toMatchObject({ queues: ['emails'], role: 'worker' });
      await waitUntil(async () => (await client.cluster('server-1')).leader === 'server-1', 'the coordinator leads');
      const view = await client.cluster('server-1');
      expect(view.self).toBe('server-1');
      expect(view.nodes.map((n) => [n.id, n.role, n.leader]).sort()).toEqual(
        [
          ['server-1', 'server', true],
          [worker.id, 'worker', false],
        ].sort(),
      );
      expect((await client.cluster()).self).toBeNull();
      await expect(client.cluster('')).rejects.toThrow(/self/);
    } finally {
      await coordinator.stop();
    }
  });
});

describeForEachStore('client: schedules', (setup) => {
  it('saves, lists, gets and removes schedules', async () => {
    const t = await setup();
    const client = createClient({ store: t.store });
    const saved = await client.schedules.save([
      { name: 'nightly', cron: '0 3 * * *', timezone: 'Europe/Paris', task: { type: 'report', queue: 'reports' } },
      { name: 'ping', every: '30s', task: { type: 'ping' } },
    ]);
    expect(saved.map((s) => [s.name, s.cron, s.everyMs])).toEqual([
      ['nightly', '0 3 * * *', null],
      ['ping', null, 30_000],
    ]);
    expect(saved.every((s) => s.nextRunAt !== null && s.nextRunAt > Date.now())).toBe(true);
    expect((await client.schedules.list()).map((s) => s.name)).toEqual(['nightly', 'ping']);
    expect((await client.schedules.get('ping')).everyMs).toBe(30_000);
    // One schedule on its own is accepted too, and replaces the definition.
    expect((await client.schedules.save({ name: 'ping', every: '1m', task: { type: 'ping' } }))[0]!.everyMs).toBe(60_000);
    expect(await client.schedules.remove(['ping', 'unknown'])).toBe(1);
    expect(await client.schedules.remove('nightly')).toBe(1);
    expect(await client.schedules.list()).toEqual([]);
  });

  it('refuses bad schedules, naming the index and field, and saves none of them', async () => {
    const t = await setup();
    const client = createClient({ store: t.store });
    await client.schedules.save({ name: 'keep', every: '1m', task: { type: 'x' } });
    await expectRefused(
      t.store,
      () => client.schedules.save([{ name: 'ok', every: '1m', task: { type: 'x' } }, { name: 'bad', cron: 'not cron', task: { type: 'x' } }]),
      'CONVEYOR_VALIDATION',
      'schedules[1].cron',
    );
    await expectRefused(
      t.store,
      () => client.schedules.save([{ name: 'dup', every: '1m', task: { type: 'x' } }, { name: 'dup', every: '2m', task: { type: 'x' } }]),
      'CONVEYOR_VALIDATION',
      'schedules[1].name',
    );
    await expectRefused(t.store, () => client.schedules.save({ name: 'x', every: '1m', task: {} }), 'CONVEYOR_VALIDATION', 'task.type');
    await expectRefused(t.store, () => client.schedules.remove(['keep', 'bad name']), 'CONVEYOR_VALIDATION', 'names[1]');
    await expectRefused(t.store, () => client.schedules.get('bad name'), 'CONVEYOR_VALIDATION', 'name');
    const missing = await expectRefused(t.store, () => client.schedules.get('missing'), 'CONVEYOR_SCHEDULE_NOT_FOUND');
    expect(missing.details.name).toBe('missing');
  });
});
