/**
 * The client's input checks beyond a submitted task (src/schemas.ts has those): ids, names, list
 * options, limits. Every failure is a ConveyorError whose `details.issues` names the field, thrown
 * before the store is touched, so bad input writes nothing.
 */
import { z } from 'zod';
import { describeValue, durationSchema } from '../duration.js';
import { ConveyorError } from '../errors.js';
import { isTaskId } from '../ids.js';
import { QUEUE_NAME_PATTERN, QUEUE_NAME_RULE, TASK_TYPE_PATTERN, TASK_TYPE_RULE } from '../names.js';
import { IDEMPOTENCY_KEY_MAX_LENGTH, validationError, type ValidationIssue } from '../schemas.js';
import { TASK_STATES } from '../types.js';

/** Most items in one call: tasks in a batch, ids in `getMany` or `dead.retry`, schedules in `save`. */
export const MAX_BATCH_SIZE = 1_000;
/** Tasks on a page of `list` when no limit is given, and the most a page may ask for. */
export const DEFAULT_LIST_LIMIT = 50;
export const MAX_LIST_LIMIT = 1_000;
/** Cursors are opaque tokens the store made: a task id (SQLite) or base64url (Redis). */
const CURSOR_PATTERN = /^[A-Za-z0-9_-]{1,4096}$/;

/** An error map: "is required: …" when missing, else what is allowed and what came. */
export function rule(allowed: string) {
  return (iss: { input?: unknown }): string =>
    iss.input === undefined ? `is required: ${allowed}` : `must be ${allowed} (got ${describeValue(iss.input)})`;
}

const TASK_ID_ALLOWED = 'a task id (26 characters of Crockford base32, as submit returns it)';
const STATE_ALLOWED = `one of ${TASK_STATES.map((s) => `"${s}"`).join(', ')}`;
const LIMIT_ALLOWED = `an integer 1–${MAX_LIST_LIMIT}`;
const CURSOR_ALLOWED = 'the `nextCursor` of a previous page';

export const taskIdSchema = z
  .string({ error: rule(TASK_ID_ALLOWED) })
  // Crockford base32 is case-insensitive; ids are stored in upper case.
  .refine((id) => isTaskId(id.toUpperCase()), { error: rule(TASK_ID_ALLOWED) })
  .transform((id) => id.toUpperCase());

export const taskIdsSchema = z
  .array(taskIdSchema, { error: rule(`an array of at most ${MAX_BATCH_SIZE} task ids`) })
  .max(MAX_BATCH_SIZE, { error: `must hold at most ${MAX_BATCH_SIZE} task ids` });

export const queueNameSchema = z.string({ error: rule(`a queue name of ${QUEUE_NAME_RULE}`) }).regex(QUEUE_NAME_PATTERN);
export const scheduleNameSchema = z.string({ error: rule(`a schedule name of ${QUEUE_NAME_RULE}`) }).regex(QUEUE_NAME_PATTERN);
const typeNameSchema = z.string({ error: rule(`a task type of ${TASK_TYPE_RULE}`) }).regex(TASK_TYPE_PATTERN);
const stateSchema = z.enum(TASK_STATES, { error: rule(STATE_ALLOWED) });

/** A page size: an integer, or a string of digits (so query strings and CLI flags pass through). */
const limitSchema = z
  .union([z.number().int(), z.string().regex(/^\d{1,4}$/)], { error: rule(LIMIT_ALLOWED) })
  .transform((value) => Number(value))
  .refine((value) => value >= 1 && value <= MAX_LIST_LIMIT, { error: rule(LIMIT_ALLOWED) });

const cursorSchema = z.string({ error: rule(CURSOR_ALLOWED) }).regex(CURSOR_PATTERN, { error: rule(CURSOR_ALLOWED) });

const KEY_ALLOWED = `an idempotency key of 1–${IDEMPOTENCY_KEY_MAX_LENGTH} characters`;
export const idempotencyKeySchema = z
  .string({ error: rule(KEY_ALLOWED) })
  .min(1, { error: rule(KEY_ALLOWED) })
  .max(IDEMPOTENCY_KEY_MAX_LENGTH, { error: rule(KEY_ALLOWED) });

export const listOptionsSchema = z
  .strictObject({
    queue: queueNameSchema.optional(),
    state: stateSchema.optional(),
    type: typeNameSchema.optional(),
    /** The task holding this idempotency key in `queue` (which is then required): a page of 0 or 1. */
    key: idempotencyKeySchema.optional(),
    limit: limitSchema.default(DEFAULT_LIST_LIMIT),
    cursor: cursorSchema.nullish(),
  })
  .refine((o) => o.key === undefined || o.queue !== undefined, { path: ['queue'], error: 'is required with key: keys are unique per queue' });
export type ListOptions = z.input<typeof listOptionsSchema>;

export const deadListOptionsSchema = z.strictObject({
  queue: queueNameSchema.optional(),
  limit: limitSchema.default(DEFAULT_LIST_LIMIT),
  cursor: cursorSchema.nullish(),
});
export type DeadListOptions = z.input<typeof deadListOptionsSchema>;

export const deadRetryOptionsSchema = z.strictObject({ queue: queueNameSchema.optional(), ids: taskIdsSchema.optional() });
export type DeadRetryOptions = z.input<typeof deadRetryOptionsSchema>;

export const deadPurgeOptionsSchema = z.strictObject({ queue: queueNameSchema.optional() });
export type DeadPurgeOptions = z.input<typeof deadPurgeOptionsSchema>;

export const statsOptionsSchema = z.strictObject({ queue: queueNameSchema.optional() });
export type StatsOptions = z.input<typeof statsOptionsSchema>;

export const waitForOptionsSchema = z.strictObject({
  /** Milliseconds, or a duration string such as "30s". */
  timeoutMs: durationSchema,
  signal: z.instanceof(AbortSignal, { error: rule('an AbortSignal') }).optional(),
});
export type WaitForOptions = z.input<typeof waitForOptionsSchema>;

/**
 * Parses `value` with `schema`; on failure throws CONVEYOR_VALIDATION "<what>: field: message"
 * whose issue paths start with `field` (when the value is one argument, such as an id).
 */
export function parseInput<S extends z.ZodType>(schema: S, value: unknown, what: string, field?: string): z.output<S> {
  const parsed = schema.safeParse(value);
  if (parsed.success) return parsed.data;
  const allowedFields: Record<string, readonly string[]> = schema instanceof z.ZodObject ? { '': Object.keys(schema.shape as object) } : {};
  throw validationError(what, parsed.error, { allowedFields, pathPrefix: field === undefined ? [] : [field] });
}

/** Issues whose paths are re-rooted under `prefix` (`tasks[3]` + `backoff.delay` → `tasks[3].backoff.delay`). */
export function prefixIssues(prefix: string, issues: readonly ValidationIssue[]): ValidationIssue[] {
  return issues.map((issue) => ({
    path: issue.path === '' ? prefix : issue.path.startsWith('[') ? `${prefix}${issue.path}` : `${prefix}.${issue.path}`,
    message: issue.message,
  }));
}

const MESSAGE_ISSUES = 10;

/** A CONVEYOR_VALIDATION error from issues: "what: path: message; path: message". */
export function issuesError(what: string, issues: ValidationIssue[], extra: Record<string, unknown> = {}): ConveyorError {
  const shown = issues.slice(0, MESSAGE_ISSUES).map((i) => (i.path === '' ? i.message : `${i.path}: ${i.message}`));
  const more = issues.length > MESSAGE_ISSUES ? `; and ${issues.length - MESSAGE_ISSUES} more` : '';
  return new ConveyorError('CONVEYOR_VALIDATION', `${what}: ${shown.join('; ')}${more}`, { ...extra, issues });
}

/** The issues of a CONVEYOR_VALIDATION error (one whole-input issue when it carries none). */
export function issuesOf(err: ConveyorError): ValidationIssue[] {
  const issues = err.details.issues;
  return Array.isArray(issues) ? (issues as ValidationIssue[]) : [{ path: '', message: err.message }];
}

export function batchTooLarge(what: string, count: number, field: string): ConveyorError {
  return new ConveyorError(
    'CONVEYOR_BATCH_TOO_LARGE',
    `${field}: ${count} ${what} in one call; at most ${MAX_BATCH_SIZE} are allowed: split them into several calls`,
    { field, count, max: MAX_BATCH_SIZE, issues: [{ path: field, message: `holds ${count} ${what}; at most ${MAX_BATCH_SIZE} are allowed` }] },
  );
}

export function taskNotFound(id: string): ConveyorError {
  return new ConveyorError('CONVEYOR_TASK_NOT_FOUND', `task ${id} not found: no task has this id (it never existed, or retention deleted it)`, {
    id,
  });
}

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const proto: unknown = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}
