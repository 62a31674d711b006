/**
 * Blocking reads of the event feed (`readEvents` with `blockMs`): a reader that found nothing waits
 * here until a row newer than the last one it read exists.
 *
 * This process's own writes call `notify` right after the commit that wrote a row. Other processes
 * (and other connections of this one) sharing the file cannot call anything here, so while anyone
 * waits ONE timer polls `PRAGMA data_version` (which moves when another connection committed) every
 * `crossProcessPollMs`, shared by every waiter; when it moved, the newest row id is read once and the
 * waiters behind it are woken. Nobody waiting: no timer. Like `WorkSignal`, a wait never rejects: it
 * ends on a new row, on timeout, on abort, or when the store closes, and the reader reads again.
 */

export interface EventSignalOptions {
  /** The id of the newest `events` row (0 when none). */
  lastRowId: () => number;
  /** Reads `PRAGMA data_version`; null when no other connection can write (`:memory:`). */
  dataVersion: (() => number) | null;
  crossProcessPollMs: number;
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
  private poll: NodeJS.Timeout | null = null;
  private lastDataVersion = 0;
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
      // The poll's reference version is read before the newest row is: a commit by another process
      // between the reader's read and now is either seen here or moves the version.
      this.startPolling();
      this.check();
    });
  }

  /** Ends every wait and stops polling. */
  close(): void {
    this.closed = true;
    for (const waiter of [...this.waiters]) waiter.finish();
    this.stopPolling();
  }

  /** How many readers wait (tests). */
  get waiting(): number {
    return this.waiters.size;
  }

  /** Whether the data_version poll runs (tests). */
  get polling(): boolean {
    return this.poll !== null;
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
    if (!this.waiters.delete(waiter)) return;
    if (this.waiters.size === 0) this.stopPolling();
  }

  private startPolling(): void {
    const read = this.options.dataVersion;
    if (read === null || this.poll !== null) return;
    try {
      this.lastDataVersion = read();
    } catch {
      return;
    }
    this.poll = setInterval(() => this.checkDataVersion(read), this.options.crossProcessPollMs);
    // The waiters' own timers keep the process alive for as long as a wait lasts.
    this.poll.unref();
  }

  private stopPolling(): void {
    if (this.poll === null) return;
    clearInterval(this.poll);
    this.poll = null;
  }

  private checkDataVersion(read: () => number): void {
    let version: number;
    try {
      version = read();
    } catch {
      return;
    }
    if (version === this.lastDataVersion) return;
    this.lastDataVersion = version;
    this.check();
  }
}
