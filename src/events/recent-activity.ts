/**
 * What the whole cluster did in the last 15 minutes, per second: attempts completed and failed,
 * and per queue the time tasks waited to be claimed. `GET /api/v1/activity` serves it to the
 * dashboard, so a browser no longer rebuilds the chart from every event it can replay (a busy
 * cluster retains less than 15 minutes of events, and replaying them costs every viewer).
 *
 * It is built from the store's event feed, which every process sharing the store sees, so any
 * server answers for the cluster. It runs only while somebody looks: the first snapshot starts it,
 * reading the retained events of the window first, and it stops `lingerMs` after the last
 * snapshot. While it runs, it holds every second of the window in memory (a few numbers per queue
 * and second), so the chart covers the full window even when the store retains less.
 */
import { sleep } from '../lifecycle/sleep.js';
import { silentLogger, type Logger } from '../logger.js';
import { EVENTS_START, type Store } from '../store/store.js';
import type { TaskEvent, TaskEventName } from '../types.js';
import { followEvents } from './follow.js';

export const ACTIVITY_WINDOW_MS = 15 * 60_000;
/** After the last snapshot, the tracker keeps counting this long (a dashboard polls every few seconds). */
const DEFAULT_LINGER_MS = 10 * 60_000;
/** A first snapshot waits at most this long for the window's retained events to be read. */
const BACKFILL_WAIT_MS = 5_000;
const READ_LIMIT = 2_000;
const READ_BLOCK_MS = 10_000;
const NAMES: TaskEventName[] = ['task:claimed', 'task:completed', 'task:failed', 'task:dead'];

export interface QueueActivity {
  queue: string;
  completed: number;
  /** `task:failed` (an attempt failed, another will run) and `task:dead`. */
  failed: number;
  /** Claims, and the mean time those tasks had waited since they were due (null: none). */
  claimed: number;
  waitMsAvg: number | null;
}

export interface ActivitySnapshot {
  windowSeconds: number;
  /** The server's clock when the snapshot was taken (epoch ms). */
  now: number;
  /**
   * From when the counts are complete: the window's start, or later when the retained events of a
   * queue begin later (trimmed, or the queue is younger than the window).
   */
  countedSince: number;
  /** One entry per second of the window, oldest first: `seconds` are epoch seconds. */
  series: { seconds: number[]; completed: number[]; failed: number[] };
  /** Every queue with activity in the window, by name. */
  queues: QueueActivity[];
}

interface Tally {
  completed: number;
  failed: number;
  claimed: number;
  waitMsSum: number;
}

export interface RecentActivityOptions {
  store: Store;
  logger?: Logger;
  /** Default 15 minutes. */
  windowMs?: number;
  lingerMs?: number;
  /** The clock that places the window (tests move it). Events keep the store's `at`. */
  now?: () => number;
}

export class RecentActivity {
  readonly #store: Store;
  readonly #logger: Logger;
  readonly #windowMs: number;
  readonly #lingerMs: number;
  readonly #now: () => number;
  /** second → queue → tally. */
  readonly #seconds = new Map<number, Map<string, Tally>>();
  /** The first event read of each queue: the counts of a queue are complete from there on. */
  readonly #firstSeen = new Map<string, number>();
  #run: { stop: AbortController; caughtUp: Promise<void>; done: Promise<void> } | null = null;
  #lingerTimer: NodeJS.Timeout | null = null;

  constructor(options: RecentActivityOptions) {
    this.#store = options.store;
    this.#logger = (options.logger ?? silentLogger).child({ component: 'recent-activity' });
    this.#windowMs = options.windowMs ?? ACTIVITY_WINDOW_MS;
    this.#lingerMs = options.lingerMs ?? DEFAULT_LINGER_MS;
    this.#now = options.now ?? Date.now;
  }

  /** Whether the tracker is reading the feed now. */
  get running(): boolean {
    return this.#run !== null;
  }

  /** The last window, per second. Starts the tracker when it is not running (and waits, briefly, for its backfill). */
  async snapshot(): Promise<ActivitySnapshot> {
    this.#run ??= this.#start();
    this.#touch();
    const waited = new AbortController();
    await Promise.race([this.#run.caughtUp, sleep(BACKFILL_WAIT_MS, waited.signal)]);
    waited.abort();
    return this.#snapshot();
  }

  /** Stops reading; the next snapshot starts over from the retained events. */
  async close(): Promise<void> {
    const run = this.#run;
    this.#stop();
    await run?.done;
  }

  #touch(): void {
    if (this.#lingerTimer !== null) clearTimeout(this.#lingerTimer);
    this.#lingerTimer = setTimeout(() => this.#stop(), this.#lingerMs);
    // Watching a dashboard must not keep a process alive that is otherwise done.
    this.#lingerTimer.unref();
  }

  #stop(): void {
    if (this.#lingerTimer !== null) clearTimeout(this.#lingerTimer);
    this.#lingerTimer = null;
    this.#run?.stop.abort();
    this.#run = null;
    this.#seconds.clear();
    this.#firstSeen.clear();
  }

  #start(): { stop: AbortController; caughtUp: Promise<void>; done: Promise<void> } {
    const stop = new AbortController();
    let markCaughtUp!: () => void;
    const caughtUp = new Promise<void>((resolve) => (markCaughtUp = resolve));
    const done = this.#read(stop.signal, markCaughtUp).finally(markCaughtUp);
    return { stop, caughtUp, done };
  }

  async #read(signal: AbortSignal, markCaughtUp: () => void): Promise<void> {
    let caughtUp = false;
    await followEvents(
      { store: this.#store, after: EVENTS_START, read: { names: NAMES, limit: READ_LIMIT }, blockMs: 0, signal, logger: this.#logger, what: 'recent activity' },
      (result) => {
        for (const event of result.events) this.#count(event);
        // Reads do not wait until the retained events are all counted.
        if (!caughtUp && result.events.length < READ_LIMIT) {
          caughtUp = true;
          markCaughtUp();
        }
        return caughtUp ? READ_BLOCK_MS : 0;
      },
    );
  }

  #count(event: TaskEvent): void {
    if (!this.#firstSeen.has(event.queue)) this.#firstSeen.set(event.queue, event.at);
    if (event.at < this.#now() - this.#windowMs) return;
    const second = Math.floor(event.at / 1000);
    let queues = this.#seconds.get(second);
    if (queues === undefined) {
      queues = new Map();
      this.#seconds.set(second, queues);
      this.#prune();
    }
    let tally = queues.get(event.queue);
    if (tally === undefined) {
      tally = { completed: 0, failed: 0, claimed: 0, waitMsSum: 0 };
      queues.set(event.queue, tally);
    }
    if (event.name === 'task:completed') tally.completed += 1;
    else if (event.name === 'task:failed' || event.name === 'task:dead') tally.failed += 1;
    else if (event.name === 'task:claimed' && event.waitMs !== undefined) {
      tally.claimed += 1;
      tally.waitMsSum += event.waitMs;
    }
  }

  #prune(): void {
    const oldest = Math.floor((this.#now() - this.#windowMs) / 1000);
    for (const second of this.#seconds.keys()) if (second <= oldest) this.#seconds.delete(second);
  }

  #snapshot(): ActivitySnapshot {
    this.#prune();
    const now = this.#now();
    const windowSeconds = Math.round(this.#windowMs / 1000);
    const last = Math.floor(now / 1000);
    const seconds: number[] = [];
    const completed: number[] = [];
    const failed: number[] = [];
    const perQueue = new Map<string, Tally>();
    for (let second = last - windowSeconds + 1; second <= last; second += 1) {
      let c = 0;
      let f = 0;
      for (const [queue, tally] of this.#seconds.get(second) ?? []) {
        c += tally.completed;
        f += tally.failed;
        const sum = perQueue.get(queue) ?? { completed: 0, failed: 0, claimed: 0, waitMsSum: 0 };
        sum.completed += tally.completed;
        sum.failed += tally.failed;
        sum.claimed += tally.claimed;
        sum.waitMsSum += tally.waitMsSum;
        perQueue.set(queue, sum);
      }
      seconds.push(second);
      completed.push(c);
      failed.push(f);
    }
    const windowStart = now - this.#windowMs;
    // A queue's counts are complete from its first retained event (or from the window's start when
    // that is older): before it, the store may have trimmed some. (A queue younger than the window
    // reads the same way; nothing tells the two apart.)
    let countedSince = windowStart;
    for (const at of this.#firstSeen.values()) countedSince = Math.max(countedSince, Math.min(at, now));
    const queues = [...perQueue]
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([queue, t]) => ({
        queue,
        completed: t.completed,
        failed: t.failed,
        claimed: t.claimed,
        waitMsAvg: t.claimed === 0 ? null : Math.round(t.waitMsSum / t.claimed),
      }));
    return { windowSeconds, now, countedSince, series: { seconds, completed, failed }, queues };
  }
}
