/**
 * The one read loop over the store's task events, shared by the library's feed, the SSE stream and
 * the recent-activity counter: read from a position, hand each read to the caller, go on from the
 * returned cursor; on a store error, log, back off and read the same position again. It never
 * spins (each read blocks, or the caller asked for an immediate one) and ends when `signal` aborts.
 */
import { backoffDelayMs } from '../lifecycle/backoff.js';
import { sleep } from '../lifecycle/sleep.js';
import type { Logger } from '../logger.js';
import type { ReadEventsParams, ReadEventsResult, Store } from '../store/store.js';

export interface FollowEventsOptions {
  store: Store;
  /** Where to start: a position, `EVENTS_START`, or null for now. */
  after: string | null;
  /** What to read, and how many per read. */
  read: Pick<ReadEventsParams, 'queues' | 'names' | 'types' | 'limit'>;
  /** How long the first read may wait for something to arrive. */
  blockMs: number;
  signal: AbortSignal;
  logger: Logger;
  /** Names the loop in the warning a failed read logs. */
  what: string;
}

/**
 * Calls `onRead` with each read's result (possibly empty) and the position it read after, unless
 * `signal` aborted meanwhile. `onRead` returns how long the next read may wait.
 */
export async function followEvents(
  options: FollowEventsOptions,
  onRead: (result: ReadEventsResult, after: string | null) => number | Promise<number>,
): Promise<void> {
  const { store, signal, logger } = options;
  let after = options.after;
  let blockMs = options.blockMs;
  let failures = 0;
  while (!signal.aborted) {
    try {
      const result = await store.readEvents({ ...options.read, after, blockMs, signal });
      failures = 0;
      if (signal.aborted) break;
      blockMs = await onRead(result, after);
      after = result.cursor;
    } catch (err) {
      if (signal.aborted) break;
      failures += 1;
      const delayMs = backoffDelayMs(failures);
      logger.warn({ err, failures, delayMs }, `${options.what}: reading events failed; retrying`);
      await sleep(delayMs, signal);
    }
  }
}
