/**
 * The coordinator takes back the task of a crashed worker (issue 4, acceptance): worker A (a
 * process of its own) runs a long task and is killed with `kill -9`; its lease expires, the
 * leader's lease reaper puts the task back, and worker B claims it and completes it, within the
 * lease length plus the reaper's interval (plus a margin for B's idle wait and a loaded machine).
 * The coordinator runs in the test process: it is the leader, alone.
 */
import { afterAll, describe, expect, inject, it, onTestFinished } from 'vitest';
import { createCoordinator } from '../../src/coordinator/coordinator.js';
import type { Task } from '../../src/types.js';
import { eventually } from '../helpers/eventually.js';
import { newTask } from '../helpers/factories.js';
import { killWorkerProcesses, openSharedStore, spawnWorker, TEST_HANDLERS_MODULE, type StoreKind } from '../helpers/processes.js';

const QUEUE = 'reclaim';
/** The workers' task lease (default 30 s). */
const LEASE_MS = 2_000;
const REAPER_INTERVAL_MS = 250;
/** B waits at most this long for work while idle; SQLite sees other processes' commits within 500 ms. */
const IDLE_WAIT_MS = 250;
/** B's idle wait and the SQLite poll, then the claim, on a loaded machine. */
const MARGIN_MS = 2_000;
const TASK_MS = 4_000;

afterAll(killWorkerProcesses);

describe.each<StoreKind>(['sqlite', 'redis'])('worker reclaim on %s', (kind) => {
  it(
    'kill -9 of the worker running a task: the leader reclaims it and another worker completes it within lease + reaper interval (+ margin)',
    async ({ annotate }) => {
      const shared = await openSharedStore(kind, inject('redisUrl'));
      onTestFinished(async () => {
        await killWorkerProcesses();
        await shared.cleanup();
      });
      const { store } = shared;

      const coordinator = createCoordinator({ store, nodeId: `reclaim-leader-${kind}`, leaseMs: 5_000, intervals: { leaseReaperMs: REAPER_INTERVAL_MS } });
      onTestFinished(() => coordinator.stop());
      await coordinator.start();
      await eventually(() => expect(coordinator.isLeader).toBe(true), { timeoutMs: 5_000 });

      const config = { ...shared.target, handlersModule: TEST_HANDLERS_MODULE, queues: [QUEUE], concurrency: 1, leaseMs: LEASE_MS, idleWaitMs: IDLE_WAIT_MS };
      const a = spawnWorker({ ...config, id: `a-${kind}` });
      await a.ready;
      const task = newTask({ queue: QUEUE, type: 'sleep', payload: { ms: TASK_MS }, maxAttempts: 3 });
      await store.insertTasks({ tasks: [task] });
      const read = async (): Promise<Task> => (await store.getTasks({ ids: [task.id] }))[0]!;
      await eventually(async () => expect(await read()).toMatchObject({ state: 'processing', workerId: a.id, attempt: 1 }), { timeoutMs: 10_000 });

      // B starts while A holds the task, so it has nothing to do until the task comes back.
      const b = spawnWorker({ ...config, id: `b-${kind}` });
      await b.ready;
      expect(await read()).toMatchObject({ state: 'processing', workerId: a.id });

      const killedAt = Date.now();
      a.kill('SIGKILL');
      expect(await a.exit).toEqual({ code: null, signal: 'SIGKILL' });

      const reclaimedMs = await eventually(
        async () => {
          expect(await read()).toMatchObject({ state: 'processing', workerId: b.id, attempt: 2 });
          return Date.now() - killedAt;
        },
        { timeoutMs: LEASE_MS + REAPER_INTERVAL_MS + MARGIN_MS + 10_000, intervalMs: 20 },
      );
      const completedMs = await eventually(
        async () => {
          expect((await read()).state).toBe('completed');
          return Date.now() - killedAt;
        },
        { timeoutMs: TASK_MS + 15_000, intervalMs: 50 },
      );
      await annotate(`${kind}: after kill -9, B held the task again after ${reclaimedMs} ms and completed it after ${completedMs} ms (lease ${LEASE_MS} ms, reaper every ${REAPER_INTERVAL_MS} ms, task ${TASK_MS} ms)`);
      expect(reclaimedMs).toBeLessThanOrEqual(LEASE_MS + REAPER_INTERVAL_MS + MARGIN_MS);
      expect(completedMs).toBeLessThanOrEqual(LEASE_MS + REAPER_INTERVAL_MS + MARGIN_MS + TASK_MS + MARGIN_MS);

      const done = await read();
      expect(done).toMatchObject({ state: 'completed', workerId: b.id, attempt: 2, result: { sleptMs: TASK_MS } });
      expect(done.errors.map((error) => ({ reason: error.reason, attempt: error.attempt }))).toEqual([{ reason: 'lease_expired', attempt: 1 }]);

      b.kill('SIGTERM');
      expect(await b.exit, b.stderr()).toEqual({ code: 0, signal: null });
    },
    60_000,
  );
});
