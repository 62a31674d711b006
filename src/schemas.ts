/**
 * The zod schemas for what users send: the one definition the library, the HTTP API and the
 * configuration share, so a field is validated, defaulted and explained the same way everywhere.
 *
 * A schema's output is normalised (milliseconds, epoch times, numeric priorities, a complete
 * `BackoffPolicy`); `toNewTask` turns a parsed submit into the store's `NewTask`. Every issue
 * message says what is allowed and what was received; its path names the field.
 */
import { z } from 'zod';
import { describeValue, durationSchema, MAX_DURATION_MS } from './duration.js';
import { ConveyorError } from './errors.js';
import { isTaskId, newTaskId } from './ids.js';
import { QUEUE_NAME_PATTERN, QUEUE_NAME_RULE, TASK_TYPE_PATTERN, TASK_TYPE_RULE } from './names.js';
import { DEFAULT_BACKOFF, DEFAULT_RETRIES } from './retry/retry-policy.js';
import type { NewTask } from './store/store.js';
import {
  PRIORITY_MAX,
  PRIORITY_MIN,
  PRIORITY_NAMES,
  type BackoffKind,
  type BackoffPolicy,
  type JsonValue,
  type PriorityName,
} from './types.js';

// ---- limits and defaults ------------------------------------------------------------------------

export const DEFAULT_QUEUE = 'default';
export const DEFAULT_PRIORITY: number = PRIORITY_NAMES.normal;
export const MAX_RETRIES = 100;
export const MAX_DEPENDENCIES = 100;
export const IDEMPOTENCY_KEY_MAX_LENGTH = 256;

/** Serialized size limit of a payload: 1 MiB of UTF-8 JSON. */
export const PAYLOAD_MAX_BYTES = 1024 * 1024;
/** Deepest nesting of arrays and objects in a payload (`{"a":{}}` is 2 deep). */
export const PAYLOAD_MAX_DEPTH = 32;
/** Object keys in a payload, counted over every nested object. */
export const PAYLOAD_MAX_KEYS = 10_000;
/** Keys that could reach a prototype when a handler merges the payload into an object. */
export const FORBIDDEN_PAYLOAD_KEYS: readonly string[] = ['__proto__', 'constructor', 'prototype'];

export interface PayloadLimits {
  maxBytes: number;
  maxDepth: number;
  maxKeys: number;
}
export const DEFAULT_PAYLOAD_LIMITS: Readonly<PayloadLimits> = Object.freeze({
  maxBytes: PAYLOAD_MAX_BYTES,
  maxDepth: PAYLOAD_MAX_DEPTH,
  maxKeys: PAYLOAD_MAX_KEYS,
});

/** The largest epoch-millisecond time a JavaScript Date can hold. */
const MAX_EPOCH_MS = 8.64e15;

const SUBMIT_FIELDS = [
  'queue',
  'type',
  'payload',
  'priority',
  'delay',
  'runAt',
  'retries',
  'backoff',
  'timeout',
  'deadline',
  'dependsOn',
  'key',
] as const;
const BACKOFF_FIELDS = ['type', 'delay', 'maxDelay', 'jitter'] as const;
const BACKOFF_KINDS = ['fixed', 'exponential', 'linear'] as const satisfies readonly BackoffKind[];
const PRIORITY_NAME_LIST = Object.keys(PRIORITY_NAMES) as PriorityName[];

/** Allowed fields of each strict object, by path, for "unknown field" messages. */
const ALLOWED_FIELDS: Record<string, readonly string[]> = { '': SUBMIT_FIELDS, backoff: BACKOFF_FIELDS };

// ---- JSON payloads ------------------------------------------------------------------------------

export interface JsonProblem {
  /** Path inside the value, from its root. */
  path: (string | number)[];
  message: string;
}

/**
 * Finds the first reason `value` is not a safe JSON payload: not plain JSON (undefined, functions,
 * symbols, bigints, NaN/Infinity, class instances such as Date or Map, sparse arrays), a
 * `__proto__`/`constructor`/`prototype` key at any depth, or a limit exceeded. Null when it is fine.
 * Results and progress from handlers go through the same check.
 */
export function findJsonProblem(value: unknown, limits: PayloadLimits = DEFAULT_PAYLOAD_LIMITS): JsonProblem | null {
  const state: WalkState = { keys: 0, maxBytes: 0, path: [] };
  const problem = walkJson(value, 0, limits, state);
  if (problem) return problem;
  // The walk bounds the JSON's size from above: under the limit, it need not be serialized.
  if (state.maxBytes <= limits.maxBytes) return null;
  const bytes = Buffer.byteLength(JSON.stringify(value), 'utf8');
  if (bytes > limits.maxBytes) {
    return { path: [], message: `is ${bytes} bytes as JSON; at most ${limits.maxBytes} bytes are allowed` };
  }
  return null;
}

interface WalkState {
  keys: number;
  /** At least the UTF-8 length of the JSON of what was walked so far. */
  maxBytes: number;
  /** Where the walk is: copied into a problem, never allocated per value. */
  path: (string | number)[];
}

/** JSON escapes a UTF-16 unit as at most 6 bytes (`\u001f`), and UTF-8 takes at most 3 for one. */
const MAX_BYTES_PER_UNIT = 6;
/** A JSON number is at most 25 characters (`-0.0000012345678901234567`); with room to spare. */
const MAX_NUMBER_BYTES = 32;

function walkJson(value: unknown, depth: number, limits: PayloadLimits, state: WalkState): JsonProblem | null {
  switch (typeof value) {
    case 'string':
      state.maxBytes += value.length * MAX_BYTES_PER_UNIT + 2;
      return null;
    case 'boolean':
      state.maxBytes += 5;
      return null;
    case 'number':
      state.maxBytes += MAX_NUMBER_BYTES;
      return Number.isFinite(value) ? null : { path: [...state.path], message: `must be JSON: ${value} is not a JSON number` };
    case 'object': {
      if (value === null) {
        state.maxBytes += 4;
        return null;
      }
      const path = state.path;
      if (depth + 1 > limits.maxDepth) {
        return { path: [...path], message: `nests deeper than ${limits.maxDepth} levels of arrays and objects` };
      }
      if (Array.isArray(value)) {
        // Brackets, and a comma after each element.
        state.maxBytes += 2 + value.length;
        for (let i = 0; i < value.length; i++) {
          if (!(i in value)) return { path: [...path, i], message: 'must be JSON: a sparse array has holes' };
          path.push(i);
          const problem = walkJson(value[i], depth + 1, limits, state);
          path.pop();
          if (problem) return problem;
        }
        return null;
      }
      const proto: unknown = Object.getPrototypeOf(value);
      if (proto !== Object.prototype && proto !== null) {
        const name = (value as { constructor?: { name?: unknown } }).constructor?.name;
        const what = typeof name === 'string' && name !== '' ? `a ${name}` : 'a class instance';
        return { path: [...path], message: `must be JSON: ${what} is not a plain object (send plain data, e.g. an ISO string for a date)` };
      }
      state.maxBytes += 2;
      for (const key of Object.keys(value)) {
        if (FORBIDDEN_PAYLOAD_KEYS.includes(key)) {
          return { path: [...path, key], message: `key "${key}" is not allowed (${FORBIDDEN_PAYLOAD_KEYS.join(', ')} are refused at any depth)` };
        }
        state.keys += 1;
        if (state.keys > limits.maxKeys) {
          return { path: [], message: `has more than ${limits.maxKeys} object keys in all` };
        }
        // The quoted key, a colon and a comma.
        state.maxBytes += key.length * MAX_BYTES_PER_UNIT + 4;
        path.push(key);
        const problem = walkJson((value as Record<string, unknown>)[key], depth + 1, limits, state);
        path.pop();
        if (problem) return problem;
      }
      return null;
    }
    default:
      return { path: [...state.path], message: `must be JSON: ${typeof value === 'undefined' ? 'undefined' : `a ${typeof value}`} is not a JSON value` };
  }
}

/** A JSON value field (payload, result): checked by `findJsonProblem`, issues at the exact path. */
export function jsonValueSchema(limits: PayloadLimits = DEFAULT_PAYLOAD_LIMITS) {
  return z.custom<JsonValue>().transform((value, ctx): JsonValue => {
    const problem = findJsonProblem(value, limits);
    if (problem) {
      ctx.addIssue({ code: 'custom', path: problem.path, message: problem.message, input: undefined });
      return z.NEVER;
    }
    return value;
  });
}

// ---- field schemas ------------------------------------------------------------------------------

/** An error map for a field: "is required" when missing, else what is allowed and what came. */
function rule(allowed: string) {
  return (iss: { input?: unknown }): string =>
    iss.input === undefined ? `is required: ${allowed}` : `must be ${allowed} (got ${describeValue(iss.input)})`;
}

const QUEUE_ALLOWED = `a queue name of ${QUEUE_NAME_RULE}`;
const TYPE_ALLOWED = `a task type of ${TASK_TYPE_RULE}`;
const PRIORITY_ALLOWED = `an integer ${PRIORITY_MIN}–${PRIORITY_MAX} (higher runs first) or one of ${PRIORITY_NAME_LIST.map((n) => `"${n}"`).join(', ')}`;
const TIMESTAMP_ALLOWED = 'an ISO 8601 date-time with a timezone (e.g. "2030-01-22T15:04:05Z") or epoch milliseconds';
const RETRIES_ALLOWED = `an integer 0–${MAX_RETRIES}`;
const JITTER_ALLOWED = 'a number from 0 (none) to 1 (±100 %)';
const BACKOFF_KIND_ALLOWED = BACKOFF_KINDS.map((k) => `"${k}"`).join(', ');
const TASK_ID_ALLOWED = 'a task id (26 characters of Crockford base32, as submit returns it)';
const DEPENDS_ON_ALLOWED = `an array of at most ${MAX_DEPENDENCIES} task ids`;
const KEY_ALLOWED = `a string of 1–${IDEMPOTENCY_KEY_MAX_LENGTH} characters`;

const queueSchema = z.string({ error: rule(QUEUE_ALLOWED) }).regex(QUEUE_NAME_PATTERN);
const typeSchema = z.string({ error: rule(TYPE_ALLOWED) }).regex(TASK_TYPE_PATTERN);

const prioritySchema = z
  .union(
    [
      z.number({ error: rule(PRIORITY_ALLOWED) }).int().min(PRIORITY_MIN).max(PRIORITY_MAX),
      z.enum(PRIORITY_NAME_LIST as [PriorityName, ...PriorityName[]], { error: rule(PRIORITY_ALLOWED) }),
    ],
    { error: rule(PRIORITY_ALLOWED) },
  )
  .transform((value): number => (typeof value === 'string' ? PRIORITY_NAMES[value] : value));

/** A point in time: an ISO 8601 date-time with a timezone, or epoch milliseconds. Outputs epoch ms. */
export const timestampSchema = z
  .union(
    [
      z.number({ error: rule(TIMESTAMP_ALLOWED) }).int().min(0).max(MAX_EPOCH_MS),
      z.iso.datetime({ offset: true, error: rule(TIMESTAMP_ALLOWED) }),
    ],
    { error: rule(TIMESTAMP_ALLOWED) },
  )
  .transform((value): number => (typeof value === 'number' ? value : Date.parse(value)));

const retriesSchema = z.number({ error: rule(RETRIES_ALLOWED) }).int().min(0).max(MAX_RETRIES);

const backoffSchema = z
  .strictObject(
    {
      type: z.enum(BACKOFF_KINDS, { error: rule(BACKOFF_KIND_ALLOWED) }).optional(),
      delay: durationSchema.optional(),
      maxDelay: durationSchema.optional(),
      jitter: z.number({ error: rule(JITTER_ALLOWED) }).min(0).max(1).optional(),
    },
    { error: objectRule('an object with any of type, delay, maxDelay, jitter', BACKOFF_FIELDS) },
  )
  .superRefine((b, ctx) => {
    if (b.delay !== undefined && b.maxDelay !== undefined && b.delay > b.maxDelay) {
      ctx.addIssue({
        code: 'custom',
        path: ['maxDelay'],
        input: b.maxDelay,
        message: `must be at least backoff.delay (${b.delay}ms); got ${b.maxDelay}ms`,
      });
    }
  })
  .transform(
    (b): BackoffPolicy => ({
      kind: b.type ?? DEFAULT_BACKOFF.kind,
      delayMs: b.delay ?? DEFAULT_BACKOFF.delayMs,
      // A delay above the default cap, with no cap given, raises the cap: "fixed, 2h" means 2 h.
      maxDelayMs: b.maxDelay ?? Math.max(DEFAULT_BACKOFF.maxDelayMs, b.delay ?? 0),
      jitter: b.jitter ?? DEFAULT_BACKOFF.jitter,
    }),
  );

const dependsOnSchema = z
  .array(
    z
      .string({ error: rule(TASK_ID_ALLOWED) })
      // Crockford base32 is case-insensitive; ids are stored in upper case.
      .refine((id) => isTaskId(id.toUpperCase()), { error: rule(TASK_ID_ALLOWED) })
      .transform((id) => id.toUpperCase()),
    { error: rule(DEPENDS_ON_ALLOWED) },
  )
  .max(MAX_DEPENDENCIES)
  // A repeated id adds nothing: keep the first of each.
  .transform((ids) => [...new Set(ids)]);

const keySchema = z.string({ error: rule(KEY_ALLOWED) }).min(1).max(IDEMPOTENCY_KEY_MAX_LENGTH);

const timeoutSchema = durationSchema.refine((value) => value >= 1, {
  error: (iss) => `must be a positive duration, at least 1ms (got ${describeValue(iss.input)}ms)`,
});

/** Error map of a strict object: names unknown fields and suggests the closest known one. */
function objectRule(allowed: string, fields: readonly string[]) {
  return (iss: { code?: string; input?: unknown; keys?: string[] }): string => {
    if (iss.code === 'unrecognized_keys' && iss.keys) {
      return iss.keys.map((key) => `unknown field "${key}"${suggest(key, fields)}`).join('; ') + `; allowed: ${fields.join(', ')}`;
    }
    return rule(allowed)(iss);
  };
}

// ---- the submit schema --------------------------------------------------------------------------

export interface SubmitTaskSchemaOptions {
  payloadLimits?: Partial<PayloadLimits>;
}

/**
 * The submit schema with its payload limits (configuration may change them; `submitTaskSchema`
 * has the defaults). Fields, as the brief names them:
 * - `queue` (default "default"), `type` (required), `payload` (JSON, default null);
 * - `priority`: 0–10 or low/normal/high/critical (default 5);
 * - `delay` (a duration) or `runAt` (an ISO date-time or epoch ms), not both;
 * - `retries` (0–100, default 3) and `backoff` (`{ type, delay, maxDelay, jitter }`, each part
 *   defaulting to DEFAULT_BACKOFF);
 * - `timeout` (a duration per attempt), `deadline` (an ISO date-time or epoch ms);
 * - `dependsOn` (task ids, at most 100; case-insensitive), `key` (an idempotency key).
 * `delay`, `runAt`, `timeout`, `deadline` and `key` also accept null for "not set".
 * Unknown fields are errors.
 */
export function createSubmitTaskSchema(options: SubmitTaskSchemaOptions = {}) {
  const limits: PayloadLimits = { ...DEFAULT_PAYLOAD_LIMITS, ...options.payloadLimits };
  return z
    .strictObject(
      {
        queue: queueSchema.default(DEFAULT_QUEUE),
        type: typeSchema,
        payload: jsonValueSchema(limits).optional(),
        priority: prioritySchema.optional(),
        delay: durationSchema.nullish(),
        runAt: timestampSchema.nullish(),
        retries: retriesSchema.default(DEFAULT_RETRIES),
        backoff: backoffSchema.optional(),
        timeout: timeoutSchema.nullish(),
        deadline: timestampSchema.nullish(),
        dependsOn: dependsOnSchema.optional(),
        key: keySchema.nullish(),
      },
      { error: objectRule('an object with at least a "type" field', SUBMIT_FIELDS) },
    )
    .superRefine((t, ctx) => {
      if (t.delay != null && t.runAt != null) {
        ctx.addIssue({
          code: 'custom',
          path: ['runAt'],
          input: undefined,
          message: 'cannot be combined with delay: give either delay (from now) or runAt (a point in time)',
        });
      }
    })
    .transform((t) => ({
      queue: t.queue,
      type: t.type,
      payload: t.payload ?? null,
      priority: t.priority ?? DEFAULT_PRIORITY,
      delayMs: t.delay ?? null,
      runAt: t.runAt ?? null,
      retries: t.retries,
      backoff: t.backoff ?? { ...DEFAULT_BACKOFF },
      timeoutMs: t.timeout ?? null,
      deadline: t.deadline ?? null,
      dependsOn: t.dependsOn ?? [],
      key: t.key ?? null,
    }));
}

export const submitTaskSchema = createSubmitTaskSchema();
export type SubmitTaskSchema = typeof submitTaskSchema;

/** What a caller writes: `{ type: 'email', payload: {...}, priority: 'high', delay: '5m' }`. */
export type SubmitTaskOptions = z.input<typeof submitTaskSchema>;
/** A submit after parsing: defaults applied, durations in ms, times in epoch ms, priority a number. */
export type SubmitTaskInput = z.output<typeof submitTaskSchema>;

/**
 * A parsed submit as the store's NewTask: a fresh id, `maxAttempts = retries + 1`, and either an
 * absolute `runAt` or a `delayMs` that the store adds to its own clock (the brief: due times are
 * judged on one clock, the store's).
 */
export function toNewTask(input: SubmitTaskInput): NewTask {
  const task: NewTask = {
    id: newTaskId(),
    queue: input.queue,
    type: input.type,
    payload: input.payload,
    priority: input.priority,
    maxAttempts: input.retries + 1,
    backoff: { ...input.backoff },
    timeoutMs: input.timeoutMs,
    deadline: input.deadline,
    dependsOn: [...input.dependsOn],
    key: input.key,
  };
  if (input.runAt !== null && input.runAt !== undefined) task.runAt = input.runAt;
  else if (input.delayMs) task.delayMs = input.delayMs;
  return task;
}

/**
 * Validates one submitted task and turns it into a NewTask.
 *
 * @throws ConveyorError CONVEYOR_VALIDATION whose message names each bad field and what it allows,
 *   with `details.issues: [{ path, message }]` (path like "backoff.delay" or "dependsOn[2]").
 */
export function parseSubmitTask(input: unknown, now: number, schema: SubmitTaskSchema = submitTaskSchema): NewTask {
  const parsed = schema.safeParse(input);
  if (!parsed.success) throw validationError('invalid task', parsed.error);
  const task = toNewTask(parsed.data);
  // A deadline at or before an explicit due time can never be met. Without a delay or runAt the
  // task is due now, and a deadline already past is the store's to judge on its own clock (the
  // task dies with `deadline_exceeded`), so that case is not refused here.
  const dueAt = task.runAt ?? (task.delayMs !== undefined ? now + task.delayMs : undefined);
  if (task.deadline !== null && dueAt !== undefined && task.deadline <= dueAt) {
    const issue: ValidationIssue = {
      path: 'deadline',
      message: `must be after the task is due (${new Date(dueAt).toISOString()}); got ${new Date(task.deadline).toISOString()}`,
    };
    throw new ConveyorError('CONVEYOR_VALIDATION', `invalid task: ${issue.path}: ${issue.message}`, { issues: [issue] });
  }
  return task;
}

// ---- the common submit, without zod ------------------------------------------------------------

const SUBMIT_FIELD_SET: ReadonlySet<string> = new Set(SUBMIT_FIELDS);

/** What a client fills in when a task leaves the field out (already validated). */
export interface QuickSubmitDefaults {
  retries?: number;
  /** The client's default backoff, parsed. */
  backoff?: BackoffPolicy;
}

/**
 * The common submit (a plain object with a valid `type`, maybe `queue`, `payload`, `priority`,
 * `retries`, `key`, a numeric `delay` or `timeout`, and null for the fields it does not set),
 * checked by hand: zod's safeParse was most of a submit's cost. Returns exactly what
 * `parseSubmitTask` returns for such an input, and undefined for anything else, valid or not
 * (string durations, runAt, deadline, backoff, dependsOn, any bad field): the caller then runs
 * `parseSubmitTask`, so every error is zod's, word for word.
 */
export function quickSubmitTask(input: unknown, limits: PayloadLimits, defaults: QuickSubmitDefaults = {}): NewTask | undefined {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) return undefined;
  const proto: unknown = Object.getPrototypeOf(input);
  if (proto !== Object.prototype && proto !== null) return undefined;
  for (const key in input) if (!SUBMIT_FIELD_SET.has(key)) return undefined;
  const t = input as Record<string, unknown>;

  const type = t.type;
  if (typeof type !== 'string' || !TASK_TYPE_PATTERN.test(type)) return undefined;
  const queue = t.queue === undefined ? DEFAULT_QUEUE : t.queue;
  if (typeof queue !== 'string' || !QUEUE_NAME_PATTERN.test(queue)) return undefined;

  let priority = t.priority;
  if (priority === undefined) priority = DEFAULT_PRIORITY;
  else if (typeof priority === 'string') {
    if (!Object.hasOwn(PRIORITY_NAMES, priority)) return undefined;
    priority = PRIORITY_NAMES[priority as PriorityName];
  } else if (!isIntegerIn(priority, PRIORITY_MIN, PRIORITY_MAX)) return undefined;

  let retries = t.retries;
  if (retries === undefined) retries = defaults.retries ?? DEFAULT_RETRIES;
  if (!isIntegerIn(retries, 0, MAX_RETRIES)) return undefined;

  const delay = t.delay;
  if (delay != null && !isIntegerIn(delay, 0, MAX_DURATION_MS)) return undefined;
  const timeout = t.timeout;
  if (timeout != null && !isIntegerIn(timeout, 1, MAX_DURATION_MS)) return undefined;

  const key = t.key;
  if (key != null && (typeof key !== 'string' || key.length < 1 || key.length > IDEMPOTENCY_KEY_MAX_LENGTH)) return undefined;

  // The fields the slow path reads and transforms: taken only when they do not set anything.
  if (t.runAt != null || t.deadline != null || t.backoff !== undefined || t.dependsOn !== undefined) return undefined;

  let payload = t.payload;
  if (payload === undefined) payload = null;
  else if (payload !== null && findJsonProblem(payload, limits) !== null) return undefined;

  const task: NewTask = {
    id: newTaskId(),
    queue,
    type,
    payload: payload as JsonValue,
    priority: priority as number,
    maxAttempts: (retries as number) + 1,
    backoff: { ...(defaults.backoff ?? DEFAULT_BACKOFF) },
    timeoutMs: (timeout as number | null | undefined) ?? null,
    deadline: null,
    dependsOn: [],
    key: (key as string | null | undefined) ?? null,
  };
  if (delay) task.delayMs = delay as number;
  return task;
}

function isIntegerIn(value: unknown, min: number, max: number): value is number {
  return typeof value === 'number' && Number.isInteger(value) && value >= min && value <= max;
}

// ---- errors -------------------------------------------------------------------------------------

export interface ValidationIssue {
  /** The field, as "queue", "backoff.delay", "dependsOn[2]", "payload.user.name"; "" for the whole input. */
  path: string;
  message: string;
}

/** Formats a zod path: `backoff.delay`, `dependsOn[2]`, `payload["a b"]`. */
export function formatIssuePath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const part of path) {
    if (typeof part === 'number') out += `[${part}]`;
    else if (typeof part === 'string' && /^[A-Za-z_$][\w$]*$/.test(part)) out += out === '' ? part : `.${part}`;
    else out += `[${JSON.stringify(String(part))}]`;
  }
  return out;
}

/** Zod issues as ValidationIssues: one per field, an unknown field under its own name. */
export interface IssueOptions {
  /** Known fields by object path ('' = the root), for "unknown field … allowed: …" messages. Default: a submitted task's. */
  allowedFields?: Record<string, readonly string[]>;
  /** Where the validated value sits in a larger input (`task` for a schedule's template). */
  pathPrefix?: (string | number)[];
}

export function toValidationIssues(error: z.ZodError, options: IssueOptions = {}): ValidationIssue[] {
  const allowed = options.allowedFields ?? ALLOWED_FIELDS;
  const prefix = options.pathPrefix ?? [];
  const issues: ValidationIssue[] = [];
  for (const issue of error.issues) {
    if (issue.code === 'unrecognized_keys') {
      const fields = allowed[formatIssuePath(issue.path)];
      for (const key of issue.keys) {
        issues.push({
          path: formatIssuePath([...prefix, ...issue.path, key]),
          message: fields ? `unknown field${suggest(key, fields)}; allowed: ${fields.join(', ')}` : 'unknown field',
        });
      }
    } else {
      issues.push({ path: formatIssuePath([...prefix, ...issue.path]), message: issue.message });
    }
  }
  return issues;
}

const MESSAGE_ISSUES = 10;

/** A CONVEYOR_VALIDATION error from zod issues: "what: path: message; path: message". */
export function validationError(what: string, error: z.ZodError, options: IssueOptions = {}): ConveyorError {
  const issues = toValidationIssues(error, options);
  const shown = issues.slice(0, MESSAGE_ISSUES).map((i) => (i.path === '' ? i.message : `${i.path}: ${i.message}`));
  const more = issues.length > MESSAGE_ISSUES ? `; and ${issues.length - MESSAGE_ISSUES} more` : '';
  return new ConveyorError('CONVEYOR_VALIDATION', `${what}: ${shown.join('; ')}${more}`, { issues });
}

/** ` (did you mean "retries"?)` when a known field is close to `key`, else ''. */
function suggest(key: string, fields: readonly string[]): string {
  const norm = (s: string) => s.toLowerCase().replace(/[_-]/g, '');
  let best: string | undefined;
  // Up to two edits, three for longer names ("retry" → "retries"); ties go to the longer common prefix.
  let bestDistance = key.length >= 5 ? 4 : 3;
  let bestPrefix = -1;
  for (const field of fields) {
    const distance = norm(field) === norm(key) ? 0 : levenshtein(key.toLowerCase(), field.toLowerCase());
    const prefix = commonPrefix(key.toLowerCase(), field.toLowerCase());
    if (distance < bestDistance || (distance === bestDistance && best !== undefined && prefix > bestPrefix)) {
      best = field;
      bestDistance = distance;
      bestPrefix = prefix;
    }
  }
  return best === undefined ? '' : ` (did you mean "${best}"?)`;
}

function commonPrefix(a: string, b: string): number {
  let i = 0;
  while (i < a.length && i < b.length && a[i] === b[i]) i++;
  return i;
}

function levenshtein(a: string, b: string): number {
  if (Math.abs(a.length - b.length) > 3 || a.length > 64 || b.length > 64) return 4;
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) {
      row[j] = Math.min((prev[j] ?? 0) + 1, (row[j - 1] ?? 0) + 1, (prev[j - 1] ?? 0) + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    prev = row;
  }
  return prev[b.length] ?? 0;
}
