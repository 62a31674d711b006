/** The shared workloads: 100-byte payloads (`--payload`), enqueueing N tasks two ways, waiting for a drain. */
import type { Child } from './children.js';
import type { QueueClient } from './systems.js';

export const DEFAULT_PAYLOAD_BYTES = 100;
let payloadBytes = DEFAULT_PAYLOAD_BYTES;

/** `fields` plus a `pad` string that makes the payload exactly `payloadBytes` of JSON. */
export function paddedPayload(fields: Record<string, number | string> = {}): Record<string, number | string> {
  const base = JSON.stringify({ ...fields, pad: '' }).length;
  return { ...fields, pad: 'x'.repeat(Math.max(0, payloadBytes - base)) };
}

/** The payload of every no-op task (shared: both clients serialize it, neither changes it). */
export let NOOP_PAYLOAD = paddedPayload();

/** `--payload`: set once, before any scenario runs. */
export function setPayloadBytes(bytes: number): void {
  payloadBytes = bytes;
  NOOP_PAYLOAD = paddedPayload();
}

export function getPayloadBytes(): number {
  return payloadBytes;
}

export const BATCH_SIZE = 1_000;

/** N tasks in batches of `batchSize`, one batch in flight at a time. */
export async function enqueueInBatches(q: QueueClient, n: number, batchSize = BATCH_SIZE): Promise<void> {
  for (let done = 0; done < n; done += batchSize) {
    const size = Math.min(batchSize, n - done);
    await q.addBatch(Array.from({ length: size }, () => NOOP_PAYLOAD));
  }
}

/** N tasks one per call, with `inFlight` calls outstanding at any time. */
export async function enqueueInFlight(q: QueueClient, n: number, inFlight: number): Promise<void> {
  let next = 0;
  // `inFlight` lanes, each submitting one task after the other until N are taken.
  const lane = async (): Promise<void> => {
    while (next < n) {
      next += 1;
      await q.add(NOOP_PAYLOAD);
    }
  };
  await Promise.all(Array.from({ length: Math.min(inFlight, n) }, lane));
}

export interface WaitOptions {
  /** How often to ask the store, at most (see POLL_COST_FACTOR). */
  pollMs: number;
  /** Worker processes that must stay alive meanwhile (one that dies fails the wait at once). */
  children?: readonly Child[];
  /** Give up when the count has not moved for this long. */
  stallMs?: number;
}

const DEFAULT_STALL_MS = 60_000;
/**
 * A count that takes long (SQLite counts by scanning: ~30 ms at 100,000 tasks on a loaded
 * two-core machine) is asked at most every this many times its own duration, so that polling
 * takes at most ~10% of a core away from the workers it is timing.
 */
const POLL_COST_FACTOR = 10;

/**
 * Polls until the store reports at least `n` completed tasks; resolves with `performance.now()`
 * at the poll that saw them (so the measured time is late by at most one poll interval and count).
 */
export async function waitForCompleted(q: QueueClient, n: number, options: WaitOptions): Promise<number> {
  const stallMs = options.stallMs ?? DEFAULT_STALL_MS;
  let last = -1;
  let lastChange = performance.now();
  for (;;) {
    const asked = performance.now();
    const completed = await q.completed();
    const now = performance.now();
    if (completed >= n) return now;
    if (completed !== last) {
      last = completed;
      lastChange = now;
    } else if (now - lastChange > stallMs) {
      throw new Error(`${q.name}: stuck at ${completed}/${n} completed for ${Math.round(stallMs / 1000)} s`);
    }
    for (const child of options.children ?? []) {
      if (!child.alive()) throw new Error(`${child.name} exited while draining (${completed}/${n} completed); stderr:\n${child.stderr().trim()}`);
    }
    await new Promise((resolve) => setTimeout(resolve, Math.max(options.pollMs, POLL_COST_FACTOR * (now - asked))));
  }
}
