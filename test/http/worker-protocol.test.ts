/**
 * The worker protocol over HTTP: a worker written only against it (claim → extend → complete/fail,
 * with fetch) runs 20 tasks to completion; fencing refuses a stale token with 409; a claim long-polls.
 */
import { expect, it } from 'vitest';
import type { ClaimedTask, Task } from '../../src/types.js';
import { describeForEachStore } from '../worker/harness.js';
import { expectError, openHttpTest, type HttpTest } from './helpers.js';

/** A worker that knows only HTTP: claims in batches, renews, fails each task's first attempt once when asked. */
async function runHttpWorker(h: HttpTest, queue: string, expected: number): Promise<void> {
  const failedOnce = new Set<string>();
  let finished = 0;
  const deadline = Date.now() + 20_000;
  while (finished < expected) {
    if (Date.now() > deadline) throw new Error(`the HTTP worker finished ${finished} of ${expected} tasks`);
    const claim = await h.request<{ tasks: ClaimedTask[] }>('POST', '/api/v1/claim', { body: { queues: [queue], workerId: 'http-worker-1', limit: 5, leaseMs: 5_000, waitMs: 500 } });
    expect(claim.status).toBe(200);
    if (claim.body.tasks.length === 0) continue;
    const extend = await h.request('POST', '/api/v1/leases/extend', {
      body: { leases: claim.body.tasks.map((t) => ({ id: t.id, token: t.leaseToken, progress: { step: 1 } })), leaseMs: 5_000 },
    });
    expect(extend.status).toBe(200);
    expect(extend.body.lost).toEqual([]);
    expect(extend.body.renewed.map((r: { id: string }) => r.id).sort()).toEqual(claim.body.tasks.map((t) => t.id).sort());
    for (const task of claim.body.tasks) {
      const payload = task.payload as { n: number; flaky: boolean };
      if (payload.flaky && !failedOnce.has(task.id)) {
        failedOnce.add(task.id);
        const fail = await h.request('POST', `/api/v1/tasks/${task.id}/fail`, { body: { token: task.leaseToken, error: { message: 'flaky', name: 'FlakyError' }, retryDelayMs: 0 } });
        expect(fail).toMatchObject({ status: 200, body: { id: task.id } });
        expect(['pending', 'scheduled']).toContain(fail.body.state);
        continue;
      }
      const complete = await h.request('POST', `/api/v1/tasks/${task.id}/complete`, { body: { token: task.leaseToken, result: { doubled: payload.n * 2 } } });
      expect(complete).toMatchObject({ status: 200, body: { id: task.id, state: 'completed' } });
      finished += 1;
    }
  }
}

describeForEachStore('http: worker protocol', (setup, kind) => {
  it('a worker written only against the protocol runs 20 tasks to completion (some fail once and are retried)', async () => {
    const h = await openHttpTest(kind);
    const submitted = await h.request('POST', '/api/v1/tasks/batch', {
      body: { tasks: Array.from({ length: 20 }, (_, n) => ({ type: 'double', queue: 'proto', payload: { n, flaky: n % 4 === 0 }, backoff: { type: 'fixed', delay: 10, jitter: 0 } })) },
    });
    expect(submitted.status).toBe(201);
    await runHttpWorker(h, 'proto', 20);
    const tasks = (await h.request<{ tasks: Task[] }>('GET', '/api/v1/tasks?queue=proto&limit=100')).body.tasks;
    expect(tasks).toHaveLength(20);
    for (const task of tasks) {
      const { n, flaky } = task.payload as { n: number; flaky: boolean };
      expect(task).toMatchObject({ state: 'completed', result: { doubled: n * 2 }, workerId: 'http-worker-1', progress: { step: 1 } });
      expect(task.attempt).toBe(flaky ? 2 : 1);
      if (flaky) expect(task.errors[0]).toMatchObject({ message: 'flaky', name: 'FlakyError', reason: 'error' });
    }
  });

  it('a stale token is refused with 409 CONVEYOR_LEASE_LOST and writes nothing; extend reports it lost', async () => {
    const h = await openHttpTest(kind);
    const { task } = await h.client.submit({ type: 'a', queue: 'fence', retries: 2, backoff: { type: 'fixed', delay: 10, jitter: 0 } });
    const first = (await h.request('POST', '/api/v1/claim', { body: { queues: ['fence'], workerId: 'w1', leaseMs: 200 } })).body.tasks[0] as ClaimedTask;
    expect(first.id).toBe(task.id);
    await new Promise((resolve) => setTimeout(resolve, 300));
    // The lease expired: another worker claims the task (due again once reclaimed).
    await h.store.reclaimExpiredLeases({ limit: 100 });
    const second = (await h.request('POST', '/api/v1/claim', { body: { queues: ['fence'], workerId: 'w2', leaseMs: 10_000, waitMs: 2_000 } })).body.tasks[0] as ClaimedTask;
    expect(second.id).toBe(task.id);
    expect(second.leaseToken).not.toBe(first.leaseToken);

    expectError(await h.request('POST', `/api/v1/tasks/${task.id}/complete`, { body: { token: first.leaseToken, result: 'stale' } }), 409, 'CONVEYOR_LEASE_LOST');
    expectError(await h.request('POST', `/api/v1/tasks/${task.id}/fail`, { body: { token: first.leaseToken, error: { message: 'stale' } } }), 409, 'CONVEYOR_LEASE_LOST');
    const extend = await h.request('POST', '/api/v1/leases/extend', { body: { leases: [{ id: task.id, token: first.leaseToken }, { id: task.id, token: second.leaseToken, queue: 'fence' }], leaseMs: 5_000 } });
    expect(extend.body.lost).toEqual([task.id]);
    expect(extend.body.renewed.map((r: { id: string }) => r.id)).toEqual([task.id]);
    expect((await h.client.get(task.id)).state).toBe('processing');

    const done = await h.request('POST', `/api/v1/tasks/${task.id}/complete`, { body: { token: second.leaseToken, result: 'fresh' } });
    expect(done).toMatchObject({ status: 200, body: { state: 'completed' } });
    expect(await h.client.get(task.id)).toMatchObject({ state: 'completed', result: 'fresh', workerId: 'w2' });
  });

  it('a permanent failure goes dead at once; without retryDelayMs the task backoff decides', async () => {
    const h = await openHttpTest(kind);
    const { task } = await h.client.submit({ type: 'a', queue: 'perm', retries: 5 });
    const claimed = (await h.request('POST', '/api/v1/claim', { body: { queues: ['perm'], workerId: 'w1' } })).body.tasks[0] as ClaimedTask;
    const res = await h.request('POST', `/api/v1/tasks/${task.id}/fail`, { body: { token: claimed.leaseToken, error: { message: 'bad input' }, permanent: true } });
    expect(res).toMatchObject({ status: 200, body: { state: 'dead' } });

    const { task: later } = await h.client.submit({ type: 'a', queue: 'perm', retries: 1, backoff: { type: 'fixed', delay: '1h', jitter: 0 } });
    const again = (await h.request('POST', '/api/v1/claim', { body: { queues: ['perm'], workerId: 'w1' } })).body.tasks[0] as ClaimedTask;
    expect(again.id).toBe(later.id);
    expect((await h.request('POST', `/api/v1/tasks/${later.id}/fail`, { body: { token: again.leaseToken, error: { message: 'try later' } } })).body.state).toBe('scheduled');
    const stored = await h.client.get(later.id);
    expect(stored.runAt - Date.now()).toBeGreaterThan(50 * 60_000);
  });

  it('a claim long-polls: it answers as soon as a task arrives, or empty after waitMs', async () => {
    const h = await openHttpTest(kind);
    const started = Date.now();
    const empty = await h.request('POST', '/api/v1/claim', { body: { queues: ['lp'], workerId: 'w1', waitMs: 300 } });
    expect(empty).toMatchObject({ status: 200, body: { tasks: [] } });
    expect(Date.now() - started).toBeGreaterThanOrEqual(250);

    const waiting = h.request('POST', '/api/v1/claim', { body: { queues: ['lp'], workerId: 'w1', waitMs: 10_000 } });
    await new Promise((resolve) => setTimeout(resolve, 200));
    const t0 = Date.now();
    const { task } = await h.client.submit({ type: 'a', queue: 'lp' });
    const claimed = await waiting;
    expect(claimed.body.tasks.map((t: ClaimedTask) => t.id)).toEqual([task.id]);
    expect(Date.now() - t0).toBeLessThan(3_000);
  });
});
