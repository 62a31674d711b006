import type { Store, WorkerInfo } from '../store/store.js';
import type { Logger } from './handlers.js';

export const HEARTBEAT_INTERVAL_MS = 5_000;
/** An entry outlives three missed heartbeats, then it is no longer listed. */
export const HEARTBEAT_TTL_FACTOR = 3;

/**
 * Keeps the worker's entry in the registry: one heartbeat at start, then every `intervalMs`,
 * rescheduled after each write (never overlapping), and a deregistration at stop. A failed
 * heartbeat is logged and tried again at the next tick: the registry is for people and the leader's
 * housekeeping, never a reason to stop working.
 */
export class Heartbeat {
  readonly #store: Store;
  readonly #intervalMs: number;
  readonly #describe: () => Omit<WorkerInfo, 'lastHeartbeatAt'>;
  readonly #logger: Logger;
  #timer: NodeJS.Timeout | undefined;
  #inFlight: Promise<void> | undefined;
  #stopped = true;

  constructor(store: Store, describe: () => Omit<WorkerInfo, 'lastHeartbeatAt'>, logger: Logger, intervalMs = HEARTBEAT_INTERVAL_MS) {
    this.#store = store;
    this.#describe = describe;
    this.#logger = logger;
    this.#intervalMs = intervalMs;
  }

  async start(): Promise<void> {
    this.#stopped = false;
    await this.#beat();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    await this.#inFlight;
    const { id } = this.#describe();
    await this.#store.removeWorker({ id }).catch((err: unknown) => this.#logger.warn({ err }, 'heartbeat: could not deregister; the entry will expire'));
  }

  async #beat(): Promise<void> {
    this.#inFlight = this.#store
      .recordWorkerHeartbeat({ worker: this.#describe(), ttlMs: this.#intervalMs * HEARTBEAT_TTL_FACTOR })
      .catch((err: unknown) => this.#logger.warn({ err }, 'heartbeat: could not reach the store; trying again at the next tick'));
    await this.#inFlight;
    this.#inFlight = undefined;
    if (this.#stopped) return;
    this.#timer = setTimeout(() => void this.#beat(), this.#intervalMs);
  }
}
