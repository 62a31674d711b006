import type { WaitForWorkParams } from '../store.js';
import type { DataVersionWatch } from './data-version.js';

/**
 * The in-process stand-in for Redis's blocking wait. Writers announce, after their transaction
 * committed, which queues got claimable work (now, or after a delay); `wait` resolves a waiter on
 * such an announcement for one of its queues, when the earliest scheduled task in its queues comes
 * due, on timeout, or on abort. It never rejects: it is a hint, and the caller claims afterwards.
 *
 * Other processes (and other connections of this one) writing the same file cannot announce
 * anything here, so while anyone waits, the store's `DataVersionWatch` is subscribed: when another
 * connection committed, each waiter asks the database again whether its queues have work. Nobody
 * waiting: no subscription, and no timer at all.
 */

/** Work that became claimable in `queue`, or will in `dueInMs`. */
export interface WakeNote {
  queue: string;
  dueInMs: number;
}

/**
 * Asks the database about `queues` at `now`: `true` when a claim would find work, else the epoch ms
 * at which the next scheduled task comes due, or null when there is none.
 */
export type WorkProbe = (queues: readonly string[], now: number) => true | number | null;

export interface WorkSignalOptions {
  probe: WorkProbe;
  /** The store's watch for other connections' commits. */
  watch: DataVersionWatch;
}

interface Waiter {
  queues: readonly string[];
  /** Wake up by `at` (epoch ms) at the latest. */
  wakeBy(at: number): void;
  /** The database changed underneath: ask it again. */
  recheck(): void;
  finish(): void;
}

/** setTimeout's ceiling; a longer wait just wakes early, which a hint may do. */
const MAX_TIMER_MS = 2 ** 31 - 1;

export class WorkSignal {
  private readonly waiters = new Set<Waiter>();
  private readonly byQueue = new Map<string, Set<Waiter>>();
  private unwatch: (() => void) | null = null;
  private closed = false;

  constructor(private readonly options: WorkSignalOptions) {}

  /** Called after a commit with the notes its operation collected. */
  announce(notes: readonly WakeNote[]): void {
    if (notes.length === 0 || this.waiters.size === 0) return;
    const now = Date.now();
    for (const note of notes) {
      const waiters = this.byQueue.get(note.queue);
      if (waiters === undefined) continue;
      for (const waiter of waiters) waiter.wakeBy(now + Math.max(0, note.dueInMs));
    }
  }

  wait(p: WaitForWorkParams): Promise<void> {
    if (this.closed || p.signal?.aborted === true || p.timeoutMs <= 0 || p.queues.length === 0) {
      return Promise.resolve();
    }
    return new Promise<void>((resolve) => {
      const timeoutAt = Date.now() + p.timeoutMs;
      let timer: NodeJS.Timeout | undefined;
      let wakeAt = Infinity;
      let done = false;

      const finish = (): void => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        p.signal?.removeEventListener('abort', finish);
        this.remove(waiter);
        resolve();
      };
      const wakeBy = (at: number): void => {
        if (done) return;
        const target = Math.min(at, timeoutAt);
        if (target >= wakeAt) return;
        const delay = target - Date.now();
        if (delay <= 0) {
          finish();
          return;
        }
        clearTimeout(timer);
        wakeAt = target;
        timer = setTimeout(finish, Math.min(delay, MAX_TIMER_MS));
      };
      const recheck = (): void => {
        if (done) return;
        let found: true | number | null;
        try {
          found = this.options.probe(p.queues, Date.now());
        } catch {
          // The database is closing or busy: let the caller come back and find out.
          finish();
          return;
        }
        if (found === true) finish();
        else if (found !== null) wakeBy(found);
      };
      const waiter: Waiter = { queues: p.queues, wakeBy, recheck, finish };

      p.signal?.addEventListener('abort', finish, { once: true });
      this.add(waiter);
      wakeBy(timeoutAt);
      // Work that arrived between the caller's last claim and now (from another process, say) was
      // announced to nobody: look once before sleeping.
      recheck();
    });
  }

  /** Resolves every waiter (the last one leaving unsubscribes from the watch). */
  close(): void {
    this.closed = true;
    for (const waiter of [...this.waiters]) waiter.finish();
  }

  private add(waiter: Waiter): void {
    this.waiters.add(waiter);
    for (const queue of waiter.queues) {
      let set = this.byQueue.get(queue);
      if (set === undefined) {
        set = new Set();
        this.byQueue.set(queue, set);
      }
      set.add(waiter);
    }
    this.unwatch ??= this.options.watch.subscribe(() => {
      for (const each of [...this.waiters]) each.recheck();
    });
  }

  private remove(waiter: Waiter): void {
    if (!this.waiters.delete(waiter)) return;
    for (const queue of waiter.queues) {
      const set = this.byQueue.get(queue);
      if (set === undefined) continue;
      set.delete(waiter);
      if (set.size === 0) this.byQueue.delete(queue);
    }
    if (this.waiters.size > 0) return;
    this.unwatch?.();
    this.unwatch = null;
  }
}
