/**
 * Blocking reads of the event feed (`readEvents` with `blockMs`): a reader that found nothing waits
 * here until a row newer than the last one it read exists.
 *
 * This process's own writes call `notify` right after the commit that wrote a row. Other processes
 * (and other connections of this one) sharing the file cannot call anything here, so while anyone
 * waits the store's `DataVersionWatch` is subscribed, once for every waiter; when another
 * connection committed, the newest row id is read once and the waiters behind it are woken. Nobody
 * waiting: no subscription. Like `WorkSignal`, a wait never rejects: it ends on a new row, on
 * timeout, on abort, or when the store closes, and the reader reads again.
 */
import type { DataVersionWatch } from './data-version.js';

export interface EventSignalOptions {
  /** The id of the newest `events` row (0 when none). */
  lastRowId: () => number;
  /** The store's watch for other connections' commits. */
  watch: DataVersionWatch;
}

interface Waiter {
  /** Woken by any row newer than this. */
  afterRow: number;
  finish(): void;
}

/** setTimeout's ceiling; a longer wait just ends early, and the reader reads again. */
const MAX_TIMER_MS = 2 ** 31 - 1;

export class EventSignal {
  private readonly waiters = new Set<Waiter>();
  private unwatch: (() => void) | null = null;
  private closed = false;

  constructor(private readonly options: EventSignalOptions) {}

  /** Called after a commit of this connection wrote row `rowId`. */
  notify(rowId: number): void {
    if (this.waiters.size === 0) return;
    this.wake(rowId);
  }

  /** Resolves once a row newer than `afterRow` exists, after `timeoutMs`, on abort or on close. */
  wait(afterRow: number, timeoutMs: number, signal?: AbortSignal): Promise<void> {
    if (this.closed || signal?.aborted === true || timeoutMs <= 0) return Promise.resolve();
    return new Promise<void>((resolve) => {
      let done = false;
      const finish = (): void => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        signal?.removeEventListener('abort', finish);
        this.remove(waiter);
        resolve();
      };
      const waiter: Waiter = { afterRow, finish };
      const timer = setTimeout(finish, Math.min(timeoutMs, MAX_TIMER_MS));
      signal?.addEventListener('abort', finish, { once: true });
      this.waiters.add(waiter);
      // The watch's reference version is read before the newest row is: a commit by another
      // process between the reader's read and now is either seen here or moves the version.
      this.unwatch ??= this.options.watch.subscribe(() => this.check());
      this.check();
    });
  }

  /** Ends every wait (the last one leaving unsubscribes from the watch). */
  close(): void {
    this.closed = true;
    for (const waiter of [...this.waiters]) waiter.finish();
  }

  private wake(newestRow: number): void {
    for (const waiter of [...this.waiters]) if (waiter.afterRow < newestRow) waiter.finish();
  }

  /** Reads the newest row id and wakes the waiters behind it. */
  private check(): void {
    let newest: number;
    try {
      newest = this.options.lastRowId();
    } catch {
      // The database is closing or busy: let the readers come back and find out.
      for (const waiter of [...this.waiters]) waiter.finish();
      return;
    }
    this.wake(newest);
  }

  private remove(waiter: Waiter): void {
    if (!this.waiters.delete(waiter) || this.waiters.size > 0) return;
    this.unwatch?.();
    this.unwatch = null;
  }
}
