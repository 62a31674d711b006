import { backoffDelayMs } from '../lifecycle/backoff.js';
import type { LeaseRef, Store } from '../store/store.js';
import type { JsonValue } from '../types.js';
import type { Logger } from './handlers.js';

/** What the keeper holds for one leased task. */
export interface HeldLease {
  readonly lease: LeaseRef;
  /** The lease's expiry as the store last set it. */
  expiresAt: number;
  /** Called once when the lease is lost (stolen, reclaimed, expired, task gone). */
  onLost(): void;
  /** Called when the store reports a cancel request. */
  onCancelRequested(): void;
}

/** Progress waits at most this long for the next renewal to carry it to the store. */
export const PROGRESS_FLUSH_MS = 1_000;

/**
 * Renews every lease the worker holds (running and prefetched) in one `renewLeases` call, every
 * third of the lease length, and carries progress along. A lease the store reports lost, or one
 * whose expiry passes while the store cannot be reached, is reported through `onLost`: the task is
 * someone else's now, so its handler must stop and its outcome must not be written.
 */
export class LeaseKeeper {
  readonly #store: Store;
  readonly #leaseMs: number;
  readonly #logger: Logger;
  readonly #held = new Map<string, HeldLease>();
  readonly #progress = new Map<string, JsonValue>();
  #timer: NodeJS.Timeout | undefined;
  /** When the scheduled renewal runs (epoch ms). */
  #nextDue = 0;
  /**
   * The scheduled renewal runs within an interval of when it was scheduled, so no earlier than any
   * hold() would want it: hold() then needs no clock reading (it runs once per attempt).
   */
  #dueWithinInterval = false;
  #running: Promise<void> | undefined;
  #failures = 0;
  #stopped = true;

  constructor(store: Store, leaseMs: number, logger: Logger) {
    this.#store = store;
    this.#leaseMs = leaseMs;
    this.#logger = logger;
  }

  get size(): number {
    return this.#held.size;
  }

  start(): void {
    this.#stopped = false;
    if (this.#held.size > 0) this.#schedule(this.#interval());
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    await this.#running;
  }

  /** Holds a lease, or replaces the callbacks of one held already (a prefetched task starting). */
  hold(held: HeldLease): void {
    const id = held.lease.id;
    const known = this.#held.get(id);
    if (known && known.lease.token === held.lease.token) held.expiresAt = Math.max(held.expiresAt, known.expiresAt);
    this.#held.set(id, held);
    if (this.#timer !== undefined && this.#dueWithinInterval) return;
    this.#schedule(this.#interval());
  }

  release(id: string): void {
    this.#held.delete(id);
    if (this.#progress.size > 0) this.#progress.delete(id);
  }

  /** Whether the task reported progress that no renewal carried yet. */
  hasProgress(id: string): boolean {
    return this.#progress.size > 0 && this.#progress.has(id);
  }

  progress(id: string, value: JsonValue): void {
    if (!this.#held.has(id)) return;
    this.#progress.set(id, value);
    // Progress should show up soon, not a third of a lease later.
    this.#schedule(PROGRESS_FLUSH_MS);
  }

  /**
   * Writes the progress a task reported since the last renewal before its outcome is written: a
   * fast handler's last report would otherwise be lost. A failure is ignored (progress is a hint).
   */
  async flushProgress(id: string): Promise<void> {
    const held = this.#held.get(id);
    const progress = this.#progress.get(id);
    if (!held || progress === undefined) return;
    this.#progress.delete(id);
    await this.#store.renewLeases({ leases: [{ ...held.lease, progress }], leaseMs: this.#leaseMs }).catch(() => undefined);
  }

  #interval(): number {
    return Math.max(Math.floor(this.#leaseMs / 3), 10);
  }

  /** Runs the next renewal in `delayMs`, unless one is due sooner already. */
  #schedule(delayMs: number): void {
    if (this.#stopped) return;
    const due = Date.now() + delayMs;
    if (this.#timer && this.#nextDue <= due) return;
    clearTimeout(this.#timer);
    this.#nextDue = due;
    this.#dueWithinInterval = delayMs <= this.#interval();
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#running = this.#renew().finally(() => {
        this.#running = undefined;
      });
    }, delayMs);
  }

  async #renew(): Promise<void> {
    const held = [...this.#held.values()];
    // Nothing held: no timer until the next hold(), so an idle worker sleeps.
    if (held.length === 0) return;
    const leases = held.map(({ lease }) => {
      const progress = this.#progress.get(lease.id);
      return progress === undefined ? lease : { ...lease, progress };
    });
    const sentProgress = new Map(this.#progress);
    try {
      const result = await this.#store.renewLeases({ leases, leaseMs: this.#leaseMs });
      this.#failures = 0;
      for (const [id, value] of sentProgress) if (this.#progress.get(id) === value) this.#progress.delete(id);
      for (const { id, leaseExpiresAt } of result.renewed) {
        const entry = this.#held.get(id);
        if (entry) entry.expiresAt = leaseExpiresAt;
      }
      for (const id of result.lost) this.#lose(id);
      for (const id of result.cancelRequested) this.#held.get(id)?.onCancelRequested();
      this.#schedule(this.#interval());
    } catch (err) {
      this.#failures += 1;
      // Past its expiry a lease is the store's to give away: stop the handler rather than run twice.
      const now = Date.now();
      for (const entry of held) if (entry.expiresAt <= now) this.#lose(entry.lease.id);
      const retryIn = Math.min(backoffDelayMs(this.#failures), this.#interval());
      this.#logger.warn({ err, attempt: this.#failures, retryInMs: retryIn, leases: held.length }, 'lease keeper: renewal failed; retrying');
      this.#schedule(retryIn);
    }
  }

  #lose(id: string): void {
    const entry = this.#held.get(id);
    if (!entry) return;
    this.release(id);
    entry.onLost();
  }
}
