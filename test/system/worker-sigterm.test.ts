/**
 * Graceful shutdown of a real worker process (issue 3, acceptance): SIGTERM while 50 tasks run and
 * 20 more wait prefetched. The running ones finish, the prefetched ones go back to `pending` with
 * their attempt given back, nothing is lost, and the process exits 0 well within its grace.
 */
import { afterAll, describe, expect, inject, it, onTestFinished } from 'vitest';
import type { Task } from '../../src/types.js';
import { eventually } from '../helpers/eventually.js';
import { newTask } from '../helpers/factories.js';
import {
  countByState,
  isStoppedLine,
  killWorkerProcesses,
  listAllTasks,
  openSharedStore,
  spawnWorker,
  TEST_HANDLERS_MODULE,
  type StoreKind,
} from '../helpers/processes.js';

const QUEUE = 'shutdown';
const TASKS = 100;
const CONCURRENCY = 50;
const PREFETCH = 20;
/** Long enough to see 50 running and 20 prefetched at once, and to send the signal meanwhile. */
const TASK_MS = 1_500;
const GRACE_MS = 10_000;
/** Exiting takes more than the tasks' remaining time: flush, deregister, close, process exit. */
const EXIT_MARGIN_MS = 5_000;

afterAll(killWorkerProcesses);

const ids = (tasks: Task[]): string[] => tasks.map((task) => task.id).sort();

describe.each<StoreKind>(['sqlite', 'redis'])('worker process shutdown on %s', (kind) => {
  it(
    'SIGTERM with 50 running and 20 prefetched: the running finish, the prefetched are pending again with attempt 0, the process exits 0 within its grace',
    async ({ annotate }) => {
      const shared = await openSharedStore(kind, inject('redisUrl'));
      onTestFinished(shared.cleanup);
      const { store } = shared;

      const worker = spawnWorker({
        ...shared.target,
        handlersModule: TEST_HANDLERS_MODULE,
        queues: [QUEUE],
        concurrency: CONCURRENCY,
        prefetch: PREFETCH,
        leaseMs: 10_000,
        shutdownGraceMs: GRACE_MS,
      });
      await worker.ready;

      const tasks = Array.from({ length: TASKS }, () => newTask({ queue: QUEUE, type: 'sleep', payload: { ms: TASK_MS } }));
      await store.insertTasks({ tasks });

      // Running = processing and started; prefetched = processing, leased but not started.
      const { running, prefetched } = await eventually(
        async () => {
          const processing = await listAllTasks(store, QUEUE, 'processing');
          const running = processing.filter((task) => task.startedAt !== null);
          const prefetched = processing.filter((task) => task.startedAt === null);
          expect({ running: running.length, prefetched: prefetched.length }).toEqual({ running: CONCURRENCY, prefetched: PREFETCH });
          return { running, prefetched };
        },
        { timeoutMs: 15_000, intervalMs: 20 },
      );
      const sigtermAt = Date.now();
      worker.kill('SIGTERM');

      const exit = await Promise.race([
        worker.exit,
        new Promise<'timeout'>((resolve) => setTimeout(() => resolve('timeout'), GRACE_MS + EXIT_MARGIN_MS)),
      ]);
      const exitMs = Date.now() - sigtermAt;
      const signalAfterStartMs = sigtermAt - Math.min(...running.map((task) => task.startedAt!));
      await annotate(`${kind}: SIGTERM ${signalAfterStartMs} ms after the tasks started; exit ${exitMs} ms after SIGTERM (grace ${GRACE_MS} ms, tasks of ${TASK_MS} ms)`);
      expect(exit, worker.stderr()).toEqual({ code: 0, signal: null });
      expect(worker.lines.some(isStoppedLine)).toBe(true);
      expect(exitMs).toBeLessThan(GRACE_MS + EXIT_MARGIN_MS);

      const all = await listAllTasks(store, QUEUE);
      expect(all).toHaveLength(TASKS);
      const byId = new Map(all.map((task) => [task.id, task]));

      // The 50 that were running when the signal came finished during the shutdown, once each.
      const wereRunning = running.map((task) => byId.get(task.id)!);
      expect(wereRunning.filter((task) => task.state !== 'completed').map((task) => [task.id, task.state])).toEqual([]);
      expect(wereRunning.every((task) => task.attempt === 1 && task.finishedAt !== null && task.finishedAt >= sigtermAt)).toBe(true);

      // The 20 prefetched went back untouched: pending, the attempt their claim spent given back.
      const werePrefetched = prefetched.map((task) => byId.get(task.id)!);
      expect(werePrefetched.map((task) => ({ state: task.state, attempt: task.attempt }))).toEqual(
        Array.from({ length: PREFETCH }, () => ({ state: 'pending', attempt: 0 })),
      );

      // The other 30 were never claimed.
      const touched = new Set([...ids(running), ...ids(prefetched)]);
      const others = all.filter((task) => !touched.has(task.id));
      expect(others).toHaveLength(TASKS - CONCURRENCY - PREFETCH);
      expect(others.every((task) => task.state === 'pending' && task.attempt === 0)).toBe(true);

      // None lost: 50 completed and 50 pending, nothing stuck in processing.
      expect(await countByState(store, QUEUE)).toMatchObject({ completed: CONCURRENCY, pending: TASKS - CONCURRENCY, processing: 0, dead: 0, total: TASKS });
    },
    60_000,
  );
});
