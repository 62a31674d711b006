import { ConveyorError } from '../../../errors.js';
import type { JsonValue, TaskErrorReason, TaskEvent, TaskEventName, TaskState } from '../../../types.js';
import type { ReadEventsParams } from '../../store.js';
import { prepared, type Db } from './prepared.js';

/**
 * The task event feed of the SQLite store (migration 6).
 *
 * Writing. The statements of a write record the events of what they changed in the connection's
 * buffer (`eventLog`), like they record counts (counts.ts); `SqliteStore.write` writes them as ONE
 * row of `events` inside the same transaction, right before it commits (`flushEvents`), and a
 * transaction that fails drops them (`discardEvents`). So a claim of 100 tasks writes one row, and
 * the feed holds exactly what committed.
 *
 * A row: `at` (the store's now, for every event of the call) and `body`, a JSON array of entries in
 * the order the changes happened. An entry is either
 *
 *     {"q": queue, "t": type, "w": workerId}     context: sets what the tuples after it carry
 *                                                (only the keys that changed)
 *     [name, [id, id, …], attempt, state]        consecutive events with the same name, attempt,
 *                                                state and context, one per id
 *     [1, [id, …], attempt, 3, [waitMs, …]]      the same for task:claimed, with each task's wait
 *     [name, id, attempt, state, ...extra]       one event with details:
 *                                                  task:progress   progress
 *                                                  task:failed     reason, message, retryAt
 *                                                  task:dead       reason, message
 *                                                  task:cancelled  reason, message
 *
 * `name` and `state` are small integers (`NAMES`, `STATES`: fixed here and append-only, since rows
 * outlive versions). The claimed events' worker is the context's `w`. So a claim of 100 tasks of one
 * queue and type is one context and one tuple, about 3 KB (mostly the ids), built with a push or
 * two per task and little for JSON.stringify to walk. (Packing each id against the one before it
 * halved the rows and saved about a WAL frame per call, but cost more CPU than that saved until the
 * code was optimized, a large part of a short-lived process: measured, not kept.)
 *
 * Reading. A position (a cursor, and every event's id) is `<row id>` = after every event of that row,
 * or `<row id>.<k>` = after its first k events (counting events, not entries). Event k (0-based) of
 * row r has the id `r.(k+1)`, the position right after it, so passing it as `after` goes on exactly
 * behind it. `0` (EVENTS_START) is before every row. Row ids only grow: a new row gets max(id) + 1
 * and the newest row is never deleted (below), and a position older than the oldest row kept reads
 * from the oldest.
 *
 * Retention. `retain` rows are kept: every `TRIM_EVERY` rows a connection writes, it deletes the rows
 * `id <= last - retain` (a range of the table's own b-tree, from its start), so at most retain +
 * TRIM_EVERY rows exist and, retain being at least 1 whenever rows are written, the newest one
 * always stays. `retain` 0 writes no events at all.
 */

/** Tuple codes of the event names. Persisted: append only. */
const NAMES: readonly TaskEventName[] = [
  'task:submitted',
  'task:claimed',
  'task:progress',
  'task:completed',
  'task:failed',
  'task:dead',
  'task:cancelled',
  'task:reclaimed',
  'task:released',
  'task:retried',
];

export const EV = {
  submitted: 0,
  claimed: 1,
  progress: 2,
  completed: 3,
  failed: 4,
  dead: 5,
  cancelled: 6,
  reclaimed: 7,
  released: 8,
  retried: 9,
} as const;
export type EventCode = (typeof EV)[keyof typeof EV];

/** Tuple codes of the states. Persisted: append only. */
const STATES: readonly TaskState[] = ['blocked', 'scheduled', 'pending', 'processing', 'completed', 'dead', 'cancelled'];
const STATE_CODES: Record<TaskState, number> = {
  blocked: 0,
  scheduled: 1,
  pending: 2,
  processing: 3,
  completed: 4,
  dead: 5,
  cancelled: 6,
};

/** A tuple of events without details: `[code, ids, attempt, state]`, or `[…, waits]` for claims. */
export type EventGroup = [code: EventCode, ids: string[], attempt: number, state: number, waits?: number[]];

/** Which keys a context entry sets. */
interface Context {
  q?: string;
  t?: string;
  w?: string;
}

/** The events of the current write transaction, as body entries. */
export class EventLog {
  at = 0;
  /** Body entries: contexts and tuples. Empty = no event. */
  readonly entries: unknown[] = [];
  private queue: string | null = null;
  private type: string | null = null;
  private worker: string | null = null;
  /** The last tuple, while more ids may join it. */
  private open: EventGroup | null = null;
  /**
   * The type and attempt the last completions had: a batched completion returns only the rowid of
   * a row that has them (finish-tasks.ts), the common case, and text for the others.
   */
  completedType = '';
  completedAttempt = 1;

  /**
   * The tuple the next events of `code` with these values join: the open one when it matches, else
   * a new one (after a context entry when queue, type or worker changed). Callers add each task with
   * `push(tuple, id)` and, for claims (`waits`), push its wait onto `tuple[4]`; a loop over a batch
   * asks again only when the type or attempt changes, so an event costs it little.
   */
  group(code: EventCode, queue: string, type: string, attempt: number, state: TaskState, worker: string | null, waits: boolean): EventGroup {
    this.context(queue, type, worker);
    const s = STATE_CODES[state];
    const open = this.open;
    if (open !== null && open[0] === code && open[2] === attempt && open[3] === s && open.length === (waits ? 5 : 4)) return open;
    const tuple: EventGroup = waits ? [code, [], attempt, s, []] : [code, [], attempt, s];
    this.entries.push(tuple);
    this.open = tuple;
    return tuple;
  }

  /** Adds task `id` to `tuple`, the open tuple (just returned by `group`). */
  push(tuple: EventGroup, id: string): void {
    tuple[1].push(id);
  }

  /** One event without details (submitted, completed, reclaimed, released, retried). */
  add(code: EventCode, id: string, queue: string, type: string, attempt: number, state: TaskState): void {
    this.push(this.group(code, queue, type, attempt, state, null, false), id);
  }

  /** One `task:claimed` by `workerId`; `waitMs` undefined for a steal. */
  addClaimed(id: string, queue: string, type: string, attempt: number, workerId: string, waitMs: number | undefined): void {
    const tuple = this.group(EV.claimed, queue, type, attempt, 'processing', workerId, waitMs !== undefined);
    this.push(tuple, id);
    if (waitMs !== undefined) (tuple[4] as number[]).push(waitMs);
  }

  /** An event with details (progress, failed, dead, cancelled), in the order the format lists them. */
  addDetailed(code: EventCode, id: string, queue: string, type: string, attempt: number, state: TaskState, ...details: unknown[]): void {
    this.context(queue, type, null);
    this.entries.push([code, id, attempt, STATE_CODES[state], ...details]);
    this.open = null;
  }

  clear(): void {
    this.entries.length = 0;
    this.queue = null;
    this.type = null;
    this.worker = null;
    this.open = null;
  }

  private context(queue: string, type: string, worker: string | null): void {
    let context: Context | null = null;
    if (queue !== this.queue) {
      context = { q: queue };
      this.queue = queue;
    }
    if (type !== this.type) {
      (context ??= {}).t = type;
      this.type = type;
    }
    if (worker !== null && worker !== this.worker) {
      (context ??= {}).w = worker;
      this.worker = worker;
    }
    if (context !== null) {
      this.entries.push(context);
      this.open = null;
    }
  }
}

/** Per connection: how many rows to keep, the open transaction's events, rows written so far. */
interface Feed {
  retain: number;
  log: EventLog;
  written: number;
}

const feeds = new WeakMap<Db, Feed>();

/** Rows a connection writes between two trims. */
export const TRIM_EVERY = 256;

/** Sets up the feed of a connection; `retain` 0 = write no events. */
export function configureEvents(db: Db, retain: number): void {
  feeds.set(db, { retain: Math.max(0, Math.floor(retain)), log: new EventLog(), written: 0 });
}

/** The buffer to record the current transaction's events in (at `now`), or null: events are off. */
export function eventLog(db: Db, now: number): EventLog | null {
  const feed = feeds.get(db);
  if (feed === undefined || feed.retain === 0) return null;
  const log = feed.log;
  if (log.entries.length === 0) log.at = now;
  return log;
}

/**
 * Writes the transaction's events as one row and trims now and then; called inside the transaction,
 * after its statements. Returns the row's id, or null when there was nothing to write.
 */
export function flushEvents(db: Db): number | null {
  const feed = feeds.get(db);
  if (feed === undefined || feed.log.entries.length === 0) return null;
  const log = feed.log;
  const id = Number(
    prepared<[number, string]>(db, 'INSERT INTO events (at, body) VALUES (?, ?)').run(log.at, JSON.stringify(log.entries))
      .lastInsertRowid,
  );
  log.clear();
  if (feed.written++ % TRIM_EVERY === 0) {
    prepared<[number]>(db, 'DELETE FROM events WHERE id <= ?').run(id - feed.retain);
  }
  return id;
}

/** Forgets the events of a transaction that did not commit. */
export function discardEvents(db: Db): void {
  feeds.get(db)?.log.clear();
}

// ---- reading ------------------------------------------------------------------------------------

/** A feed position: after row `row`'s first `k` events; `k` null = after all of them. */
export interface EventPosition {
  row: number;
  k: number | null;
}

const POSITION = /^(\d{1,16})(?:\.(\d{1,9}))?$/;

/** Parses `after`; a malformed one is a CONVEYOR_VALIDATION error naming the field. */
export function parsePosition(text: string): EventPosition {
  const match = POSITION.exec(text);
  const row = match === null ? NaN : Number(match[1]);
  if (match === null || !Number.isSafeInteger(row)) {
    const message = `${JSON.stringify(text)} is not an event id or cursor of this store (use an event's id, a cursor, or "0")`;
    throw new ConveyorError('CONVEYOR_VALIDATION', `invalid events position: after: ${message}`, {
      issues: [{ path: 'after', message }],
    });
  }
  return { row, k: match[2] === undefined ? null : Number(match[2]) };
}

export function formatPosition(p: EventPosition): string {
  return p.k === null ? String(p.row) : `${p.row}.${p.k}`;
}

/** The id of the newest row, 0 when there is none: `{ row: lastRowId(db), k: null }` is "now". */
export function lastRowId(db: Db): number {
  return prepared<[], number | null>(db, 'SELECT max(id) FROM events').pluck().get() ?? 0;
}

/** At most this many rows are decoded per call; a read that found nothing in them returns its position. */
export const MAX_SCAN_ROWS = 1000;

export interface ScanResult {
  events: TaskEvent[];
  /** Where the scan ended: pass it on. */
  position: EventPosition;
  /** Rows were left unread because of `MAX_SCAN_ROWS`. */
  capped: boolean;
}

type EventRow = [id: number, at: number, body: string];

/**
 * Reads events after `from`, filtered, at most `limit`. Filtered-out events advance the position
 * all the same. Runs inside the caller's read transaction.
 */
export function scanEvents(db: Db, from: EventPosition, p: Pick<ReadEventsParams, 'queues' | 'names' | 'types' | 'limit'>): ScanResult {
  const limit = Math.floor(p.limit);
  const events: TaskEvent[] = [];
  if (!(limit > 0)) return { events, position: from, capped: false };

  const queues = p.queues === undefined ? null : new Set(p.queues);
  const types = p.types === undefined ? null : new Set(p.types);
  const names = p.names === undefined ? null : new Set(p.names);
  // The body holds every queue and type as JSON text: a row that does not contain one of the wanted
  // ones is skipped without parsing it.
  const queueNeedles = p.queues?.map((queue) => JSON.stringify(queue)) ?? null;
  const typeNeedles = p.types?.map((type) => JSON.stringify(type)) ?? null;

  // A partial position starts in its own row; a whole one after it.
  const rows =
    from.k === null
      ? prepared<[number, number], EventRow>(db, 'SELECT id, at, body FROM events WHERE id > ? ORDER BY id LIMIT ? + 0').raw()
      : prepared<[number, number], EventRow>(db, 'SELECT id, at, body FROM events WHERE id >= ? ORDER BY id LIMIT ? + 0').raw();

  let position = from;
  let scanned = 0;
  /** The last returned event is the last event scanned. */
  let endsOnEvent = false;
  for (const [rowId, at, body] of rows.iterate(from.row, MAX_SCAN_ROWS)) {
    scanned++;
    if (
      (queueNeedles !== null && !queueNeedles.some((needle) => body.includes(needle))) ||
      (typeNeedles !== null && !typeNeedles.some((needle) => body.includes(needle)))
    ) {
      position = { row: rowId, k: null };
      endsOnEvent = false;
      continue;
    }
    const entries = JSON.parse(body) as unknown[];
    endsOnEvent = false;
    const skip = rowId === from.row && from.k !== null ? from.k : 0;
    let queue = '';
    let type = '';
    let worker = '';
    /** Events of the row before this entry. */
    let n = 0;
    let full = false;
    for (const entry of entries) {
      if (!Array.isArray(entry)) {
        const context = entry as Context;
        if (context.q !== undefined) queue = context.q;
        if (context.t !== undefined) type = context.t;
        if (context.w !== undefined) worker = context.w;
        continue;
      }
      const ids = entry[1] as string | string[];
      const count = typeof ids === 'string' ? 1 : ids.length;
      if (n + count <= skip) {
        n += count;
        continue;
      }
      const name = NAMES[entry[0] as number];
      // An event name a newer version wrote is skipped like a filtered-out one.
      if (name === undefined || (queues !== null && !queues.has(queue)) || (types !== null && !types.has(type)) || (names !== null && !names.has(name))) {
        n += count;
        endsOnEvent = false;
        continue;
      }
      for (let j = Math.max(0, skip - n); j < count; j++) {
        const taskId = typeof ids === 'string' ? ids : (ids[j] as string);
        events.push(toEvent(entry, taskId, j, `${rowId}.${n + j + 1}`, name, at, queue, type, worker));
        if (events.length >= limit) {
          position = { row: rowId, k: n + j + 1 };
          full = true;
          break;
        }
      }
      if (full) break;
      n += count;
      endsOnEvent = true;
    }
    if (full) return { events, position, capped: false };
    position = endsOnEvent ? { row: rowId, k: n } : { row: rowId, k: null };
  }
  return { events, position, capped: scanned >= MAX_SCAN_ROWS };
}

/** Event `j` of a body tuple, about task `taskId`. */
function toEvent(
  entry: unknown[],
  taskId: string,
  j: number,
  id: string,
  name: TaskEventName,
  at: number,
  queue: string,
  type: string,
  worker: string,
): TaskEvent {
  const event: TaskEvent = {
    id,
    name,
    at,
    taskId,
    queue,
    type,
    attempt: entry[2] as number,
    state: STATES[entry[3] as number] as TaskState,
  };
  switch (entry[0]) {
    case EV.claimed:
      event.workerId = worker;
      if (entry.length > 4) event.waitMs = (entry[4] as number[])[j] as number;
      break;
    case EV.progress:
      event.progress = entry[4] as JsonValue;
      break;
    case EV.failed:
      event.error = { reason: entry[4] as TaskErrorReason, message: entry[5] as string };
      event.retryAt = entry[6] as number;
      break;
    case EV.dead:
    case EV.cancelled:
      event.error = { reason: entry[4] as TaskErrorReason, message: entry[5] as string };
      break;
  }
  return event;
}
