/**
 * Submitting: a client's defaults applied, each input validated into a store `NewTask` before
 * anything is written, and the store's refusals turned into errors that name the field.
 */
import { z } from 'zod';
import { ConveyorError, isConveyorError } from '../errors.js';
import {
  createSubmitTaskSchema,
  DEFAULT_PAYLOAD_LIMITS,
  parseSubmitTask,
  validationError,
  type PayloadLimits,
  type SubmitTaskOptions,
  type SubmitTaskSchema,
  type ValidationIssue,
} from '../schemas.js';
import type { NewTask, Store } from '../store/store.js';
import type { Task } from '../types.js';
import { batchTooLarge, issuesError, issuesOf, isPlainObject, MAX_BATCH_SIZE, prefixIssues } from './validation.js';

/** What a client applies to each task that leaves the field out. */
export interface ClientDefaults {
  /** Retries after the first attempt (0–100); built-in default 3. */
  retries?: number;
  /**
   * The retry backoff (`{ type, delay, maxDelay, jitter }`, as a task gives it). A task's own
   * `backoff` replaces it as a whole; parts a backoff leaves out take the built-in defaults.
   */
  backoff?: SubmitTaskOptions['backoff'];
}

export interface SubmitResult {
  task: Task;
  /** False when a task with the same (queue, key) existed: it is the one returned. */
  created: boolean;
}

const positiveInt = z.number().int().min(1);
const payloadLimitsSchema = z.strictObject({ maxBytes: positiveInt.optional(), maxDepth: positiveInt.optional(), maxKeys: positiveInt.optional() });

/** Validates a client's defaults and payload limits and builds the submit schema they imply. */
export class Submitter {
  readonly #store: Store;
  readonly #schema: SubmitTaskSchema;
  readonly #defaults: ClientDefaults;
  readonly payloadLimits: Readonly<PayloadLimits>;

  constructor(store: Store, defaults: ClientDefaults = {}, payloadLimits: Partial<PayloadLimits> = {}) {
    const limits = payloadLimitsSchema.safeParse(payloadLimits);
    if (!limits.success) {
      throw validationError('invalid client options', limits.error, {
        pathPrefix: ['payloadLimits'],
        allowedFields: { '': Object.keys(payloadLimitsSchema.shape) },
      });
    }
    this.payloadLimits = Object.freeze({ ...DEFAULT_PAYLOAD_LIMITS, ...limits.data });
    this.#schema = createSubmitTaskSchema({ payloadLimits: this.payloadLimits });
    this.#store = store;
    this.#defaults = checkDefaults(defaults, this.#schema);
  }

  /** One task: a repeated key returns the existing task with `created: false`. */
  async submit(input: unknown): Promise<SubmitResult> {
    const task = this.#prepare(input, Date.now());
    const [item] = await this.#insert([task], [input], () => '');
    return item!;
  }

  /** All or nothing: every input is validated before one insert; bad items are named by index. */
  async submitBatch(inputs: unknown): Promise<SubmitResult[]> {
    if (!Array.isArray(inputs)) {
      throw issuesError('invalid batch', [{ path: 'tasks', message: `must be an array of tasks (at most ${MAX_BATCH_SIZE})` }]);
    }
    if (inputs.length > MAX_BATCH_SIZE) throw batchTooLarge('tasks', inputs.length, 'tasks');
    if (inputs.length === 0) return [];
    const now = Date.now();
    const issues: ValidationIssue[] = [];
    const tasks: NewTask[] = [];
    inputs.forEach((input: unknown, i) => {
      try {
        tasks.push(this.#prepare(input, now));
      } catch (err) {
        if (!isConveyorError(err, 'CONVEYOR_VALIDATION')) throw err;
        issues.push(...prefixIssues(`tasks[${i}]`, issuesOf(err)));
      }
    });
    if (issues.length > 0) throw issuesError(`invalid batch (nothing was submitted)`, issues);
    return this.#insert(tasks, inputs, (i) => `tasks[${i}]`);
  }

  #prepare(input: unknown, now: number): NewTask {
    const task = parseSubmitTask(this.#withDefaults(input), now, this.#schema);
    // A deadline that has passed can never be met: refused here rather than inserted to die at
    // once. Judged on this process's clock (parseSubmitTask leaves it to the store's).
    if (task.deadline !== null && task.deadline <= now) {
      const issue: ValidationIssue = { path: 'deadline', message: `is in the past (${new Date(task.deadline).toISOString()}); give a time after now` };
      throw issuesError('invalid task', [issue]);
    }
    return task;
  }

  #withDefaults(input: unknown): unknown {
    if (!isPlainObject(input)) return input;
    const out: Record<string, unknown> = { ...input };
    if (out.retries === undefined && this.#defaults.retries !== undefined) out.retries = this.#defaults.retries;
    if (out.backoff === undefined && this.#defaults.backoff !== undefined) out.backoff = this.#defaults.backoff;
    return out;
  }

  /** Inserts, turning an unknown dependency into an error naming `dependsOn[j]` of the input. */
  async #insert(tasks: NewTask[], inputs: readonly unknown[], prefix: (index: number) => string): Promise<SubmitResult[]> {
    try {
      const { items } = await this.#store.insertTasks({ tasks });
      return items.map(({ task, created }) => ({ task, created }));
    } catch (err) {
      if (isConveyorError(err, 'CONVEYOR_DEPENDENCY_NOT_FOUND')) throw dependencyError(err, tasks, inputs, prefix);
      throw err;
    }
  }
}

function dependencyError(err: ConveyorError, tasks: NewTask[], inputs: readonly unknown[], prefix: (index: number) => string): ConveyorError {
  const index = tasks.findIndex((task) => task.id === err.details.taskId);
  const missing = Array.isArray(err.details.missing) ? (err.details.missing as string[]) : [];
  if (index === -1 || missing.length === 0) return err;
  const given = (inputs[index] as { dependsOn?: unknown }).dependsOn;
  const list = Array.isArray(given) ? given.map((id) => String(id).toUpperCase()) : [];
  const base = prefix(index);
  const issues = missing.map((id) => {
    const at = Math.max(0, list.indexOf(id));
    return { path: `${base === '' ? '' : `${base}.`}dependsOn[${at}]`, message: `task ${id} does not exist: a dependency must exist before its dependents are submitted` };
  });
  const shown = issues.map((i) => `${i.path}: ${i.message}`).join('; ');
  return new ConveyorError('CONVEYOR_DEPENDENCY_NOT_FOUND', `invalid task: ${shown} (nothing was submitted)`, { missing, issues });
}

/** Checks the defaults as a task would be checked, naming `defaults.retries`, `defaults.backoff.delay`. */
function checkDefaults(defaults: unknown, schema: SubmitTaskSchema): ClientDefaults {
  if (!isPlainObject(defaults)) throw issuesError('invalid client options', [{ path: 'defaults', message: 'must be an object with retries and/or backoff' }]);
  const unknown = Object.keys(defaults).filter((key) => key !== 'retries' && key !== 'backoff');
  if (unknown.length > 0) {
    throw issuesError(
      'invalid client options',
      unknown.map((key) => ({ path: `defaults.${key}`, message: 'unknown field; allowed: retries, backoff' })),
    );
  }
  const probe: Record<string, unknown> = { type: 'defaults' };
  if (defaults.retries !== undefined) probe.retries = defaults.retries;
  if (defaults.backoff !== undefined) probe.backoff = defaults.backoff;
  const parsed = schema.safeParse(probe);
  if (!parsed.success) throw validationError('invalid client options', parsed.error, { pathPrefix: ['defaults'] });
  return defaults as ClientDefaults;
}
