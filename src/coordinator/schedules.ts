import { Cron } from 'croner';
import { z } from 'zod';
import { durationSchema } from '../duration.js';
import { ConveyorError } from '../errors.js';
import { QUEUE_NAME_PATTERN, QUEUE_NAME_RULE } from '../names.js';
import { submitTaskSchema, validationError } from '../schemas.js';
import type { Schedule, ScheduleDefinition, Store } from '../store/store.js';
import type { JsonValue } from '../types.js';

/**
 * Recurring tasks: what a schedule is, how its occurrences are computed, and the library's calls
 * to manage them. The leader's cron scheduler (services/cron-scheduler.ts) enqueues occurrences.
 *
 * Occurrence times are deterministic (cron: its calendar; interval: the previous occurrence +
 * `every`), so every leader computes the same ones, and each occurrence's task carries the
 * idempotency key `schedule:<name>:<occurrence ms>`: enqueued once, also across a leader change.
 */

/** Fields of a submitted task that each occurrence sets itself, so a template may not. */
const OCCURRENCE_FIELDS = ['key', 'delay', 'runAt', 'dependsOn'] as const;

export const scheduleInputSchema = z
  .object({
    name: z.string().regex(QUEUE_NAME_PATTERN, { error: `must be ${QUEUE_NAME_RULE}` }),
    cron: z.string().min(1).optional(),
    timezone: z.string().min(1).optional(),
    every: durationSchema.optional(),
    task: z.record(z.string(), z.unknown()),
    missedRuns: z.enum(['skip', 'once']).default('skip'),
    paused: z.boolean().default(false),
  })
  .strict();

export type ScheduleInput = z.input<typeof scheduleInputSchema>;

const SCHEDULE_FIELDS = Object.keys(scheduleInputSchema.shape);

/** How late an occurrence may be enqueued under `missedRuns: 'skip'` before it counts as missed. */
export const MISSED_RUN_GRACE_MS = 5_000;
/** A catch-up (`missedRuns: 'once'`) enqueues at most this many missed occurrences, the latest ones. */
export const MAX_CATCH_UP = 1_000;

/** Validates a schedule; errors name the field and what is allowed. */
export function parseSchedule(input: unknown): ScheduleDefinition {
  const parsed = scheduleInputSchema.safeParse(input);
  if (!parsed.success) throw validationError('invalid schedule', parsed.error, { allowedFields: { '': SCHEDULE_FIELDS } });
  const { name, cron, timezone, every, task, missedRuns, paused } = parsed.data;
  const fail = (path: string, message: string): never => {
    throw new ConveyorError('CONVEYOR_VALIDATION', `invalid schedule: ${path}: ${message}`, { issues: [{ path, message }] });
  };
  if ((cron === undefined) === (every === undefined)) fail('cron', 'give exactly one of `cron` (an expression) and `every` (an interval such as "30s")');
  if (every !== undefined && every < 1_000) fail('every', `must be at least 1s (got ${every} ms)`);
  if (timezone !== undefined) {
    if (cron === undefined) fail('timezone', 'applies to `cron` only');
    try {
      new Intl.DateTimeFormat('en-US', { timeZone: timezone });
    } catch {
      fail('timezone', `${JSON.stringify(timezone)} is not an IANA time zone such as "Europe/Paris"`);
    }
  }
  if (cron !== undefined) {
    try {
      new Cron(cron, { timezone: timezone ?? 'UTC' });
    } catch (err) {
      fail('cron', `${JSON.stringify(cron)} is not a cron expression: ${(err as Error).message}`);
    }
  }
  for (const field of OCCURRENCE_FIELDS) {
    if (field in task) fail(`task.${field}`, 'is set by each occurrence; leave it out of the template');
  }
  const template = submitTaskSchema.safeParse(task);
  if (!template.success) throw validationError('invalid schedule', template.error, { pathPrefix: ['task'] });
  if (nextOccurrence({ cron: cron ?? null, timezone: timezone ?? null, everyMs: every ?? null }, Date.now()) === null) {
    fail('cron', `${JSON.stringify(cron)} has no future occurrence, so the schedule would never run`);
  }
  return {
    name,
    cron: cron ?? null,
    timezone: cron !== undefined ? (timezone ?? null) : null,
    everyMs: every ?? null,
    task: task as JsonValue,
    missedRuns,
    paused,
  };
}

/** The first occurrence strictly after `after`, or null when the expression has none left. */
export function nextOccurrence(schedule: Pick<ScheduleDefinition, 'cron' | 'timezone' | 'everyMs'>, after: number): number | null {
  if (schedule.everyMs !== null) return after + schedule.everyMs;
  const next = new Cron(schedule.cron!, { timezone: schedule.timezone ?? 'UTC' }).nextRun(new Date(after));
  return next ? next.getTime() : null;
}

export function occurrenceKey(name: string, occurrence: number): string {
  return `schedule:${name}:${occurrence}`;
}

function sameTiming(a: Pick<ScheduleDefinition, 'cron' | 'timezone' | 'everyMs'>, b: Pick<ScheduleDefinition, 'cron' | 'timezone' | 'everyMs'>): boolean {
  return a.cron === b.cron && a.timezone === b.timezone && a.everyMs === b.everyMs;
}

/**
 * Creates or replaces schedules. A schedule whose timing did not change keeps its next occurrence
 * (so re-declaring schedules at every start-up shifts nothing); a new, re-timed or un-paused one
 * starts from the first occurrence after `now`.
 */
export async function saveSchedules(store: Store, inputs: unknown[], now: number = Date.now()): Promise<Schedule[]> {
  const definitions = inputs.map(parseSchedule);
  const existing = new Map((await store.listSchedules()).map((s) => [s.name, s]));
  return store.upsertSchedules({
    schedules: definitions.map((definition) => {
      const known = existing.get(definition.name);
      // Un-pausing starts afresh too: the occurrences of the pause are not "missed runs" to catch up.
      const keep = known !== undefined && sameTiming(known, definition) && !(known.paused && !definition.paused);
      const nextRunAt = keep ? known.nextRunAt : nextOccurrence(definition, now);
      return { ...definition, nextRunAt };
    }),
  });
}

export async function removeSchedules(store: Store, names: string[]): Promise<number> {
  return store.deleteSchedules({ names });
}

export async function listSchedules(store: Store): Promise<Schedule[]> {
  return store.listSchedules();
}
