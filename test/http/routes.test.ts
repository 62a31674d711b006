/**
 * Every route of the HTTP API over real HTTP, on both stores: tasks, queues, stats, the dead-letter
 * queue, workers, the cluster, schedules, health and readiness.
 */
import { expect, it } from 'vitest';
import type { Store } from '../../src/store/store.js';
import type { Task } from '../../src/types.js';
import { describeForEachStore, spyStore, waitUntil } from '../worker/harness.js';
import { expectError, openHttpTest, openInProcessHttpTest } from './helpers.js';
import { killAll } from '../helpers/factories.js';

const UNKNOWN_ID = '01ARZ3NDEKTSV4RRFFQ69G5FAV';


async function completeAll(store: Store, queue: string, result: unknown = 'ok'): Promise<void> {
  const claimed = await store.claimTasks({ queues: [queue], workerId: 'test-worker', limit: 1000, leaseMs: 60_000 });
  await store.finishTasks({ items: claimed.map((task) => ({ id: task.id, queue: task.queue, token: task.leaseToken, outcome: 'complete' as const, result: result as never })) });
}

describeForEachStore('http: tasks', (setup, kind) => {
  it('POST /tasks creates (201), a repeated key returns the first task (200); GET /tasks/:id reads it', async () => {
    const h = await openHttpTest(kind);
    const created = await h.request<Task>('POST', '/api/v1/tasks', { body: { type: 'email', payload: { to: 'a@b.c' }, priority: 'high', key: 'k1', queue: 'mail' } });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ type: 'email', queue: 'mail', priority: 8, state: 'pending', payload: { to: 'a@b.c' }, key: 'k1' });
    const again = await h.request<Task>('POST', '/api/v1/tasks', { body: { type: 'email', payload: { other: true }, key: 'k1', queue: 'mail' } });
    expect(again.status).toBe(200);
    expect(again.body.id).toBe(created.body.id);
    const got = await h.request<Task>('GET', `/api/v1/tasks/${created.body.id.toLowerCase()}`);
    expect(got.status).toBe(200);
    expect(got.body).toEqual(created.body);
    expectError(await h.request('GET', `/api/v1/tasks/${UNKNOWN_ID}`), 404, 'CONVEYOR_TASK_NOT_FOUND');
    expectError(await h.request('GET', '/api/v1/tasks/nope'), 400, 'CONVEYOR_VALIDATION', 'id');
  });

  it('POST /tasks/batch submits all, in order; a repeated key in the batch is 200 only when nothing was created', async () => {
    const h = await openHttpTest(kind);
    const res = await h.request('POST', '/api/v1/tasks/batch', { body: { tasks: [{ type: 'a' }, { type: 'b', delay: '1h' }, { type: 'c', key: 'x' }] } });
    expect(res.status).toBe(201);
    expect(res.body.items.map((i: { task: Task; created: boolean }) => [i.task.type, i.task.state, i.created])).toEqual([
      ['a', 'pending', true],
      ['b', 'scheduled', true],
      ['c', 'pending', true],
    ]);
    const repeat = await h.request('POST', '/api/v1/tasks/batch', { body: { tasks: [{ type: 'c', key: 'x' }] } });
    expect(repeat.status).toBe(200);
    expect(repeat.body.items[0]).toMatchObject({ created: false, task: { id: res.body.items[2].task.id } });
  });

  it('GET /tasks filters by queue, state and type and pages with cursor', async () => {
    const h = await openHttpTest(kind);
    await h.client.submitBatch([...Array.from({ length: 5 }, () => ({ type: 'a', queue: 'q1' })), { type: 'b', queue: 'q1' }, { type: 'a', queue: 'q2', delay: '1h' }]);
    const all = await h.request('GET', '/api/v1/tasks');
    expect(all.status).toBe(200);
    expect(all.body.tasks).toHaveLength(7);
    expect(all.body.nextCursor).toBeNull();
    expect((await h.request('GET', '/api/v1/tasks?queue=q1&type=a')).body.tasks).toHaveLength(5);
    expect((await h.request('GET', '/api/v1/tasks?state=scheduled')).body.tasks.map((t: Task) => t.queue)).toEqual(['q2']);
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const page: { status: number; body: { tasks: Task[]; nextCursor: string | null } } = await h.request('GET', `/api/v1/tasks?queue=q1&limit=2${cursor ? `&cursor=${cursor}` : ''}`);
      expect(page.status).toBe(200);
      expect(page.body.tasks.length).toBeLessThanOrEqual(2);
      seen.push(...page.body.tasks.map((t) => t.id));
      cursor = page.body.nextCursor;
    } while (cursor !== null);
    expect(new Set(seen).size).toBe(6);
    expectError(await h.request('GET', '/api/v1/tasks?limit=0'), 400, 'CONVEYOR_VALIDATION', 'limit');
    expectError(await h.request('GET', '/api/v1/tasks?state=done'), 400, 'CONVEYOR_VALIDATION', 'state');
    expectError(await h.request('GET', '/api/v1/tasks?colour=red'), 400, 'CONVEYOR_VALIDATION', 'colour');
  });

  it('GET /tasks?queue&key finds a task by idempotency key; GET /tasks/:id/dependents lists the tasks waiting on it; /queues has oldestPendingAt', async () => {
    const h = await openHttpTest(kind);
    const first = (await h.request<Task>('POST', '/api/v1/tasks', { body: { type: 'extract', queue: 'etl', key: 'batch-7' } })).body;
    const second = (await h.request<Task>('POST', '/api/v1/tasks', { body: { type: 'load', queue: 'other', dependsOn: [first.id] } })).body;
    expect((await h.request('GET', '/api/v1/tasks?queue=etl&key=batch-7')).body).toEqual({ tasks: [first], nextCursor: null });
    expect((await h.request('GET', '/api/v1/tasks?queue=etl&key=batch-7&state=dead')).body).toEqual({ tasks: [], nextCursor: null });
    expect((await h.request('GET', '/api/v1/tasks?queue=other&key=batch-7')).body).toEqual({ tasks: [], nextCursor: null });
    expectError(await h.request('GET', '/api/v1/tasks?key=batch-7'), 400, 'CONVEYOR_VALIDATION', 'queue');

    expect((await h.request('GET', `/api/v1/tasks/${first.id}/dependents`)).body).toEqual({ tasks: [second] });
    expect((await h.request('GET', `/api/v1/tasks/${second.id}/dependents`)).body).toEqual({ tasks: [] });
    expectError(await h.request('GET', `/api/v1/tasks/${UNKNOWN_ID}/dependents`), 404, 'CONVEYOR_TASK_NOT_FOUND');

    const queues = (await h.request('GET', '/api/v1/queues')).body.queues as { name: string; oldestPendingAt: number | null }[];
    expect(queues.find((q) => q.name === 'etl')?.oldestPendingAt).toBe(first.runAt);
    expect(queues.find((q) => q.name === 'other')?.oldestPendingAt).toBeNull();
  });

  it('POST /tasks/:id/cancel and /retry; retrying a pending task is 409 TASK_NOT_RETRYABLE', async () => {
    const h = await openHttpTest(kind);
    const { task } = await h.client.submit({ type: 'a' });
    expectError(await h.request('POST', `/api/v1/tasks/${task.id}/retry`), 409, 'CONVEYOR_TASK_NOT_RETRYABLE');
    const cancelled = await h.request('POST', `/api/v1/tasks/${task.id}/cancel`);
    expect(cancelled.status).toBe(200);
    expect(cancelled.body).toMatchObject({ outcome: 'cancelled', task: { id: task.id, state: 'cancelled' } });
    const retried = await h.request('POST', `/api/v1/tasks/${task.id}/retry`);
    expect(retried.status).toBe(200);
    expect(retried.body).toMatchObject({ outcome: 'retried', task: { id: task.id, state: 'pending' } });
    expectError(await h.request('POST', `/api/v1/tasks/${UNKNOWN_ID}/cancel`), 404, 'CONVEYOR_TASK_NOT_FOUND');
    expectError(await h.request('POST', `/api/v1/tasks/${UNKNOWN_ID}/retry`), 404, 'CONVEYOR_TASK_NOT_FOUND');
  });

  it('GET /tasks/:id/wait long-polls: 200 with the finished task (completed or dead), 408 on timeout', async () => {
    const h = await openHttpTest(kind);
    const { task } = await h.client.submit({ type: 'a', queue: 'w' });
    const timedOut = await h.request('GET', `/api/v1/tasks/${task.id}/wait?timeout=200ms`);
    expectError(timedOut, 408, 'CONVEYOR_WAIT_TIMEOUT');
    expect(timedOut.body.error.details.state).toBe('pending');
    const waiting = h.request<Task>('GET', `/api/v1/tasks/${task.id}/wait?timeout=10s`);
    await new Promise((resolve) => setTimeout(resolve, 150));
    await completeAll(h.store, 'w', { sent: true });
    const done = await waiting;
    expect(done.status).toBe(200);
    expect(done.body).toMatchObject({ id: task.id, state: 'completed', result: { sent: true } });

    const { task: doomed } = await h.client.submit({ type: 'a', queue: 'w' });
    await killAll(h.store, 'w');
    const dead = await h.request<Task>('GET', `/api/v1/tasks/${doomed.id}/wait?timeout=5000`);
    expect(dead.status).toBe(200);
    expect(dead.body).toMatchObject({ state: 'dead', error: { message: 'boom' } });
    expectError(await h.request('GET', `/api/v1/tasks/${doomed.id}/wait?timeout=soon`), 400, 'CONVEYOR_VALIDATION', 'timeout');
    expectError(await h.request('GET', `/api/v1/tasks/${UNKNOWN_ID}/wait?timeout=1s`), 404, 'CONVEYOR_TASK_NOT_FOUND');
  });
});

describeForEachStore('http: queues, stats and dead letters', (setup, kind) => {
  it('GET /stats and GET /queues count per queue and state; pause and resume', async () => {
    const h = await openHttpTest(kind);
    await h.client.submitBatch([{ type: 'a', queue: 'q1' }, { type: 'a', queue: 'q1', delay: '1h' }, { type: 'b', queue: 'q2' }]);
    const stats = await h.request('GET', '/api/v1/stats');
    expect(stats.status).toBe(200);
    const q1 = stats.body.queues.find((q: { queue: string }) => q.queue === 'q1');
    expect(q1.counts).toMatchObject({ pending: 1, scheduled: 1, dead: 0 });
    expect((await h.request('GET', '/api/v1/stats?queue=q2')).body.queues).toEqual([{ queue: 'q2', counts: expect.objectContaining({ pending: 1 }) }]);

    const paused = await h.request('POST', '/api/v1/queues/q1/pause');
    expect(paused.status).toBe(200);
    expect(paused.body).toMatchObject({ name: 'q1', paused: true, counts: { pending: 1 } });
    const queues = await h.request('GET', '/api/v1/queues');
    expect(queues.body.queues.map((q: { name: string; paused: boolean }) => [q.name, q.paused])).toEqual([
      ['q1', true],
      ['q2', false],
    ]);
    expect((await h.request('POST', '/api/v1/queues/q1/resume')).body).toMatchObject({ name: 'q1', paused: false });
    expectError(await h.request('POST', '/api/v1/queues/nowhere/resume'), 404, 'CONVEYOR_QUEUE_NOT_FOUND');
    expectError(await h.request('POST', '/api/v1/queues/bad%20name/pause'), 400, 'CONVEYOR_VALIDATION', 'name');
  });

  it('GET /dead lists, POST /dead/retry retries (by ids or all), DELETE /dead purges', async () => {
    const h = await openHttpTest(kind);
    await h.client.submitBatch([{ type: 'a', queue: 'd' }, { type: 'a', queue: 'd' }, { type: 'a', queue: 'd' }]);
    const ids = await killAll(h.store, 'd');
    const dead = await h.request('GET', '/api/v1/dead?queue=d');
    expect(dead.status).toBe(200);
    expect(dead.body.tasks.map((t: Task) => t.id).sort()).toEqual([...ids].sort());
    const one = await h.request('POST', '/api/v1/dead/retry', { body: { ids: [ids[0]] } });
    expect(one).toMatchObject({ status: 200, body: { retried: 1 } });
    expect((await h.client.get(ids[0]!)).state).toBe('pending');
    expectError(await h.request('POST', '/api/v1/dead/retry', { body: { ids: [UNKNOWN_ID] } }), 404, 'CONVEYOR_TASK_NOT_FOUND');
    const purged = await h.request('DELETE', '/api/v1/dead?queue=d');
    expect(purged).toMatchObject({ status: 200, body: { purged: 2 } });
    await killAll(h.store, 'd');
    expect((await h.request('POST', '/api/v1/dead/retry')).body).toEqual({ retried: 1 });
  });
});

describeForEachStore('http: workers, cluster and schedules', (setup, kind) => {
  it('GET /workers and GET /cluster show the nodes, the leader and self', async () => {
    // The server process runs the coordinator itself: it registers as the `server` node and leads.
    const h = await openHttpTest(kind);
    const serverId = h.nodeId!;
    const worker = await h.t.startWorker({ queues: ['emails'] });
    await waitUntil(async () => (await h.request('GET', '/api/v1/workers')).body.workers.length === 2, 'both nodes registered');
    const workers = await h.request('GET', '/api/v1/workers');
    expect(workers.body.workers.find((w: { id: string }) => w.id === worker.id)).toMatchObject({ queues: ['emails'], role: 'worker' });
    await waitUntil(async () => (await h.request('GET', '/api/v1/cluster')).body.leader === serverId, 'the coordinator leads');
    const cluster = await h.request('GET', '/api/v1/cluster');
    expect(cluster.status).toBe(200);
    expect(cluster.body.self).toBe(serverId);
    expect(cluster.body.nodes.map((n: { id: string; role: string }) => [n.id, n.role]).sort()).toEqual([
      [serverId, 'server'],
      [worker.id, 'worker'],
    ].sort());
    expect(cluster.body.nodes[0]).toEqual(expect.objectContaining({ host: expect.any(String), pid: expect.any(Number), uptimeMs: expect.any(Number) }));
  });

  it('schedules: POST creates (201) and replaces (200), GET lists and reads, DELETE removes', async () => {
    const h = await openHttpTest(kind);
    const created = await h.request('POST', '/api/v1/schedules', { body: { name: 'nightly', cron: '0 3 * * *', timezone: 'Europe/Paris', task: { type: 'report' } } });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ name: 'nightly', cron: '0 3 * * *', timezone: 'Europe/Paris', nextRunAt: expect.any(Number) });
    const replaced = await h.request('POST', '/api/v1/schedules', { body: { name: 'nightly', every: '1h', task: { type: 'report' } } });
    expect(replaced.status).toBe(200);
    expect(replaced.body).toMatchObject({ name: 'nightly', cron: null, everyMs: 3_600_000 });
    expect((await h.request('GET', '/api/v1/schedules')).body.schedules.map((s: { name: string }) => s.name)).toEqual(['nightly']);
    expect((await h.request('GET', '/api/v1/schedules/nightly')).body).toMatchObject({ name: 'nightly', everyMs: 3_600_000 });
    expect(await h.request('DELETE', '/api/v1/schedules/nightly')).toMatchObject({ status: 200, body: { name: 'nightly', deleted: true } });
    expectError(await h.request('GET', '/api/v1/schedules/nightly'), 404, 'CONVEYOR_SCHEDULE_NOT_FOUND');
    expectError(await h.request('DELETE', '/api/v1/schedules/nightly'), 404, 'CONVEYOR_SCHEDULE_NOT_FOUND');
  });
});

describeForEachStore('http: health, readiness, unknown routes', (setup, kind) => {
  // In-process: the 503 needs a store that fails on demand (a spy), which a process cannot be given.
  it('GET /health is 200; GET /ready is 200 when the store answers, 503 when it does not', async () => {
    const t = await setup();
    const spy = spyStore(t.store);
    let broken = false;
    spy.failWhile('listQueues', () => broken);
    const h = await openInProcessHttpTest(async () => t, { store: spy.store });
    expect(await h.request('GET', '/health')).toMatchObject({ status: 200, body: { status: 'ok' } });
    expect(await h.request('GET', '/ready')).toMatchObject({ status: 200, body: { status: 'ready' } });
    broken = true;
    expectError(await h.request('GET', '/ready'), 503, 'CONVEYOR_STORE_UNAVAILABLE');
    expect((await h.request('GET', '/health')).status).toBe(200);
  });

  it('an unknown route is 404 CONVEYOR_ROUTE_NOT_FOUND in the error envelope', async () => {
    const h = await openHttpTest(kind);
    expectError(await h.request('GET', '/api/v1/nothing'), 404, 'CONVEYOR_ROUTE_NOT_FOUND');
    expectError(await h.request('PUT', '/api/v1/tasks'), 404, 'CONVEYOR_ROUTE_NOT_FOUND');
  });

  // In-process: the 500 needs a store that throws on demand (a spy), which a process cannot be given.
  it('an unexpected error is 500 CONVEYOR_INTERNAL without its message or stack', async () => {
    const t = await setup();
    const spy = spyStore(t.store);
    spy.failNext('countTasks', 1);
    const h = await openInProcessHttpTest(async () => t, { store: spy.store });
    // The client was made on the spy too (openInProcessHttpTest passes `store` to both).
    const res = await h.request('GET', '/api/v1/stats');
    expectError(res, 500, 'CONVEYOR_INTERNAL');
    expect(JSON.stringify(res.body)).not.toContain('store spy');
  });
});
