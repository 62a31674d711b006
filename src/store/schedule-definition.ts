import type { ScheduleDefinition } from './store.js';

/**
 * The definition fields of a schedule, named one by one: both stores keep exactly these, so a
 * schedule reads back as a Schedule whatever else the object passed in carried.
 */
export function scheduleDefinitionOf(s: ScheduleDefinition): ScheduleDefinition {
  return { name: s.name, cron: s.cron, timezone: s.timezone, everyMs: s.everyMs, task: s.task, missedRuns: s.missedRuns, paused: s.paused };
}
