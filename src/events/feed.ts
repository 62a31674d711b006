/**
 * The library's view of the store's task events: one read loop per feed, shared by every
 * subscriber of the process (`client.on(...)`, `client.waitFor(...)`), started by the first
 * subscriber and stopped when the last one leaves, so an unused feed costs nothing.
 *
 * The loop long-polls `store.readEvents` (Redis: one shared blocking connection; SQLite: woken by
 * commits, and by `PRAGMA data_version` for other processes), backs off on store errors and never
 * spins. Delivery is at most once per subscriber and in feed order; a subscriber that must not
 * miss anything across restarts reads `store.readEvents` itself from a saved position, as
 * `GET /api/v1/events` does with `Last-Event-ID`.
 */
import { silentLogger, type Logger } from '../logger.js';
import type { Store } from '../store/store.js';
import type { TaskEvent, TaskEventName } from '../types.js';
import { followEvents } from './follow.js';

/** Events per read: a burst is delivered in a few calls, not one per event. */
const READ_LIMIT = 1_000;
/** How long one read waits for something to arrive; a stop ends it at once. */
const READ_BLOCK_MS = 10_000;

export type TaskEventListener<E extends TaskEvent = TaskEvent> = (event: E) => void;

/** Which events a subscriber wants; an absent field matches everything. */
export interface TaskEventFilter {
  names?: readonly TaskEventName[];
  queues?: readonly string[];
  types?: readonly string[];
  taskIds?: readonly string[];
}

interface Subscription {
  filter: CompiledFilter;
  listener: TaskEventListener;
}

interface CompiledFilter {
  names: ReadonlySet<string> | null;
  queues: ReadonlySet<string> | null;
  types: ReadonlySet<string> | null;
  taskIds: ReadonlySet<string> | null;
}

function compile(filter: TaskEventFilter): CompiledFilter {
  const set = (values: readonly string[] | undefined): ReadonlySet<string> | null => (values === undefined ? null : new Set(values));
  return { names: set(filter.names), queues: set(filter.queues), types: set(filter.types), taskIds: set(filter.taskIds) };
}

function matches(filter: CompiledFilter, event: TaskEvent): boolean {
  return (
    (filter.names === null || filter.names.has(event.name)) &&
    (filter.queues === null || filter.queues.has(event.queue)) &&
    (filter.types === null || filter.types.has(event.type)) &&
    (filter.taskIds === null || filter.taskIds.has(event.taskId))
  );
}

export interface TaskEventFeedOptions {
  store: Store;
  /** Store errors (the loop retries) and listener errors (the listener is kept) are logged here. */
  logger?: Logger;
}

export class TaskEventFeed {
  readonly #store: Store;
  readonly #logger: Logger;
  readonly #subscriptions = new Set<Subscription>();
  #loop: { stop: AbortController; started: Promise<void>; done: Promise<void> } | null = null;

  constructor(options: TaskEventFeedOptions) {
    this.#store = options.store;
    this.#logger = (options.logger ?? silentLogger).child({ component: 'event-feed' });
  }

  /** Subscribers now listening. */
  get size(): number {
    return this.#subscriptions.size;
  }

  /**
   * Calls `listener` for each matching event written after the feed started reading. Returns the
   * unsubscribe function. Await `ready()` to know from when events are seen.
   */
  subscribe(filter: TaskEventFilter, listener: TaskEventListener): () => void {
    const subscription: Subscription = { filter: compile(filter), listener };
    this.#subscriptions.add(subscription);
    this.#loop ??= this.#start();
    return () => {
      if (!this.#subscriptions.delete(subscription)) return;
      if (this.#subscriptions.size === 0) this.#stopLoop();
    };
  }

  /**
   * Resolves once the feed holds its starting position: every event written after this resolved
   * reaches the subscribers. Resolves at once when nobody subscribed.
   */
  async ready(): Promise<void> {
    await this.#loop?.started;
  }

  /** Stops reading and drops every subscriber. */
  async close(): Promise<void> {
    this.#subscriptions.clear();
    const loop = this.#loop;
    this.#stopLoop();
    await loop?.done;
  }

  #stopLoop(): void {
    this.#loop?.stop.abort();
    this.#loop = null;
  }

  #start(): { stop: AbortController; started: Promise<void>; done: Promise<void> } {
    const stop = new AbortController();
    let markStarted!: () => void;
    const started = new Promise<void>((resolve) => (markStarted = resolve));
    const done = this.#run(stop.signal, markStarted).finally(markStarted);
    return { stop, started, done };
  }

  async #run(signal: AbortSignal, markStarted: () => void): Promise<void> {
    // The first read, from null, only takes the current position (it does not wait): a subscriber
    // that awaited ready() then sees everything written after it.
    await followEvents(
      { store: this.#store, after: null, read: { limit: READ_LIMIT }, blockMs: 0, signal, logger: this.#logger, what: 'event feed' },
      (result, after) => {
        if (after === null) markStarted();
        for (const event of result.events) this.#dispatch(event);
        return READ_BLOCK_MS;
      },
    );
  }

  #dispatch(event: TaskEvent): void {
    for (const subscription of [...this.#subscriptions]) {
      if (!matches(subscription.filter, event)) continue;
      try {
        subscription.listener(event);
      } catch (err) {
        this.#logger.error({ err, event: event.name, taskId: event.taskId }, 'event feed: a listener threw; it stays subscribed');
      }
    }
  }
}
