/**
 * A worker process killed with SIGKILL in the middle of a run (issue 3, acceptance): its leases
 * expire, the tasks it held are reclaimed and run again by the surviving worker, and every one of
 * the 2,000 tasks ends `completed`: none lost, none dead.
 */
import { afterAll, describe, expect, inject, it, onTestFinished } from 'vitest';
import type { NewTask } from '../../src/store/store.js';
import { eventually } from '../helpers/eventually.js';
import { newTask } from '../helpers/factories.js';
import {
  countByState,
  killWorkerProcesses,
  listAllTasks,
  openSharedStore,
  spawnWorker,
  startLeaseReaper,
  TEST_HANDLERS_MODULE,
  type StoreKind,
} from '../helpers/processes.js';

const QUEUE = 'crash';
const TASKS = 2_000;
const INSERT_BATCH = 500;
const LEASE_MS = 2_000;
/** Kill the victim once this many tasks are completed (and it holds some). */
const KILL_AFTER_COMPLETED = 300;

afterAll(killWorkerProcesses);

function sleepTasks(): NewTask[] {
  // 5–20 ms each: long enough that a worker always holds tasks in flight, short enough for 2,000.
  return Array.from({ length: TASKS }, (_, i) => newTask({ queue: QUEUE, type: 'sleep', payload: { ms: 5 + (i % 16) } }));
}

describe.each<StoreKind>(['sqlite', 'redis'])('worker process crash on %s', (kind) => {
  it(
    'kill -9 of one of two workers mid-run: its tasks run again on the other after their leases expire, and all 2,000 complete (lost = 0, dead = 0)',
    async ({ annotate }) => {
      const shared = await openSharedStore(kind, inject('redisUrl'));
      onTestFinished(shared.cleanup);
      const { store } = shared;

      const tasks = sleepTasks();
      for (let offset = 0; offset < TASKS; offset += INSERT_BATCH) {
        await store.insertTasks({ tasks: tasks.slice(offset, offset + INSERT_BATCH) });
      }

      // The coordinator's lease reaper, in small: this test is about the workers.
      const reaper = startLeaseReaper(store, 300);
      onTestFinished(() => reaper.stop());

      const config = { ...shared.target, handlersModule: TEST_HANDLERS_MODULE, queues: [QUEUE], concurrency: 20, leaseMs: LEASE_MS };
      const victim = spawnWorker({ ...config, id: `victim-${kind}` });
      const survivor = spawnWorker({ ...config, id: `survivor-${kind}` });
      await Promise.all([victim.ready, survivor.ready]);

      // Kill the victim in the middle of the run, while it holds tasks.
      await eventually(
        async () => {
          const { completed } = await countByState(store, QUEUE);
          expect(completed).toBeGreaterThanOrEqual(KILL_AFTER_COMPLETED);
          const held = (await listAllTasks(store, QUEUE, 'processing')).filter((task) => task.workerId === victim.id);
          expect(held.length).toBeGreaterThan(0);
        },
        { timeoutMs: 30_000, intervalMs: 10 },
      );
      victim.kill('SIGKILL');
      expect(await victim.exit).toEqual({ code: null, signal: 'SIGKILL' });
      const killedAt = Date.now();

      // What the dead worker held: nobody renews these leases any more.
      const orphans = (await listAllTasks(store, QUEUE, 'processing')).filter((task) => task.workerId === victim.id).map((task) => task.id);
      const completedAtKill = (await countByState(store, QUEUE)).completed;
      expect(completedAtKill).toBeLessThan(TASKS);

      await eventually(
        async () => {
          expect((await countByState(store, QUEUE)).completed).toBe(TASKS);
        },
        { timeoutMs: 45_000, intervalMs: 100 },
      );
      const doneMs = Date.now() - killedAt;
      await annotate(
        `${kind}: killed the victim at ${completedAtKill} completed, holding ${orphans.length} tasks; all ${TASKS} completed ${doneMs} ms later`,
      );

      expect(survivor.alive(), survivor.stderr()).toBe(true);
      expect(await countByState(store, QUEUE)).toMatchObject({ completed: TASKS, dead: 0, pending: 0, processing: 0, scheduled: 0, total: TASKS });

      // The victim's in-flight tasks ran again, on the survivor, as their second attempt.
      const orphanTasks = await store.getTasks({ ids: orphans });
      for (const task of orphanTasks) {
        expect(task, `orphan ${task?.id}`).toMatchObject({ state: 'completed', attempt: 2, workerId: survivor.id });
        expect(task!.errors.map((error) => ({ reason: error.reason, attempt: error.attempt }))).toEqual([{ reason: 'lease_expired', attempt: 1 }]);
      }
      expect(orphanTasks.length).toBeGreaterThan(0);
      expect(reaper.reclaimed).toEqual(expect.arrayContaining(orphans));

      // Everything else ran once (at least once overall; exactly once when no lease expired).
      const all = await listAllTasks(store, QUEUE);
      const orphanSet = new Set(orphans);
      const ranTwice = all.filter((task) => !orphanSet.has(task.id) && task.attempt !== 1);
      expect(ranTwice.map((task) => ({ id: task.id, attempt: task.attempt, errors: task.errors.map((e) => e.reason) }))).toEqual([]);

      survivor.kill('SIGTERM');
      expect(await survivor.exit).toEqual({ code: 0, signal: null });
    },
    60_000,
  );
});
