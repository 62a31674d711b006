import type { Redis } from 'ioredis';
import { Unpackr } from 'msgpackr';
import { ConveyorError } from '../../errors.js';
import { QUEUE_NAME_PATTERN } from '../../names.js';
import { TASK_EVENT_NAMES, type JsonValue, type TaskErrorReason, type TaskEvent, type TaskEventName } from '../../types.js';
import { EVENTS_START, type ReadEventsParams, type ReadEventsResult } from '../store.js';
import { STATE_BY_CODE } from './codec.js';

/**
 * The task event feed of the Redis store.
 *
 * Writing happens in the scripts (lib/events.lua): each call that changes tasks adds ONE entry to
 * its queue's stream `<prefix>:{<queue>}:events`: field `t` = the store's now (every event's `at`),
 * field `e` = one MessagePack array of compact events `[code, task id, type, attempt, state code,
 * extras…]` (decoded by `decodeEvent`).
 *
 * Reading merges the streams of the queues asked for by stream id (then queue name); within a
 * queue, entry order then the order inside the entry.
 *
 * Cursor: for each queue read, where its stream was consumed to, written as
 * `<queue>~<ms>[-<seq>][.<k>]` items joined by `~`, sorted by queue: the entry id (`-<seq>` left
 * out when 0), and `.k` when only the first k events of that entry were consumed (a read that
 * stopped inside an entry because of `limit`). Queue names use `[A-Za-z0-9_.-]` only and `~` is the
 * one unreserved URL character they never hold, so a cursor needs no escaping anywhere (a URL, a
 * header, SSE `Last-Event-ID`). `0` (EVENTS_START) holds no position: every stream from its start.
 * A queue absent from a cursor is read from its start (it had no events when the cursor was made).
 * Each event's `id` is the whole cursor just after it.
 */

/** How a reader stands in one queue's stream. */
export interface StreamPosition {
  ms: number;
  seq: number;
  /** 0: the entry `ms-seq` and everything before it were consumed; k > 0: only the first k events of it. */
  k: number;
}

type Positions = Map<string, StreamPosition>;

const POSITION_PATTERN = /^(0|[1-9][0-9]{0,15})(?:-(0|[1-9][0-9]{0,15}))?(?:\.([1-9][0-9]{0,9}))?$/;

function invalidCursor(after: string, why: string): ConveyorError {
  const message = `after: not a cursor of this store (${why}); pass an event's id, a result's cursor, "${EVENTS_START}" or null`;
  return new ConveyorError('CONVEYOR_VALIDATION', `invalid events cursor: ${message}`, {
    field: 'after',
    issues: [{ path: 'after', message }],
  });
}

/** Strict: anything but a cursor this module wrote (or EVENTS_START) is refused. */
export function decodeCursor(after: string): Positions {
  const positions: Positions = new Map();
  if (after === EVENTS_START) return positions;
  if (after.length > 100_000) throw invalidCursor(after.slice(0, 20), 'too long');
  const parts = after.split('~');
  if (parts.length % 2 !== 0) throw invalidCursor(after, 'expected queue~position pairs');
  for (let i = 0; i < parts.length; i += 2) {
    const queue = parts[i]!;
    const position = parts[i + 1]!;
    if (!QUEUE_NAME_PATTERN.test(queue)) throw invalidCursor(after, `bad queue name ${JSON.stringify(queue)}`);
    if (positions.has(queue)) throw invalidCursor(after, `queue ${queue} twice`);
    const match = POSITION_PATTERN.exec(position);
    if (!match) throw invalidCursor(after, `bad position ${JSON.stringify(position)}`);
    const ms = Number(match[1]);
    const seq = Number(match[2] ?? 0);
    if (!Number.isSafeInteger(ms) || !Number.isSafeInteger(seq)) throw invalidCursor(after, `bad position ${JSON.stringify(position)}`);
    positions.set(queue, { ms, seq, k: Number(match[3] ?? 0) });
  }
  return positions;
}

function encodePosition(p: StreamPosition): string {
  let out = String(p.ms);
  if (p.seq !== 0) out += `-${p.seq}`;
  if (p.k !== 0) out += `.${p.k}`;
  return out;
}

export function encodeCursor(positions: Positions): string {
  if (positions.size === 0) return EVENTS_START;
  return [...positions.keys()]
    .sort()
    .map((queue) => `${queue}~${encodePosition(positions.get(queue)!)}`)
    .join('~');
}

/** Stream ids `ms-seq`. */
export function parseStreamId(id: string): { ms: number; seq: number } {
  const dash = id.indexOf('-');
  return dash < 0 ? { ms: Number(id), seq: 0 } : { ms: Number(id.slice(0, dash)), seq: Number(id.slice(dash + 1)) };
}

function compareIds(a: { ms: number; seq: number }, b: { ms: number; seq: number }): number {
  return a.ms - b.ms || a.seq - b.seq;
}

const unpackr = new Unpackr({ int64AsType: 'number', mapsAsObjects: true, useRecords: false });

/** A decoded event before it gets its id and queue. */
type RawEvent = readonly unknown[];

/**
 * One compact event (lib/events.lua) as a TaskEvent, or null for a code this version does not know
 * (written by a newer one): such events are skipped, and still advance the cursor. Extras by code:
 * claimed `workerId[, due]` (the runAt the wait counts from: waitMs = at - due, never below 0; no
 * due on a steal); progress `progress JSON`; failed `reason, message, retryAt`; dead and cancelled
 * `reason, message`.
 */
export function decodeEvent(raw: RawEvent, queue: string, id: string, at: number): TaskEvent | null {
  const name = TASK_EVENT_NAMES[Number(raw[0])];
  const state = STATE_BY_CODE.get(String(raw[4]));
  if (name === undefined || state === undefined) return null;
  const event: TaskEvent = {
    id,
    name,
    at,
    taskId: String(raw[1]),
    queue,
    type: String(raw[2]),
    attempt: Number(raw[3]),
    state,
  };
  switch (name) {
    case 'task:claimed':
      event.workerId = String(raw[5]);
      if (raw.length > 6) event.waitMs = Math.max(0, at - Number(raw[6]));
      break;
    case 'task:progress':
      event.progress = JSON.parse(String(raw[5])) as JsonValue;
      break;
    case 'task:failed':
      event.error = { reason: String(raw[5]) as TaskErrorReason, message: String(raw[6] ?? '') };
      if (raw.length > 7) event.retryAt = Number(raw[7]);
      break;
    case 'task:dead':
    case 'task:cancelled':
      if (raw.length > 5) event.error = { reason: String(raw[5]) as TaskErrorReason, message: String(raw[6] ?? '') };
      break;
    default:
      break;
  }
  return event;
}

interface Entry {
  ms: number;
  seq: number;
  /** The store's now when the call ran: every event's `at`. */
  at: number;
  packed: Buffer;
}

interface QueueScan {
  queue: string;
  key: string;
  /** Entries fetched and not consumed yet, oldest first. */
  buffer: Entry[];
  /** The next XRANGE start. */
  start: string;
  exhausted: boolean;
  pageSize: number;
}

/** Entries per XRANGE: small first (an entry may hold up to 1,000 events), doubling while a read goes on. */
const FIRST_PAGE = 16;
const MAX_PAGE = 256;
/** A read examines at most this many events (or 10 × limit); then it returns, even with none, so that a
 * filter that matches nothing cannot make one call scan every stream. */
const EVENT_BUDGET = 10_000;
/**
 * How long the queue list is reused by reads (a queue this process registers resets it; one that
 * another process creates is seen within this time, or at the next wake-up of a blocked read).
 */
const QUEUE_LIST_TTL_MS = 1_000;

export interface EventFeedOptions {
  redis: Redis;
  /** The events stream key of a queue. */
  streamKey: (queue: string) => string;
  /** Every known queue (the queue registry), sorted. */
  listQueues: () => Promise<string[]>;
  /** Where each queue's stream ends (eventsTail.lua): its last entry id, or null. */
  streamTail: (queue: string) => Promise<string | null>;
  onError: (err: Error) => void;
}

export class EventFeed {
  readonly #redis: Redis;
  readonly #streamKey: (queue: string) => string;
  readonly #listQueues: () => Promise<string[]>;
  readonly #streamTail: (queue: string) => Promise<string | null>;
  readonly #waiter: StreamWaiter;
  #queues: { list: string[]; at: number } | null = null;
  #closed = false;

  constructor(options: EventFeedOptions) {
    this.#redis = options.redis;
    this.#streamKey = options.streamKey;
    this.#listQueues = options.listQueues;
    this.#streamTail = options.streamTail;
    this.#waiter = new StreamWaiter(options.redis, () => this.#refreshQueues(), options.onError);
  }

  async close(): Promise<void> {
    this.#closed = true;
    await this.#waiter.close();
  }

  /**
   * This process registered new queues: the next read lists the queues again, and blocked readers
   * of every queue look again at once (another process's new queue is seen within a second).
   */
  queuesAdded(): void {
    this.#queues = null;
    this.#waiter.wakeAllQueueReaders();
  }

  async read(p: ReadEventsParams): Promise<ReadEventsResult> {
    const positions = p.after === null ? null : decodeCursor(p.after);
    const limit = Math.max(0, Math.floor(p.limit));
    const blockMs = p.blockMs ?? 0;
    const deadline = Date.now() + blockMs;
    const names = p.names && p.names.length > 0 ? new Set<TaskEventName>(p.names) : null;
    const types = p.types && p.types.length > 0 ? new Set(p.types) : null;

    let current: Positions;
    if (positions === null) {
      // From now: where every stream read ends at this moment; nothing already written is returned.
      const queues = await this.#queuesFor(p.queues);
      const tails = await Promise.all(queues.map((queue) => this.#streamTail(queue)));
      current = new Map();
      queues.forEach((queue, i) => {
        const tail = tails[i];
        if (tail) current.set(queue, { ...parseStreamId(tail), k: 0 });
      });
    } else {
      current = positions;
    }

    // The queue list a woken reader reads is fresh: the waiter re-reads it at each of its cycles
    // while someone reads every queue, and this process's new queues reset it.
    let woken = false;
    for (;;) {
      if (p.after !== null || woken) {
        const queues = await this.#queuesFor(p.queues);
        const scanned = await this.#scan(queues, current, limit, names, types);
        if (scanned.events.length > 0 || scanned.truncated || limit === 0) return { events: scanned.events, cursor: scanned.cursor };
        current = scanned.positions;
      }
      const cursor = encodeCursor(current);
      if (blockMs <= 0 || this.#closed || p.signal?.aborted || Date.now() >= deadline) return { events: [], cursor };
      const queues = await this.#queuesFor(p.queues);
      const streams = new Map<string, { ms: number; seq: number }>();
      for (const queue of queues) {
        const at = current.get(queue);
        streams.set(this.#streamKey(queue), at ? { ms: at.ms, seq: at.seq } : { ms: 0, seq: 0 });
      }
      await this.#waiter.wait(
        { streams, queues: p.queues && p.queues.length > 0 ? null : new Set(queues), resolve: () => undefined },
        deadline - Date.now(),
        p.signal,
      );
      if (this.#closed || p.signal?.aborted) return { events: [], cursor };
      woken = true;
    }
  }

  async #queuesFor(filter: string[] | undefined): Promise<string[]> {
    if (filter && filter.length > 0) return [...new Set(filter)].sort();
    if (this.#queues === null || Date.now() - this.#queues.at > QUEUE_LIST_TTL_MS) await this.#refreshQueues();
    return this.#queues!.list;
  }

  async #refreshQueues(): Promise<string[]> {
    const list = await this.#listQueues();
    this.#queues = { list, at: Date.now() };
    return list;
  }

  /** Reads what follows `positions` in `queues`, merged, up to `limit` events that pass the filters. */
  async #scan(
    queues: string[],
    positions: Positions,
    limit: number,
    names: Set<TaskEventName> | null,
    types: Set<string> | null,
  ): Promise<{ events: TaskEvent[]; cursor: string; positions: Positions; truncated: boolean }> {
    const current: Positions = new Map(positions);
    // The cursor as text, kept per queue so that each event's id costs one join.
    const order = [...new Set([...current.keys(), ...queues])].sort();
    const slot = new Map(order.map((queue, i) => [queue, i]));
    const parts = order.map((queue) => {
      const at = current.get(queue);
      return at ? `${queue}~${encodePosition(at)}` : '';
    });
    const cursorText = (): string => parts.filter((part) => part !== '').join('~') || EVENTS_START;

    const scans: QueueScan[] = queues.map((queue) => {
      const at = current.get(queue);
      let start = '-';
      // Inside an entry: read it again and skip what was consumed; else what follows it.
      if (at) start = at.k > 0 ? `${at.ms}-${at.seq}` : `(${at.ms}-${at.seq}`;
      return { queue, key: this.#streamKey(queue), buffer: [], start, exhausted: false, pageSize: Math.max(1, Math.min(limit, FIRST_PAGE)) };
    });

    const events: TaskEvent[] = [];
    const budget = Math.max(EVENT_BUDGET, limit * 10);
    let examined = 0;
    let truncated = false;
    while (events.length < limit) {
      const empty = scans.filter((scan) => scan.buffer.length === 0 && !scan.exhausted);
      if (empty.length > 0) await Promise.all(empty.map((scan) => this.#fetch(scan)));
      let next: QueueScan | undefined;
      for (const scan of scans) {
        const head = scan.buffer[0];
        if (head === undefined) continue;
        const best = next?.buffer[0];
        if (best === undefined || compareIds(head, best) < 0) next = scan;
      }
      if (next === undefined) break;
      if (examined >= budget) {
        truncated = true;
        break;
      }
      const entry = next.buffer.shift()!;
      const queue = next.queue;
      const raws = unpackr.unpack(entry.packed) as RawEvent[];
      const at = current.get(queue);
      let index = at && at.k > 0 && at.ms === entry.ms && at.seq === entry.seq ? at.k : 0;
      const i = slot.get(queue)!;
      if (index >= raws.length) {
        current.set(queue, { ms: entry.ms, seq: entry.seq, k: 0 });
        parts[i] = `${queue}~${encodePosition(current.get(queue)!)}`;
        continue;
      }
      for (; index < raws.length && events.length < limit; index++) {
        examined++;
        const raw = raws[index]!;
        const position: StreamPosition = { ms: entry.ms, seq: entry.seq, k: index + 1 === raws.length ? 0 : index + 1 };
        current.set(queue, position);
        parts[i] = `${queue}~${encodePosition(position)}`;
        const name = TASK_EVENT_NAMES[Number(raw[0])];
        if (name === undefined || (names !== null && !names.has(name))) continue;
        if (types !== null && !types.has(String(raw[2]))) continue;
        const event = decodeEvent(raw, queue, cursorText(), entry.at);
        if (event) events.push(event);
      }
      // Stopped inside the entry: the next read starts there (the position says how far).
      if (index < raws.length) break;
    }
    return { events, cursor: events.length > 0 ? events[events.length - 1]!.id : cursorText(), positions: current, truncated };
  }

  async #fetch(scan: QueueScan): Promise<void> {
    const page = await this.#redis.xrangeBuffer(scan.key, scan.start, '+', 'COUNT', scan.pageSize);
    for (const [rawId, fields] of page) {
      const { ms, seq } = parseStreamId(rawId.toString('latin1'));
      // Fields `t` (the store's now) and `e` (the packed events), in that order.
      let at = ms;
      let packed: Buffer | undefined;
      for (let f = 0; f + 1 < fields.length; f += 2) {
        const name = fields[f]!.toString('latin1');
        if (name === 't') at = Number(fields[f + 1]!.toString('latin1'));
        else if (name === 'e') packed = fields[f + 1];
      }
      if (packed) scan.buffer.push({ ms, seq, at, packed });
      scan.start = `(${ms}-${seq}`;
    }
    if (page.length < scan.pageSize) scan.exhausted = true;
    scan.pageSize = Math.min(MAX_PAGE, scan.pageSize * 2);
  }
}

// ---- the shared blocking wait ----------------------------------------------------------------------

export interface StreamWait {
  /** Stream key → the last entry id the waiter has seen there (0-0: none). */
  streams: Map<string, { ms: number; seq: number }>;
  /** Reading every queue: the queues it read, so that a new queue wakes it; null with a filter. */
  queues: Set<string> | null;
  resolve: () => void;
}

/** While some reader reads every queue, the wait ends this often to look for new queues. */
const QUEUE_REFRESH_MS = 1_000;
/** Otherwise one XREAD blocks this long at most (a new waiter that needs more restarts it at once). */
const IDLE_BLOCK_MS = 30_000;
const UNBLOCK_RETRY_MS = 20;
const ERROR_BACKOFF_MS = 500;

/**
 * Every blocked reader of a store shares ONE connection: a loop of `XREAD BLOCK` over the union of
 * the streams being waited on, each from the oldest position a waiter has there (COUNT 1: the data
 * is not used, only the wake-up). When an entry arrives, the waiters it is new to wake up and read;
 * the others stay. A new waiter that the XREAD in flight does not cover (another stream, an older
 * position) interrupts it with `CLIENT UNBLOCK`, and the next XREAD covers it. Idle readers cost
 * nothing: one blocked client in Redis; while some reader reads every queue, the XREAD ends every
 * second to look for queues created since (one SMEMBERS per second per store, not per reader).
 */
export class StreamWaiter {
  readonly #main: Redis;
  readonly #refreshQueues: () => Promise<string[]>;
  readonly #onError: (err: Error) => void;
  readonly #waiters = new Set<StreamWait>();
  #connection: Redis | null = null;
  #clientId = -1;
  #running = false;
  /** The XREAD in flight: its positions and whether it ends in time to look for new queues. */
  #inFlight: { streams: Map<string, { ms: number; seq: number }>; refreshes: boolean } | null = null;
  #cycle = 0;
  #closed = false;
  /** Ends the pause of a cycle that has no stream to wait on. */
  #endPause: (() => void) | null = null;

  constructor(main: Redis, refreshQueues: () => Promise<string[]>, onError: (err: Error) => void) {
    this.#main = main;
    this.#refreshQueues = refreshQueues;
    this.#onError = onError;
  }

  /** Wakes the waiters that read every queue (a queue was created). */
  wakeAllQueueReaders(): void {
    for (const w of [...this.#waiters]) if (w.queues !== null) w.resolve();
  }

  /** Resolves when something new may be there, after `timeoutMs`, on abort, or when closed. Never rejects. */
  wait(w: StreamWait, timeoutMs: number, signal?: AbortSignal): Promise<void> {
    if (this.#closed || signal?.aborted || timeoutMs <= 0) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const done = (): void => {
        if (!this.#waiters.delete(waiter)) return;
        clearTimeout(timer);
        signal?.removeEventListener('abort', done);
        resolve();
      };
      const waiter: StreamWait = { ...w, resolve: done };
      const timer = setTimeout(done, timeoutMs);
      signal?.addEventListener('abort', done, { once: true });
      this.#waiters.add(waiter);
      if (!this.#running) void this.#run();
      else if (!this.#covers(waiter)) this.#interrupt();
    });
  }

  async close(): Promise<void> {
    this.#closed = true;
    for (const waiter of [...this.#waiters]) waiter.resolve();
    this.#endPause?.();
    this.#connection?.disconnect();
    this.#connection = null;
  }

  /** Whether the XREAD in flight wakes up for everything `w` waits for. */
  #covers(w: StreamWait): boolean {
    const flight = this.#inFlight;
    if (flight === null) return true; // between two XREADs: the next one is built from every waiter
    if (w.queues !== null && !flight.refreshes) return false;
    for (const [key, id] of w.streams) {
      const from = flight.streams.get(key);
      if (from === undefined || compareIds(from, id) > 0) return false;
    }
    return true;
  }

  /** Ends the XREAD in flight, so the next one covers new waiters. */
  #interrupt(): void {
    if (this.#endPause) {
      this.#endPause();
      return;
    }
    const cycle = this.#cycle;
    const unblock = (): void => {
      if (this.#cycle !== cycle || this.#inFlight === null || this.#closed) return;
      // The XREAD may not have reached Redis yet (CLIENT UNBLOCK answers 0): try again shortly.
      this.#main
        .client('UNBLOCK', this.#clientId)
        .then((unblocked) => {
          if (Number(unblocked) === 0) setTimeout(unblock, UNBLOCK_RETRY_MS).unref();
        })
        .catch(() => undefined);
    };
    unblock();
  }

  /** Readers of every queue while there is no queue at all: nothing to block on, so wait for a queue. */
  #pause(ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const end = (): void => {
        clearTimeout(timer);
        this.#endPause = null;
        resolve();
      };
      const timer = setTimeout(end, ms);
      this.#endPause = end;
    });
  }

  async #connect(): Promise<Redis> {
    if (this.#connection) return this.#connection;
    const connection = this.#main.duplicate({ enableAutoPipelining: false });
    connection.on('error', this.#onError);
    const refresh = async (): Promise<void> => {
      this.#clientId = Number(await connection.client('ID'));
    };
    // The id changes when ioredis reconnects; CLIENT UNBLOCK needs the current one.
    connection.on('ready', () => void refresh().catch(() => undefined));
    this.#connection = connection;
    await refresh();
    return connection;
  }

  async #run(): Promise<void> {
    this.#running = true;
    try {
      while (this.#waiters.size > 0 && !this.#closed) {
        let connection: Redis;
        try {
          connection = await this.#connect();
        } catch {
          await sleep(ERROR_BACKOFF_MS);
          continue;
        }
        // Built from the waiters of this moment, right before the XREAD goes out.
        const streams = new Map<string, { ms: number; seq: number }>();
        let refreshes = false;
        for (const w of this.#waiters) {
          if (w.queues !== null) refreshes = true;
          for (const [key, id] of w.streams) {
            const from = streams.get(key);
            if (from === undefined || compareIds(id, from) < 0) streams.set(key, id);
          }
        }
        const keys = [...streams.keys()];
        const ids = keys.map((key) => {
          const id = streams.get(key)!;
          return `${id.ms}-${id.seq}`;
        });
        this.#cycle++;
        this.#inFlight = { streams, refreshes };
        let reply: [Buffer, [Buffer, Buffer[]][]][] | null = null;
        try {
          if (keys.length === 0) await this.#pause(QUEUE_REFRESH_MS);
          else
            reply = (await connection.xreadBuffer(
              'COUNT',
              1,
              'BLOCK',
              refreshes ? QUEUE_REFRESH_MS : IDLE_BLOCK_MS,
              'STREAMS',
              ...keys,
              ...ids,
            )) as [Buffer, [Buffer, Buffer[]][]][] | null;
        } catch (err) {
          if (this.#closed) break;
          this.#onError(err as Error);
          this.#inFlight = null;
          await sleep(ERROR_BACKOFF_MS);
          continue;
        }
        this.#inFlight = null;
        if (reply) {
          const arrived = new Map<string, { ms: number; seq: number }>();
          for (const [key, entries] of reply) {
            const last = entries[entries.length - 1];
            if (last) arrived.set(key.toString(), parseStreamId(last[0].toString('latin1')));
          }
          for (const w of [...this.#waiters]) {
            for (const [key, id] of arrived) {
              const seen = w.streams.get(key);
              if (seen !== undefined && compareIds(id, seen) > 0) {
                w.resolve();
                break;
              }
            }
          }
        }
        if (refreshes && !this.#closed) {
          try {
            const queues = await this.#refreshQueues();
            for (const w of [...this.#waiters]) {
              if (w.queues !== null && queues.some((queue) => !w.queues!.has(queue))) w.resolve();
            }
          } catch (err) {
            this.#onError(err as Error);
          }
        }
      }
    } finally {
      this.#running = false;
      this.#inFlight = null;
      // A waiter that came while the loop was ending.
      if (this.#waiters.size > 0 && !this.#closed) void this.#run();
    }
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}
