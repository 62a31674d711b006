import { DEFAULT_BACKOFF } from '../../retry/retry-policy.js';
import type { BackoffKind, BackoffPolicy, ClaimedTask, JsonValue, Task, TaskError, TaskState } from '../../types.js';
import type { NewTask } from '../store.js';

/**
 * How a task is stored: one MessagePack record (a sequence of values, packed by Lua's cmsgpack) per
 * task, in the queue's `tasks` hash. The order below is the record's layout; fields that are
 * usually empty come last, and trailing empty fields are not written at all. A waiting task with a
 * 100-byte payload is about 125 bytes of record; the Lua scripts decode it and hand it to this
 * module as a flat "wire" array `[id, field 1, …, field N]` with null for empty fields.
 *
 * scripts.ts turns RECORD_FIELDS and STATE_CODES into Lua constants (`R_state`, `ST_pending`), so
 * the layout is defined here only.
 */
export const RECORD_FIELDS = [
  'state',
  'type',
  'payload',
  'priority',
  'attempt',
  'maxAttempts',
  'createdAt',
  /** null = createdAt (most tasks are due when submitted) */
  'runAt',
  /** null = DEFAULT_BACKOFF; else `kind,delayMs,maxDelayMs,jitter` */
  'backoff',
  'timeoutMs',
  'deadline',
  'key',
  /** JSON array */
  'dependsOn',
  'startedAt',
  'workerId',
  'leaseToken',
  'leaseExpiresAt',
  /** 1 when a cancel was asked for while processing */
  'cancelRequested',
  'finishedAt',
  /** JSON */
  'result',
  /** JSON TaskError */
  'error',
  /** JSON TaskError[] */
  'errors',
  /** JSON */
  'progress',
] as const;

export type RecordField = (typeof RECORD_FIELDS)[number];

/** One byte per state in every record: the states' names would cost more than the rest of a small task. */
export const STATE_CODES: Record<TaskState, string> = {
  blocked: 'b',
  scheduled: 's',
  pending: 'p',
  processing: 'r',
  completed: 'c',
  dead: 'd',
  cancelled: 'x',
};

export const STATE_BY_CODE = new Map(Object.entries(STATE_CODES).map(([state, code]) => [code, state as TaskState]));
const FIELD_INDEX = Object.fromEntries(RECORD_FIELDS.map((name, i) => [name, i + 1])) as Record<RecordField, number>;

const BACKOFF_KINDS: Record<string, BackoffKind> = { f: 'fixed', e: 'exponential', l: 'linear' };

export function encodeBackoff(policy: BackoffPolicy): string {
  if (
    policy.kind === DEFAULT_BACKOFF.kind &&
    policy.delayMs === DEFAULT_BACKOFF.delayMs &&
    policy.maxDelayMs === DEFAULT_BACKOFF.maxDelayMs &&
    policy.jitter === DEFAULT_BACKOFF.jitter
  ) {
    return '';
  }
  return `${policy.kind[0]},${policy.delayMs},${policy.maxDelayMs},${policy.jitter}`;
}

export function decodeBackoff(encoded: string | null): BackoffPolicy {
  if (!encoded) return { ...DEFAULT_BACKOFF };
  const [kind, delayMs, maxDelayMs, jitter] = encoded.split(',');
  return {
    kind: BACKOFF_KINDS[kind ?? 'e'] ?? 'exponential',
    delayMs: Number(delayMs),
    maxDelayMs: Number(maxDelayMs),
    jitter: Number(jitter),
  };
}

export function stateCode(state: TaskState): string {
  return STATE_CODES[state];
}

/** A task as the scripts reply with it: `[id, field 1, …, field N]`, null for empty fields. */
export type Wire = readonly (string | number | null)[];

function field(wire: Wire, name: RecordField): string | number | null {
  return wire[FIELD_INDEX[name]] ?? null;
}

function num(wire: Wire, name: RecordField): number | null {
  const value = field(wire, name);
  return value === null ? null : Number(value);
}

function str(wire: Wire, name: RecordField): string | null {
  const value = field(wire, name);
  return value === null ? null : String(value);
}

function json<T>(wire: Wire, name: RecordField): T | null {
  const value = str(wire, name);
  return value === null ? null : (JSON.parse(value) as T);
}

/** Lua's cjson writes an empty array as `{}`; these fields are always arrays. */
function jsonArray<T>(wire: Wire, name: RecordField): T[] {
  const parsed = json<T[] | Record<string, never>>(wire, name);
  return Array.isArray(parsed) ? parsed : [];
}

/** Decodes a wire array `[id, …fields]` of a task in `queue`. */
export function decodeTask(queue: string, wire: Wire): Task {
  const state = STATE_BY_CODE.get(String(field(wire, 'state')))!;
  const createdAt = Number(field(wire, 'createdAt'));
  return {
    id: String(wire[0]),
    queue,
    type: String(field(wire, 'type')),
    payload: json<JsonValue>(wire, 'payload'),
    priority: Number(field(wire, 'priority')),
    state,
    attempt: Number(field(wire, 'attempt') ?? 0),
    maxAttempts: Number(field(wire, 'maxAttempts')),
    backoff: decodeBackoff(str(wire, 'backoff')),
    timeoutMs: num(wire, 'timeoutMs'),
    deadline: num(wire, 'deadline'),
    runAt: num(wire, 'runAt') ?? createdAt,
    dependsOn: jsonArray<string>(wire, 'dependsOn'),
    key: str(wire, 'key'),
    result: json<JsonValue>(wire, 'result'),
    error: json<TaskError>(wire, 'error'),
    errors: jsonArray<TaskError>(wire, 'errors'),
    progress: json<JsonValue>(wire, 'progress'),
    createdAt,
    startedAt: num(wire, 'startedAt'),
    finishedAt: num(wire, 'finishedAt'),
    workerId: str(wire, 'workerId'),
    leaseExpiresAt: state === 'processing' ? num(wire, 'leaseExpiresAt') : null,
    cancelRequested: field(wire, 'cancelRequested') === 1,
  };
}

export function decodeClaimedTask(queue: string, wire: Wire): ClaimedTask {
  const task = decodeTask(queue, wire);
  return { ...task, state: 'processing', leaseToken: String(field(wire, 'leaseToken')), leaseExpiresAt: Number(field(wire, 'leaseExpiresAt')) };
}

/** Lua constants for the generated script header. */
export function recordLuaHeader(): string {
  const lines = RECORD_FIELDS.map((name, i) => `local R_${name} = ${i + 1}`);
  lines.push(`local R_COUNT = ${RECORD_FIELDS.length}`);
  for (const [state, code] of Object.entries(STATE_CODES)) lines.push(`local ST_${state} = '${code}'`);
  const names = Object.entries(STATE_CODES).map(([state, code]) => `${code} = '${state}'`);
  lines.push(`local STATE_NAME = { ${names.join(', ')} }`);
  return lines.join('\n');
}

/** A freshly inserted task, completed from what insertTasks.lua reported: state, runAt, createdAt, error, finishedAt. */
export function newTaskAsStored(task: NewTask, reply: (string | number | null)[]): Task {
  const [, , state, runAt, createdAt, error, finishedAt] = reply;
  const lastError = error ? (JSON.parse(String(error)) as TaskError) : null;
  return {
    id: task.id,
    queue: task.queue,
    type: task.type,
    payload: task.payload ?? null,
    priority: task.priority,
    state: STATE_BY_CODE.get(String(state))!,
    attempt: 0,
    maxAttempts: task.maxAttempts,
    backoff: task.backoff,
    timeoutMs: task.timeoutMs,
    deadline: task.deadline,
    runAt: Number(runAt),
    dependsOn: task.dependsOn,
    key: task.key,
    result: null,
    error: lastError,
    errors: lastError ? [lastError] : [],
    progress: null,
    createdAt: Number(createdAt),
    startedAt: null,
    finishedAt: finishedAt === null || finishedAt === undefined ? null : Number(finishedAt),
    workerId: null,
    leaseExpiresAt: null,
    cancelRequested: false,
  };
}
