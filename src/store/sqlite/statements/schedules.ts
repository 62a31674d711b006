import { assertScheduleName } from '../../../names.js';
import type { AdvanceScheduleParams, Schedule, ScheduleDefinition, UpsertSchedulesParams } from '../../store.js';
import { prepared, type Db } from './prepared.js';
import { scheduleDefinitionOf } from '../../schedule-definition.js';

/**
 * Recurring-task schedules: one row per schedule, the definition as JSON in `definition`, the
 * scheduler's state (`next_run_at`, `last_run_at`) and the timestamps in columns of their own.
 */

/** The part of a ScheduleDefinition kept as JSON in `definition` (`name` is the key column). */
type StoredDefinition = Omit<ScheduleDefinition, 'name'>;

interface ScheduleRow {
  name: string;
  next_run_at: number | null;
  last_run_at: number | null;
  created_at: number;
  updated_at: number;
  definition: string;
}

const COLUMNS = 'name, next_run_at, last_run_at, created_at, updated_at, definition';

function toSchedule(row: ScheduleRow): Schedule {
  const d = JSON.parse(row.definition) as StoredDefinition;
  return {
    ...scheduleDefinitionOf({ ...d, name: row.name }),
    lastRunAt: row.last_run_at,
    nextRunAt: row.next_run_at,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

/**
 * Creates or replaces each schedule, in input order (a name given twice: the later one wins). A
 * known name gets the new definition and `nextRunAt` and keeps `lastRunAt` and `createdAt`. Every
 * name is checked before anything is written.
 */
export function upsertSchedules(db: Db, p: UpsertSchedulesParams): Schedule[] {
  for (const schedule of p.schedules) assertScheduleName(schedule.name);
  const now = p.now ?? Date.now();
  const upsert = prepared<{ name: string; nextRunAt: number | null; now: number; definition: string }, ScheduleRow>(
    db,
    `INSERT INTO schedules (name, next_run_at, last_run_at, created_at, updated_at, definition)
     VALUES (@name, @nextRunAt, NULL, @now, @now, @definition)
     ON CONFLICT (name) DO UPDATE SET
       next_run_at = excluded.next_run_at, updated_at = excluded.updated_at, definition = excluded.definition
     RETURNING ${COLUMNS}`,
  );
  return p.schedules.map((s) => {
    const { name: _name, ...definition } = scheduleDefinitionOf(s);
    return toSchedule(upsert.get({ name: s.name, nextRunAt: s.nextRunAt, now, definition: JSON.stringify(definition) })!);
  });
}

/** Returns how many of the names existed; unknown names are ignored. */
export function deleteSchedules(db: Db, p: { names: string[] }): number {
  p.names.forEach(assertScheduleName);
  const remove = prepared<[string]>(db, 'DELETE FROM schedules WHERE name = ?');
  let deleted = 0;
  for (const name of p.names) deleted += remove.run(name).changes;
  return deleted;
}

/** Every schedule, by name. */
export function listSchedules(db: Db): Schedule[] {
  return prepared<[], ScheduleRow>(db, `SELECT ${COLUMNS} FROM schedules ORDER BY name`).all().map(toSchedule);
}

/** Compare-and-set on `next_run_at` (`IS`, so null matches null); false for an unknown name. */
export function advanceSchedule(db: Db, p: AdvanceScheduleParams): boolean {
  assertScheduleName(p.name);
  const now = p.now ?? Date.now();
  return (
    prepared<{ name: string; expected: number | null; lastRunAt: number | null; nextRunAt: number | null; now: number }>(
      db,
      `UPDATE schedules SET last_run_at = @lastRunAt, next_run_at = @nextRunAt, updated_at = @now
       WHERE name = @name AND next_run_at IS @expected`,
    ).run({ name: p.name, expected: p.expectedNextRunAt, lastRunAt: p.lastRunAt, nextRunAt: p.nextRunAt, now }).changes === 1
  );
}
