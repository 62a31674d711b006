import { backoffDelayMs } from '../lifecycle/backoff.js';
import { sleep } from '../lifecycle/sleep.js';
import type { FinishItem, FinishOutcome, Store } from '../store/store.js';
import type { Logger } from './handlers.js';

/** How long outcomes gather before one store call writes them all. */
export const COMPLETER_BATCH_DELAY_MS = 2;
/** A batch this big is written at once. */
export const COMPLETER_BATCH_MAX = 500;

interface Pending {
  item: FinishItem;
  resolve(outcome: FinishOutcome): void;
}

/**
 * Writes the outcomes of attempts (complete, fail, release, cancel) in batches: outcomes that
 * arrive within a few milliseconds of each other share one `finishTasks` call. A batch the store
 * could not take is retried, with backoff, until it is accepted or the store refuses an item's
 * lease token (`lease_lost`, reported as such): an outcome is never dropped while the worker runs.
 * `flush` resolves once everything handed in so far is written.
 */
export class Completer {
  readonly #store: Store;
  readonly #logger: Logger;
  #queue: Pending[] = [];
  #timer: NodeJS.Timeout | undefined;
  #inFlight: Promise<void> | undefined;
  /** Set by `flush(deadline)`: retries stop at this time so shutdown cannot hang on a dead store. */
  #giveUpAt = Infinity;

  constructor(store: Store, logger: Logger) {
    this.#store = store;
    this.#logger = logger;
  }

  /** Queues an outcome; resolves with what the store did with it. */
  finish(item: FinishItem): Promise<FinishOutcome> {
    return new Promise((resolve) => {
      this.#queue.push({ item, resolve });
      if (this.#queue.length >= COMPLETER_BATCH_MAX) this.#kick(0);
      else this.#kick(COMPLETER_BATCH_DELAY_MS);
    });
  }

  get pending(): number {
    return this.#queue.length;
  }

  /**
   * Writes everything queued so far. With `deadline` (epoch ms), gives up retrying at that time:
   * the unwritten attempts keep their leases until they expire, and are then reclaimed and run
   * again (at least once), never lost.
   */
  async flush(deadline = Infinity): Promise<void> {
    this.#giveUpAt = deadline;
    try {
      while (this.#queue.length > 0 || this.#inFlight) {
        if (!this.#inFlight) this.#kick(0);
        await this.#inFlight;
        if (Date.now() >= deadline && !this.#inFlight) break;
      }
    } finally {
      this.#giveUpAt = Infinity;
    }
  }

  #kick(delayMs: number): void {
    // A write in flight takes whatever is queued when it finishes its batch.
    if (this.#inFlight || this.#queue.length === 0) return;
    if (this.#timer && delayMs > 0) return;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    if (delayMs > 0) {
      this.#timer = setTimeout(() => this.#kick(0), delayMs);
      return;
    }
    const writing = this.#writeAll();
    this.#inFlight = writing;
    void writing.finally(() => {
      if (this.#inFlight === writing) this.#inFlight = undefined;
      // Items that arrived as the last batch finished.
      this.#kick(COMPLETER_BATCH_DELAY_MS);
    });
  }

  async #writeAll(): Promise<void> {
    while (this.#queue.length > 0) {
      const batch = this.#queue.splice(0, COMPLETER_BATCH_MAX);
      await this.#write(batch);
    }
  }

  async #write(batch: Pending[]): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        const { items } = await this.#store.finishTasks({ items: batch.map((p) => p.item) });
        batch.forEach((pending, i) => pending.resolve(items[i]!.outcome));
        return;
      } catch (err) {
        const delay = backoffDelayMs(attempt);
        if (Date.now() + delay > this.#giveUpAt) {
          this.#logger.error(
            { err, tasks: batch.length, taskIds: batch.slice(0, 20).map((p) => p.item.id) },
            'completer: gave up writing outcomes at shutdown; their leases will expire and the tasks run again',
          );
          batch.forEach((pending) => pending.resolve('lease_lost'));
          return;
        }
        this.#logger.warn({ err, attempt, retryInMs: delay, tasks: batch.length }, 'completer: store refused a batch of outcomes; retrying');
        await sleep(delay);
      }
    }
  }
}
