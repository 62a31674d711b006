/**
 * Recurring tasks across leader failovers (issue 4, acceptance): a schedule firing every second,
 * with `missedRuns: 'once'`, while the leader is killed with `kill -9` twice: every occurrence from
 * the first to the last one enqueued is there (consecutive occurrences 1000 ms apart, no gap), and
 * none twice; the idempotency keys `schedule:<name>:<occurrence ms>` tell them apart.
 *
 * As the acceptance asks, it runs about 30 s per store (three terms of TERM_MS around two takeovers
 * of up to the 2 s lease): two failovers, each with occurrences that came due while nobody led and
 * that the next leader must catch up.
 */
import { afterAll, describe, expect, inject, it, onTestFinished } from 'vitest';
import { LEADER_LEASE_NAME } from '../../src/coordinator/leader-elector.js';
import { listSchedules, occurrenceKey, saveSchedules } from '../../src/coordinator/schedules.js';
import type { Store } from '../../src/store/store.js';
import { eventually } from '../helpers/eventually.js';
import { listAllTasks, openSharedStore, type StoreKind } from '../helpers/processes.js';
import { killCoordinatorProcesses, spawnCoordinator, type CoordinatorProcess } from './coordinator-process.js';

/** The leader lease (default 10 s): short, so a takeover costs about 2 s of missed occurrences. */
const LEASE_MS = 2_000;
/** How long each leader runs before it is killed (and the last one before everything stops). */
const TERM_MS = 9_000;
const SCHEDULE = 'every-second';
const QUEUE = 'cron-failover';
const EVERY_MS = 1_000;

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

afterAll(killCoordinatorProcesses);

async function leaderOf(store: Store, processes: CoordinatorProcess[], not?: string): Promise<CoordinatorProcess> {
  return eventually(
    async () => {
      const holder = await store.getLeader({ name: LEADER_LEASE_NAME });
      expect(holder?.nodeId).toBeDefined();
      expect(holder!.nodeId).not.toBe(not);
      const leader = processes.find((child) => child.nodeId === holder!.nodeId && child.alive());
      expect(leader).toBeDefined();
      return leader!;
    },
    { timeoutMs: LEASE_MS + 10_000, intervalMs: 20 },
  );
}

const CASES: { kind: StoreKind; processes: number }[] = [
  { kind: 'redis', processes: 3 },
  { kind: 'sqlite', processes: 2 },
];

describe.each(CASES)('cron schedule across leader failovers: $processes coordinator processes on $kind', ({ kind, processes: count }) => {
  it(
    "a schedule every 1s (missedRuns: 'once') through two kill -9 of the leader: every occurrence enqueued, none twice",
    async ({ annotate }) => {
      const shared = await openSharedStore(kind, inject('redisUrl'));
      onTestFinished(async () => {
        await killCoordinatorProcesses();
        await shared.cleanup();
      });
      const { store } = shared;

      const [saved] = await saveSchedules(store, [
        { name: SCHEDULE, every: '1s', missedRuns: 'once', task: { queue: QUEUE, type: 'echo', payload: { from: 'schedule' } } },
      ]);
      const firstOccurrence = saved!.nextRunAt!;

      let serial = 0;
      const spawnOne = (): CoordinatorProcess =>
        spawnCoordinator({ ...shared.target, nodeId: `${kind}-coord-${++serial}`, leaseMs: LEASE_MS, intervals: { cronSchedulerMs: 250 } });
      const processes = Array.from({ length: count }, spawnOne);
      await Promise.all(processes.map((child) => child.ready));
      let leader = await leaderOf(store, processes);

      const takeovers: number[] = [];
      for (let kill = 1; kill <= 2; kill++) {
        await sleep(TERM_MS);
        const victim = await leaderOf(store, processes);
        const killedAt = Date.now();
        victim.kill('SIGKILL');
        expect(await victim.exit).toEqual({ code: null, signal: 'SIGKILL' });
        // A replacement keeps the number of live processes (SQLite would be down to one otherwise).
        const replacement = spawnOne();
        processes.push(replacement);
        leader = await leaderOf(store, processes, victim.nodeId);
        takeovers.push(Date.now() - killedAt);
        await replacement.ready;
      }
      await sleep(TERM_MS);

      const stoppingAt = Date.now();
      const live = processes.filter((child) => child.alive());
      for (const child of live) child.kill('SIGTERM');
      for (const child of live) expect(await child.exit, child.stderr()).toEqual({ code: 0, signal: null });

      const tasks = await listAllTasks(store, QUEUE);
      const keys = tasks.map((task) => task.key);
      const prefix = `schedule:${SCHEDULE}:`;
      expect(keys.filter((key) => key === null || !key.startsWith(prefix) || !/^\d+$/.test(key.slice(prefix.length)))).toEqual([]);
      const occurrences = keys.map((key) => Number(key!.slice(prefix.length))).sort((a, b) => a - b);

      // None twice.
      expect(occurrences.filter((at, i) => i > 0 && at === occurrences[i - 1])).toEqual([]);
      // From the schedule's first occurrence on, each one, 1000 ms apart: no gap.
      expect(occurrences[0]).toBe(firstOccurrence);
      const gaps = occurrences.flatMap((at, i) => (i > 0 && at - occurrences[i - 1]! !== EVERY_MS ? [{ after: occurrences[i - 1], at }] : []));
      expect(gaps).toEqual([]);
      // Up to (about) the moment everything stopped: the last leader kept enqueuing until then.
      const last = occurrences[occurrences.length - 1]!;
      expect(last).toBeGreaterThanOrEqual(stoppingAt - 2_500);
      expect(occurrences.length).toBe((last - firstOccurrence) / EVERY_MS + 1);

      // The tasks are the template's, and the schedule says what it enqueued last.
      expect(new Set(tasks.map((task) => `${task.queue}/${task.type}/${JSON.stringify(task.payload)}`))).toEqual(
        new Set([`${QUEUE}/echo/{"from":"schedule"}`]),
      );
      expect(tasks.find((task) => task.key === occurrenceKey(SCHEDULE, last))).toBeDefined();
      const [schedule] = await listSchedules(store);
      expect(schedule).toMatchObject({ name: SCHEDULE, lastRunAt: last, nextRunAt: last + EVERY_MS });

      await annotate(
        `${kind}: ${occurrences.length} occurrences over ${(last - firstOccurrence) / 1000} s, takeovers after kill -9: ${takeovers.join(' ms, ')} ms; last leader ${leader.nodeId}`,
      );
    },
    120_000,
  );
});
