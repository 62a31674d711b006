import { backoffDelayMs } from '../lifecycle/backoff.js';
import { unlessAborted } from '../lifecycle/abortable.js';
import { sleep } from '../lifecycle/sleep.js';
import type { LeaderLease, Store } from '../store/store.js';
import type { Logger } from '../worker/handlers.js';

export const LEADER_LEASE_NAME = 'coordinator';
export const DEFAULT_LEADER_LEASE_MS = 10_000;
/** A follower tries this soon after the lease it saw expires, so takeovers do not collide in step. */
const TAKEOVER_JITTER_MS = 100;
/** The watchdog ends a term this long before the lease could expire, so terms never overlap. */
const WATCHDOG_MARGIN_MS = 100;

export interface LeaderElectorOptions {
  store: Store;
  nodeId: string;
  leaseMs?: number;
  logger: Logger;
  /** Called when this node becomes leader; the signal aborts when it stops being leader. */
  onElected(term: AbortSignal): void;
}

/**
 * Elects one leader among any number of nodes through the store's leader lease (Redis: a
 * token-fenced hash; SQLite: a row), alternating two states:
 *
 * - follower: reads the lease and sleeps until it expires (plus a little jitter), then tries to
 *   take it, so a dead leader is replaced right after its lease runs out;
 * - leader: renews every third of the lease length. A renewal the store refuses ends the term at
 *   once; a renewal that fails (store unreachable) is retried until the lease would have expired,
 *   then the term ends, since another node may hold it by then.
 *
 * The term's AbortSignal tells the duties to stop; `stop()` resigns the lease so a follower takes
 * over without waiting for it to expire.
 */
export class LeaderElector {
  readonly #o: LeaderElectorOptions;
  readonly #leaseMs: number;
  #lease: LeaderLease | undefined;
  #term: AbortController | undefined;
  #abort: AbortController | undefined;
  #done: Promise<void> | undefined;
  #watchdog: NodeJS.Timeout | undefined;

  constructor(options: LeaderElectorOptions) {
    this.#o = options;
    this.#leaseMs = options.leaseMs ?? DEFAULT_LEADER_LEASE_MS;
  }

  get isLeader(): boolean {
    return this.#term !== undefined && !this.#term.signal.aborted;
  }

  start(): void {
    if (this.#done) return;
    this.#abort = new AbortController();
    this.#done = this.#run(this.#abort.signal);
  }

  async stop(): Promise<void> {
    this.#abort?.abort();
    await this.#done;
    this.#done = undefined;
    const lease = this.#lease;
    this.#endTerm('stopping');
    if (lease) {
      await this.#o.store
        .resignLeadership({ name: LEADER_LEASE_NAME, nodeId: this.#o.nodeId, token: lease.token })
        .catch((err: unknown) => this.#o.logger.warn({ err }, 'leader: could not resign; the lease will expire'));
    }
  }

  async #run(signal: AbortSignal): Promise<void> {
    let failures = 0;
    while (!signal.aborted) {
      try {
        if (this.#lease) await this.#lead(signal);
        else await this.#follow(signal);
        failures = 0;
      } catch (err) {
        failures += 1;
        this.#o.logger.warn({ err, attempt: failures }, 'leader election: store call failed');
        await sleep(backoffDelayMs(failures), signal);
      }
    }
  }

  async #follow(signal: AbortSignal): Promise<void> {
    const sentAt = Date.now();
    const lease = await unlessAborted(this.#o.store.acquireLeadership({ name: LEADER_LEASE_NAME, nodeId: this.#o.nodeId, ttlMs: this.#leaseMs }), signal);
    if (signal.aborted) return;
    if (lease) {
      // Judged on this node's clock from before the call, so the term never outlives the lease.
      this.#lease = { ...lease, expiresAt: sentAt + this.#leaseMs };
      this.#term = new AbortController();
      this.#armWatchdog();
      this.#o.logger.info({ expiresAt: lease.expiresAt }, 'leader: elected');
      this.#o.onElected(this.#term.signal);
      return;
    }
    const holder = await unlessAborted(this.#o.store.getLeader({ name: LEADER_LEASE_NAME }), signal);
    // Sleep until the holder's lease would expire, but look again at least every third of a lease
    // so that a resignation (the lease freed early) is taken over soon.
    const untilExpiry = holder ? holder.expiresAt - Date.now() : 0;
    await sleep(Math.min(Math.max(untilExpiry, 0), this.#leaseMs / 3) + Math.random() * TAKEOVER_JITTER_MS, signal);
  }

  async #lead(signal: AbortSignal): Promise<void> {
    await sleep(this.#leaseMs / 3, signal);
    if (signal.aborted) return;
    const lease = this.#lease!;
    // The store's new expiry is at most this: judged from before the call, never after.
    const sentAt = Date.now();
    try {
      const renewed = await unlessAborted(
        this.#o.store.renewLeadership({ name: LEADER_LEASE_NAME, nodeId: this.#o.nodeId, token: lease.token, ttlMs: this.#leaseMs }),
        signal,
      );
      if (signal.aborted) return;
      if (renewed) {
        lease.expiresAt = sentAt + this.#leaseMs;
        this.#armWatchdog();
        return;
      }
      this.#endTerm('the lease was taken or expired');
    } catch (err) {
      // Unconfirmed past its expiry, the lease may be someone else's: stop leading.
      if (Date.now() >= lease.expiresAt - this.#leaseMs / 3) this.#endTerm('the store was unreachable until the lease ran out');
      throw err;
    }
  }

  /**
   * Ends the term when the lease would expire before a renewal confirmed it: a renewal call can
   * hang (a store that neither answers nor fails), and past its expiry the lease may be another's.
   */
  #armWatchdog(): void {
    clearTimeout(this.#watchdog);
    const lease = this.#lease;
    if (!lease) return;
    this.#watchdog = setTimeout(() => {
      if (this.#lease === lease) this.#endTerm('no renewal confirmed the lease before it expired');
    }, Math.max(0, lease.expiresAt - Date.now() - WATCHDOG_MARGIN_MS));
    this.#watchdog.unref();
  }

  #endTerm(why: string): void {
    clearTimeout(this.#watchdog);
    this.#watchdog = undefined;
    if (!this.#term) return;
    this.#term.abort();
    this.#term = undefined;
    this.#lease = undefined;
    this.#o.logger.info({ why }, 'leader: term ended');
  }
}
