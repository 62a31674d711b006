import { backoffDelayMs } from '../lifecycle/backoff.js';
import { sleep } from '../lifecycle/sleep.js';
import type { FinishItem, FinishOutcome, FinishTasksResult, Store } from '../store/store.js';
import type { Logger } from './handlers.js';

/** The most outcomes one `finishTasks` call carries; more wait for the next call. */
export const COMPLETER_BATCH_MAX = 500;

/** Told what the store did with one outcome. */
export interface FinishSink {
  written(outcome: FinishOutcome): void;
}

/**
 * Writes the outcomes of attempts (complete, fail, release, cancel) in batches, Nagle style:
 *
 * - with no write in flight, outcomes are written on the next macrotask (`setImmediate`), so the
 *   outcomes that arrive in the same tick (many slots finishing together) share one call, and a
 *   lone outcome (concurrency 1) waits for no timer;
 * - while a write is in flight, outcomes gather, and all of them are written as soon as it returns
 *   (in calls of at most COMPLETER_BATCH_MAX).
 *
 * So a store that answers fast gets small, prompt batches, and a slow one gets big ones. A batch the
 * store could not take is retried, with backoff, until it is accepted or the store refuses an item's
 * lease token (`lease_lost`, reported as such): an outcome is never dropped while the worker runs.
 * `flush` resolves once everything handed in so far is written.
 */
export class Completer {
  readonly #store: Store;
  readonly #logger: Logger;
  /** Queued outcomes and, at the same index, who is told what became of each. */
  #items: FinishItem[] = [];
  #sinks: FinishSink[] = [];
  #immediate: NodeJS.Immediate | undefined;
  #inFlight: Promise<void> | undefined;
  /** Set by `flush(deadline)`: retries stop at this time so shutdown cannot hang on a dead store. */
  #giveUpAt = Infinity;
  readonly #onImmediate = (): void => {
    this.#immediate = undefined;
    this.#kick();
  };

  constructor(store: Store, logger: Logger) {
    this.#store = store;
    this.#logger = logger;
  }

  /** Queues an outcome; resolves with what the store did with it. */
  finish(item: FinishItem): Promise<FinishOutcome> {
    return new Promise((resolve) => this.enqueue(item, { written: resolve }));
  }

  /** Queues an outcome; `sink.written` is called with what the store did with it. */
  enqueue(item: FinishItem, sink: FinishSink): void {
    this.#items.push(item);
    this.#sinks.push(sink);
    // A write in flight takes whatever is queued when it returns.
    if (this.#inFlight !== undefined || this.#immediate !== undefined) return;
    this.#immediate = setImmediate(this.#onImmediate);
  }

  get pending(): number {
    return this.#items.length;
  }

  /**
   * Writes everything queued so far. With `deadline` (epoch ms), gives up retrying at that time:
   * the unwritten attempts keep their leases until they expire, and are then reclaimed and run
   * again (at least once), never lost.
   */
  async flush(deadline = Infinity): Promise<void> {
    this.#giveUpAt = deadline;
    try {
      while (this.#items.length > 0 || this.#inFlight) {
        if (!this.#inFlight) this.#kick();
        await this.#inFlight;
        if (Date.now() >= deadline && !this.#inFlight) break;
      }
    } finally {
      this.#giveUpAt = Infinity;
    }
  }

  /** Starts writing now, unless a write is in flight (it takes what is queued) or nothing is queued. */
  #kick(): void {
    if (this.#inFlight !== undefined || this.#items.length === 0) return;
    if (this.#immediate !== undefined) {
      clearImmediate(this.#immediate);
      this.#immediate = undefined;
    }
    const writing = this.#writeAll();
    this.#inFlight = writing;
    void writing.finally(() => {
      if (this.#inFlight === writing) this.#inFlight = undefined;
      // Items that arrived as the last batch finished (#writeAll takes all others).
      this.#kick();
    });
  }

  /** Writes batches until nothing is queued: what arrives during a write goes in the next one. */
  async #writeAll(): Promise<void> {
    while (this.#items.length > 0) {
      let items: FinishItem[];
      let sinks: FinishSink[];
      if (this.#items.length <= COMPLETER_BATCH_MAX) {
        items = this.#items;
        sinks = this.#sinks;
        this.#items = [];
        this.#sinks = [];
      } else {
        items = this.#items.splice(0, COMPLETER_BATCH_MAX);
        sinks = this.#sinks.splice(0, COMPLETER_BATCH_MAX);
      }
      await this.#write(items, sinks);
    }
  }

  async #write(batch: FinishItem[], sinks: FinishSink[]): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      let written: FinishTasksResult['items'];
      try {
        written = (await this.#store.finishTasks({ items: batch })).items;
      } catch (err) {
        const delay = backoffDelayMs(attempt);
        if (Date.now() + delay > this.#giveUpAt) {
          this.#logger.error(
            { err, tasks: batch.length, taskIds: batch.slice(0, 20).map((item) => item.id) },
            'completer: gave up writing outcomes at shutdown; their leases will expire and the tasks run again',
          );
          for (const sink of sinks) tell(sink, 'lease_lost');
          return;
        }
        this.#logger.warn({ err, attempt, retryInMs: delay, tasks: batch.length }, 'completer: store refused a batch of outcomes; retrying');
        await sleep(delay);
        continue;
      }
      for (let i = 0; i < sinks.length; i++) tell(sinks[i]!, written[i]!.outcome);
      return;
    }
  }
}

/** A sink that throws (a logger) must neither stop the others nor fail the batch: its error surfaces on its own. */
function tell(sink: FinishSink, outcome: FinishOutcome): void {
  try {
    sink.written(outcome);
  } catch (err) {
    void Promise.reject(err);
  }
}
