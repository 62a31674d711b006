import type { Redis } from 'ioredis';
import { assertScheduleName } from '../../names.js';
import type { AdvanceScheduleParams, Schedule, UpsertSchedulesParams } from '../store.js';
import { runScript } from './scripts.js';
import { scheduleDefinitionOf } from '../schedule-definition.js';

/**
 * Recurring-task schedules on Redis: one hash (untagged: single-key commands and single-key scripts
 * only), schedule name → JSON of its Schedule.
 *
 * Each value opens with the schedule's state in a fixed order,
 * `{"lastRunAt":…,"nextRunAt":…,"createdAt":…,"updatedAt":…,` followed by the definition as this
 * module encoded it, so the scripts (upsertSchedules, advanceSchedule) keep and compare the state as
 * text and never decode and re-encode the task template (cjson would turn `[]` into `{}` and round
 * numbers to 14 digits). Times are written as JSON numbers by `encodeTime` alone, so two equal times
 * are two equal strings, which is what the compare-and-set of advanceSchedule compares.
 */
export class ScheduleRegistry {
  constructor(
    private readonly redis: Redis,
    private readonly key: string,
  ) {}

  /** One script call for the whole batch: atomic, and every name is checked before it runs. */
  async upsert(p: UpsertSchedulesParams): Promise<Schedule[]> {
    for (const schedule of p.schedules) assertScheduleName(schedule.name);
    if (p.schedules.length === 0) return [];
    const args: (string | number)[] = [p.now ?? ''];
    for (const s of p.schedules) {
      const definition = JSON.stringify(scheduleDefinitionOf(s));
      args.push(s.name, encodeTime(s.nextRunAt), definition.slice(1));
    }
    const stored = (await runScript(this.redis, 'upsertSchedules', [this.key], args)) as string[];
    return stored.map(decodeSchedule);
  }

  /** Returns how many of the names existed; unknown names are ignored. */
  async delete(names: string[]): Promise<number> {
    names.forEach(assertScheduleName);
    if (names.length === 0) return 0;
    return this.redis.hdel(this.key, ...names);
  }

  /** Every schedule, by name. */
  async list(): Promise<Schedule[]> {
    const entries = await this.redis.hgetall(this.key);
    return Object.keys(entries)
      .sort()
      .map((name) => decodeSchedule(entries[name]!));
  }

  /** Compare-and-set on `nextRunAt`; false for an unknown name. */
  async advance(p: AdvanceScheduleParams): Promise<boolean> {
    assertScheduleName(p.name);
    const reply = await runScript(
      this.redis,
      'advanceSchedule',
      [this.key],
      [p.now ?? '', p.name, encodeTime(p.expectedNextRunAt), encodeTime(p.lastRunAt), encodeTime(p.nextRunAt)],
    );
    return Number(reply) === 1;
  }
}

/** The one way a time reaches a stored schedule: a JSON number, or `null`. */
function encodeTime(time: number | null): string {
  return time === null ? 'null' : JSON.stringify(time);
}

function decodeSchedule(json: string): Schedule {
  const s = JSON.parse(json) as Schedule;
  return {
    ...scheduleDefinitionOf(s),
    lastRunAt: s.lastRunAt,
    nextRunAt: s.nextRunAt,
    createdAt: s.createdAt,
    updatedAt: s.updatedAt,
  };
}
