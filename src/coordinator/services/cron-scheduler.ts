import { parseSubmitTask } from '../../schemas.js';
import type { Schedule } from '../../store/store.js';
import { MAX_CATCH_UP, MISSED_RUN_GRACE_MS, nextOccurrence, occurrenceKey } from '../schedules.js';
import type { MaintenanceService, ServiceContext } from './maintenance-service.js';

export const CRON_SCHEDULER_INTERVAL_MS = 1_000;

/**
 * Enqueues the due occurrences of every schedule. For each schedule whose next occurrence is due:
 * collect the occurrences up to now, drop the missed ones under `missedRuns: 'skip'` (those later
 * than MISSED_RUN_GRACE_MS), insert one task per occurrence with the occurrence's idempotency key,
 * then advance the schedule with a compare-and-set. A leader that dies between insert and advance
 * leaves the next one to insert the same occurrences again, and the keys make that a no-op: each
 * occurrence is enqueued exactly once.
 */
export function cronScheduler(ctx: ServiceContext & { now?: () => number }, intervalMs = CRON_SCHEDULER_INTERVAL_MS): MaintenanceService {
  const clock = ctx.now ?? Date.now;
  return {
    name: 'cron-scheduler',
    intervalMs,
    async tick(signal) {
      for (const schedule of await ctx.store.listSchedules()) {
        if (signal.aborted) return false;
        if (schedule.paused || schedule.nextRunAt === null || schedule.nextRunAt > clock()) continue;
        await fire(ctx, schedule, clock());
      }
      return false;
    },
  };
}

async function fire(ctx: ServiceContext, schedule: Schedule, now: number): Promise<void> {
  const due: number[] = [];
  let next: number | null = schedule.nextRunAt;
  // After a long outage an interval schedule jumps to the last MAX_CATCH_UP occurrences at once.
  if (schedule.everyMs !== null && next !== null && next <= now) {
    const behind = Math.floor((now - next) / schedule.everyMs);
    if (behind > MAX_CATCH_UP) next += (behind - MAX_CATCH_UP) * schedule.everyMs;
  }
  while (next !== null && next <= now) {
    due.push(next);
    if (due.length > MAX_CATCH_UP) due.shift();
    next = nextOccurrence(schedule, next);
  }
  const run = schedule.missedRuns === 'once' ? due : due.filter((at) => now - at <= MISSED_RUN_GRACE_MS);
  const skipped = due.length - run.length;
  if (run.length > 0) {
    const template = schedule.task as Record<string, unknown>;
    const tasks = run.map((at) => parseSubmitTask({ ...template, key: occurrenceKey(schedule.name, at) }, now));
    const { items } = await ctx.store.insertTasks({ tasks });
    // An occurrence a previous leader already enqueued comes back `created: false`: not counted again.
    for (const { task, created } of items) if (created) ctx.metrics?.taskSubmitted(task.queue, task.type);
  }
  const advanced = await ctx.store.advanceSchedule({
    name: schedule.name,
    expectedNextRunAt: schedule.nextRunAt,
    lastRunAt: run.length > 0 ? run[run.length - 1]! : schedule.lastRunAt,
    nextRunAt: next,
  });
  if (!advanced) return; // changed meanwhile (re-timed, deleted, another leader): the keys kept us safe
  ctx.logger.debug({ schedule: schedule.name, enqueued: run.length, skipped, nextRunAt: next }, 'cron scheduler: enqueued due occurrences');
  if (skipped > 0) ctx.logger.warn({ schedule: schedule.name, skipped }, 'cron scheduler: skipped occurrences missed while no leader ran (missedRuns: skip)');
}
