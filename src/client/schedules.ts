/**
 * Recurring tasks through the client: validated with the coordinator's own rules
 * (src/coordinator/schedules.ts), each bad schedule named by its index.
 */
import { z } from 'zod';
import { ConveyorError, isConveyorError } from '../errors.js';
import { listSchedules, parseSchedule, removeSchedules, saveSchedules, type ScheduleInput } from '../coordinator/schedules.js';
import type { ValidationIssue } from '../schemas.js';
import type { Schedule, Store } from '../store/store.js';
import { batchTooLarge, issuesError, issuesOf, MAX_BATCH_SIZE, parseInput, prefixIssues, rule, scheduleNameSchema } from './validation.js';

const scheduleNamesSchema = z.array(scheduleNameSchema, { error: rule('an array of schedule names') });

export class ClientSchedules {
  readonly #store: Store;

  constructor(store: Store) {
    this.#store = store;
  }

  /** Every schedule, by name. */
  list(): Promise<Schedule[]> {
    return listSchedules(this.#store);
  }

  /** One schedule; CONVEYOR_SCHEDULE_NOT_FOUND when there is none of that name. */
  async get(name: string): Promise<Schedule> {
    const checked = parseInput(scheduleNameSchema, name, 'invalid schedule name', 'name');
    const found = (await listSchedules(this.#store)).find((s) => s.name === checked);
    if (!found) throw new ConveyorError('CONVEYOR_SCHEDULE_NOT_FOUND', `schedule ${JSON.stringify(checked)} not found`, { name: checked });
    return found;
  }

  /**
   * Creates or replaces schedules (one, or an array of at most 1,000 with distinct names); all are
   * validated before any is written. A schedule whose timing did not change keeps its next run.
   * Returns them as stored, in input order.
   */
  async save(inputs: ScheduleInput | readonly ScheduleInput[]): Promise<Schedule[]> {
    const many = Array.isArray(inputs);
    const list: readonly unknown[] = many ? inputs : [inputs];
    if (list.length > MAX_BATCH_SIZE) throw batchTooLarge('schedules', list.length, 'schedules');
    if (list.length === 0) return [];
    const issues: ValidationIssue[] = [];
    const seen = new Map<string, number>();
    list.forEach((input, i) => {
      const at = (found: readonly ValidationIssue[]): readonly ValidationIssue[] => (many ? prefixIssues(`schedules[${i}]`, found) : found);
      try {
        const { name } = parseSchedule(input);
        const earlier = seen.get(name);
        if (earlier !== undefined) issues.push(...at([{ path: 'name', message: `repeats the name of schedules[${earlier}]; names must be distinct` }]));
        seen.set(name, i);
      } catch (err) {
        if (!isConveyorError(err, 'CONVEYOR_VALIDATION')) throw err;
        issues.push(...at(issuesOf(err)));
      }
    });
    if (issues.length > 0) throw issuesError('invalid schedule (nothing was saved)', issues);
    return saveSchedules(this.#store, [...list]);
  }

  /** Deletes schedules by name (one or an array); returns how many existed. */
  async remove(names: string | readonly string[]): Promise<number> {
    const checked = typeof names === 'string' ? [parseInput(scheduleNameSchema, names, 'invalid schedule name', 'name')] : parseInput(scheduleNamesSchema, names, 'invalid schedule names', 'names');
    if (checked.length === 0) return 0;
    return removeSchedules(this.#store, [...new Set(checked)]);
  }
}
