import { Packr, Unpackr } from 'msgpackr';
import { DEFAULT_BACKOFF } from '../../retry/retry-policy.js';
import type { BackoffKind, BackoffPolicy, ClaimedTask, JsonValue, Task, TaskError, TaskState, TraceCarrier } from '../../types.js';
import type { NewTask } from '../store.js';

/**
 * How a task is stored: one MessagePack record (a sequence of values, packed by Lua's cmsgpack) per
 * task, in the queue's `tasks` hash. The order below is the record's layout.
 *
 * The first RECORD_HEAD_LENGTH fields, the head, are always written, empty ones as a one-byte nil:
 * the hot paths (insert, claim, complete) rewrite a record by splicing bytes in its head instead of
 * unpacking and repacking it (lib/fast.lua), which is where most of Redis' time went. After the
 * head, fields that are usually empty come last, and trailing empty fields are not written. A
 * waiting task with a 100-byte payload is about 135 bytes of record.
 *
 * Scripts reply with a task as `[id, packed record]` and this module unpacks it (msgpackr): Redis
 * neither re-encodes the record nor sends a reply element per field. A new task due now is packed
 * here, from `deadline` on (packTaskTail); the script puts the head in front.
 *
 * scripts.ts turns RECORD_FIELDS and STATE_CODES into Lua constants (`R_state`, `ST_pending`), so
 * the layout is defined here only.
 */
export const RECORD_FIELDS = [
  // ---- the head: fixed order, always written
  'state',
  'attempt',
  'leaseToken',
  'workerId',
  'leaseExpiresAt',
  'startedAt',
  'finishedAt',
  /** JSON */
  'result',
  /** 1 while other tasks wait on this one (its dependents set exists), so finishing a task without
   * dependents costs no set lookup */
  'hasDependents',
  'createdAt',
  'deadline',
  // ---- the rest
  'type',
  /** JSON */
  'payload',
  'priority',
  'maxAttempts',
  /** null = createdAt (most tasks are due when submitted) */
  'runAt',
  /** null = DEFAULT_BACKOFF; else `kind,delayMs,maxDelayMs,jitter` */
  'backoff',
  'timeoutMs',
  'key',
  /** JSON array */
  'dependsOn',
  /** 1 when a cancel was asked for while processing */
  'cancelRequested',
  /** JSON TaskError */
  'error',
  /** JSON TaskError[] */
  'errors',
  /** JSON */
  'progress',
  /** JSON object: the submitter's W3C trace context (absent for most tasks) */
  'traceContext',
] as const;

/** Fields `state` … `deadline`: written in full in every record. */
export const RECORD_HEAD_LENGTH = RECORD_FIELDS.indexOf('deadline') + 1;

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
const FIELD_INDEX = Object.fromEntries(RECORD_FIELDS.map((name, i) => [name, i])) as Record<RecordField, number>;

/** cmsgpack writes epoch milliseconds as 64-bit integers: read them as numbers, not BigInt. */
const unpackr = new Unpackr({ int64AsType: 'number', mapsAsObjects: true, useRecords: false });
/** Plain MessagePack that Lua's cmsgpack reads: no records extension, no float32. */
const packr = new Packr({ useRecords: false, useFloat32: 0, variableMapSize: true });

/**
 * Whether insertTasks.lua can take a task on its fast path: the record from `deadline` on is
 * packed here, and the script only puts the head (`pending`, attempt 0, createdAt = its clock) in
 * front. Tasks with an idempotency key, dependencies or a start time go the general way.
 */
export function isPlainNewTask(task: NewTask): boolean {
  return task.key === null && task.dependsOn.length === 0 && task.runAt === undefined && !task.delayMs && task.traceContext === undefined;
}

/** The packed fields `deadline` … of a plain new task (see isPlainNewTask), trailing nils left out. */
export function packTaskTail(task: NewTask): Buffer {
  const values: (string | number | null)[] = [
    task.deadline,
    task.type,
    JSON.stringify(task.payload ?? null),
    task.priority,
    task.maxAttempts,
    null, // runAt: due at createdAt
    encodeBackoff(task.backoff) || null,
    task.timeoutMs,
  ];
  let n = values.length;
  while (n > 1 && values[n - 1] === null) n--;
  values.length = n;
  // One pack call: an array of fewer than 16 values is a one-byte header and then exactly the
  // sequence of values the record wants.
  return packr.pack(values).subarray(1);
}

/** Ids the client makes (ids.ts) are 26 characters; the batch form below relies on it. */
const ID_LENGTH = 26;

/** Whether a task can go in a packed batch (packPlainBatch): plain, no deadline, a 26-character id. */
export function fitsPlainBatch(task: NewTask): boolean {
  return isPlainNewTask(task) && task.deadline === null && task.id.length === ID_LENGTH && /^[0-9A-Za-z]+$/.test(task.id);
}

/**
 * Plain tasks as one binary argument, so that neither the client nor Redis handle five arguments
 * per task: per task its id (26 bytes), its priority (1 byte), the length of its tail (4 bytes, big
 * endian) and the tail (packTaskTail). insertTasks.lua reads it back with string.sub.
 */
export function packPlainBatch(tasks: readonly NewTask[]): Buffer {
  const tails = tasks.map(packTaskTail);
  let size = 0;
  for (const tail of tails) size += ID_LENGTH + 5 + tail.length;
  const blob = Buffer.allocUnsafe(size);
  let at = 0;
  tasks.forEach((task, i) => {
    const tail = tails[i]!;
    at += blob.write(task.id, at, ID_LENGTH, 'latin1');
    blob[at++] = task.priority;
    blob.writeUInt32BE(tail.length, at);
    at += 4;
    at += tail.copy(blob, at);
  });
  return blob;
}

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

/** A completion for packCompletions: the result already JSON ('' for null). */
export interface Completion {
  id: string;
  token: string;
  result: string;
}

/** Whether a completion fits packCompletions: a 26-character id and a token of at most 255 bytes. */
export function fitsCompletions(id: string, token: string): boolean {
  return id.length === ID_LENGTH && token.length <= 255 && /^[0-9A-Za-z]+$/.test(id) && Buffer.byteLength(token) === token.length;
}

/**
 * Completions as one binary argument of finishTasks.lua (as packPlainBatch does for inserts): per
 * item its id (26 bytes), token length (1 byte), token, result length (4 bytes, big endian), result.
 */
export function packCompletions(items: readonly Completion[]): Buffer {
  let size = 0;
  const results = items.map((item) => {
    const result = item.result === '' ? null : Buffer.from(item.result);
    size += ID_LENGTH + 1 + item.token.length + 4 + (result?.length ?? 0);
    return result;
  });
  const blob = Buffer.allocUnsafe(size);
  let at = 0;
  items.forEach((item, i) => {
    at += blob.write(item.id, at, ID_LENGTH, 'latin1');
    blob[at++] = item.token.length;
    at += blob.write(item.token, at, 'latin1');
    const result = results[i];
    blob.writeUInt32BE(result?.length ?? 0, at);
    at += 4;
    if (result) at += result.copy(blob, at);
  });
  return blob;
}

/** A task as the scripts reply with it: its id and its packed record (Buffers with ioredis' Buffer replies). */
export type Wire = readonly [string | Buffer, Buffer | string];

/** The record's fields in RECORD_FIELDS order; trailing empty fields are absent. */
type Fields = readonly (string | number | null | undefined)[];

function field(fields: Fields, name: RecordField): string | number | null {
  return fields[FIELD_INDEX[name]] ?? null;
}

function num(fields: Fields, name: RecordField): number | null {
  const value = field(fields, name);
  return value === null ? null : Number(value);
}

function str(fields: Fields, name: RecordField): string | null {
  const value = field(fields, name);
  return value === null ? null : String(value);
}

function json<T>(fields: Fields, name: RecordField): T | null {
  const value = str(fields, name);
  return value === null ? null : (JSON.parse(value) as T);
}

/** Lua's cjson writes an empty array as `{}`; these fields are always arrays. */
function jsonArray<T>(fields: Fields, name: RecordField): T[] {
  const parsed = json<T[] | Record<string, never>>(fields, name);
  return Array.isArray(parsed) ? parsed : [];
}

export function unpackRecord(packed: Buffer | string): Fields {
  return unpackr.unpackMultiple(typeof packed === 'string' ? Buffer.from(packed, 'latin1') : packed) as Fields;
}

/** Decodes a task of `queue` from a script's reply. */
export function decodeTask(queue: string, wire: Wire): Task {
  return decodeFields(queue, String(wire[0]), unpackRecord(wire[1]));
}

function decodeFields(queue: string, id: string, wire: Fields): Task {
  const state = STATE_BY_CODE.get(String(field(wire, 'state')))!;
  const createdAt = Number(field(wire, 'createdAt'));
  const task: Task = {
    id,
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
  // Only present when the task was submitted with one (the last field: usually not even written).
  const traceContext = json<TraceCarrier>(wire, 'traceContext');
  if (traceContext !== null) task.traceContext = traceContext;
  return task;
}

export function decodeClaimedTask(queue: string, wire: Wire): ClaimedTask {
  const fields = unpackRecord(wire[1]);
  const task = decodeFields(queue, String(wire[0]), fields) as ClaimedTask;
  task.leaseToken = String(field(fields, 'leaseToken'));
  return task;
}

/** Lua constants for the generated script header. */
export function recordLuaHeader(): string {
  const lines = RECORD_FIELDS.map((name, i) => `local R_${name} = ${i + 1}`);
  lines.push(`local R_COUNT = ${RECORD_FIELDS.length}`);
  lines.push(`local R_HEAD = ${RECORD_HEAD_LENGTH}`);
  for (const [state, code] of Object.entries(STATE_CODES)) lines.push(`local ST_${state} = '${code}'`);
  const names = Object.entries(STATE_CODES).map(([state, code]) => `${code} = '${state}'`);
  lines.push(`local STATE_NAME = { ${names.join(', ')} }`);
  return lines.join('\n');
}

/**
 * A freshly inserted task, completed from what insertTasks.lua reported: the state code alone for
 * a task due at `createdAt`, else `[1, state, runAt, error, finishedAt]`.
 */
export function newTaskAsStored(task: NewTask, createdAt: number, reply: Buffer | string | readonly unknown[]): Task {
  let state: string;
  let runAt = createdAt;
  let lastError: TaskError | null = null;
  let finishedAt: number | null = null;
  if (Array.isArray(reply)) {
    const [, code, at, error, finished] = reply as [number, Buffer | string, number | string, Buffer | string | null, number | string | null];
    state = typeof code === 'string' ? code : code.toString('latin1');
    runAt = Number(at);
    lastError = error ? (JSON.parse(String(error)) as TaskError) : null;
    finishedAt = finished === null || finished === undefined ? null : Number(finished);
  } else {
    // One byte: latin1 is the cheap way to read it from a Buffer.
    state = typeof reply === 'string' ? reply : reply.toString('latin1');
  }
  const stored: Task = {
    id: task.id,
    queue: task.queue,
    type: task.type,
    payload: task.payload ?? null,
    priority: task.priority,
    state: STATE_BY_CODE.get(state)!,
    attempt: 0,
    maxAttempts: task.maxAttempts,
    backoff: task.backoff,
    timeoutMs: task.timeoutMs,
    deadline: task.deadline,
    runAt,
    dependsOn: task.dependsOn,
    key: task.key,
    result: null,
    error: lastError,
    errors: lastError ? [lastError] : [],
    progress: null,
    createdAt,
    startedAt: null,
    finishedAt,
    workerId: null,
    leaseExpiresAt: null,
    cancelRequested: false,
  };
  if (task.traceContext !== undefined) stored.traceContext = task.traceContext;
  return stored;
}
