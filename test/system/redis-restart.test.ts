/**
 * Workers ride out a Redis restart (issue 3, acceptance; Redis only by nature): with an idle worker
 * and a busy one running, Redis is stopped, stays down for 2 s and comes back with its data (AOF).
 * Neither worker process is restarted; both resume within 5 s of Redis returning, and in the end
 * every task is completed, none lost.
 */
import { afterAll, describe, expect, it, onTestFinished } from 'vitest';
import { openStore } from '../../src/store/open-store.js';
import type { Task } from '../../src/types.js';
import { eventually } from '../helpers/eventually.js';
import { newTask } from '../helpers/factories.js';
import { countByState, killWorkerProcesses, listAllTasks, spawnWorker, startLeaseReaper, TEST_HANDLERS_MODULE } from '../helpers/processes.js';
import { startRestartableRedis } from '../helpers/restartable-redis.js';

const BUSY_TASKS = 200;
const BUSY_TASK_MS = 20;
/** Stop Redis once this many busy tasks are completed: well before the end of the run. */
const STOP_AFTER_COMPLETED = 40;
const DOWN_MS = 2_000;
const RESUME_WITHIN_MS = 5_000;
/**
 * Longer than the outage and the reconnection, so that no lease a worker holds expires meanwhile;
 * short enough that a task stranded by a reply lost in the cut is reclaimed within the test.
 */
const LEASE_MS = 8_000;

afterAll(killWorkerProcesses);

const firstFinishedAfter = (tasks: Task[], after: number): number =>
  Math.min(...tasks.map((task) => task.finishedAt ?? Infinity).filter((at) => at >= after));

describe('workers across a Redis restart', () => {
  it(
    'an idle and a busy worker resume within 5 s of Redis returning, without a restart, and no task is lost',
    async ({ annotate }) => {
      const redis = await startRestartableRedis();
      const prefix = 'restart';
      const store = await openStore(redis.url, { prefix });
      // The coordinator's lease reaper, in small: this test is about the workers (and takes back a
      // task whose lease a lost reply left with nobody).
      const reaper = startLeaseReaper(store, 300);
      const config = { store: redis.url, prefix, handlersModule: TEST_HANDLERS_MODULE, leaseMs: LEASE_MS };
      const idle = spawnWorker({ ...config, id: 'idle-worker', queues: ['idle'], concurrency: 5 });
      const busy = spawnWorker({ ...config, id: 'busy-worker', queues: ['busy'], concurrency: 2 });
      onTestFinished(async () => {
        await killWorkerProcesses();
        await reaper.stop();
        await store.close();
        await redis.close();
      });
      await Promise.all([idle.ready, busy.ready]);

      await store.insertTasks({
        tasks: Array.from({ length: BUSY_TASKS }, () => newTask({ queue: 'busy', type: 'sleep', payload: { ms: BUSY_TASK_MS } })),
      });
      await eventually(async () => expect((await countByState(store, 'busy')).completed).toBeGreaterThanOrEqual(STOP_AFTER_COMPLETED), {
        timeoutMs: 20_000,
      });

      await redis.stop();
      const stoppedAt = Date.now();
      // The scenario: Redis stays down for a while.
      await new Promise((resolve) => setTimeout(resolve, DOWN_MS));
      expect(idle.alive() && busy.alive(), `${idle.stderr()}\n${busy.stderr()}`).toBe(true);
      await redis.start();
      const returnedAt = Date.now();

      const probe = newTask({ queue: 'idle', type: 'echo', payload: { hello: 'again' } });
      await store.insertTasks({ tasks: [probe] });
      const probeDone = await eventually(
        async () => {
          const [task] = await store.getTasks({ ids: [probe.id] });
          expect(task?.state).toBe('completed');
          return task!;
        },
        { timeoutMs: 20_000 },
      );
      expect(probeDone).toMatchObject({ workerId: 'idle-worker', result: { hello: 'again' } });

      await eventually(
        async () => expect(await countByState(store, 'busy')).toMatchObject({ completed: BUSY_TASKS, pending: 0, processing: 0, dead: 0 }),
        { timeoutMs: 30_000, intervalMs: 100 },
      );
      const busyTasks = await listAllTasks(store, 'busy');
      const busyResumeMs = firstFinishedAfter(busyTasks, stoppedAt) - returnedAt;
      const idleResumeMs = probeDone.finishedAt! - returnedAt;
      await annotate(
        `redis down ${returnedAt - stoppedAt} ms; after it returned: idle worker completed a new task in ${idleResumeMs} ms, busy worker completed its next task in ${busyResumeMs} ms; reclaimed leases: ${reaper.reclaimed.length}`,
      );
      expect(idleResumeMs).toBeLessThan(RESUME_WITHIN_MS);
      expect(busyResumeMs).toBeLessThan(RESUME_WITHIN_MS);
      // Some of the busy run was left for after the outage: the busy worker did resume mid-run.
      expect(busyTasks.filter((task) => (task.finishedAt ?? 0) >= returnedAt).length).toBeGreaterThan(0);

      // Same processes throughout, and none lost: every task completed, in both queues.
      expect([idle.alive(), busy.alive()]).toEqual([true, true]);
      expect(busyTasks).toHaveLength(BUSY_TASKS);
      expect(await countByState(store, 'idle')).toMatchObject({ completed: 1, total: 1 });

      idle.kill('SIGTERM');
      busy.kill('SIGTERM');
      expect(await Promise.all([idle.exit, busy.exit])).toEqual([
        { code: 0, signal: null },
        { code: 0, signal: null },
      ]);
    },
    60_000,
  );
});
