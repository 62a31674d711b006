/**
 * Retry policy: how long a failed task waits before its next attempt. Pure functions over the
 * `BackoffPolicy` data every task carries, so the worker, the HTTP worker protocol and the tests all
 * compute the same delays.
 */
import type { BackoffPolicy } from '../types.js';

/** Retries after the first attempt when a submit names none (so 4 attempts in all). */
export const DEFAULT_RETRIES = 3;

/** The backoff a submit gets for every field it leaves out: 1 s, 2 s, 4 s … up to 1 h, ±10 %. */
export const DEFAULT_BACKOFF: Readonly<BackoffPolicy> = Object.freeze({
  kind: 'exponential',
  delayMs: 1000,
  maxDelayMs: 60 * 60 * 1000,
  jitter: 0.1,
});

/**
 * The delay before the next attempt after attempt `attempt` (1-based) failed, in whole
 * milliseconds:
 * - fixed: `delayMs`;
 * - exponential: `delayMs * 2^(attempt - 1)`;
 * - linear: `delayMs * attempt`;
 *
 * each capped at `maxDelayMs`, then spread uniformly over `[d·(1 − jitter), d·(1 + jitter)]` by
 * `random` (a function returning [0, 1), injectable for tests). Never negative, never NaN or
 * Infinity, whatever the attempt number (a task that lost many leases can have a large one).
 */
export function retryDelayMs(policy: BackoffPolicy, attempt: number, random: () => number = Math.random): number {
  const n = Number.isFinite(attempt) ? Math.max(1, Math.floor(attempt)) : 1;
  const base = nonNegative(policy.delayMs);
  const cap = nonNegative(policy.maxDelayMs);

  let delay: number;
  switch (policy.kind) {
    case 'fixed':
      delay = base;
      break;
    case 'exponential':
      // 2 ** 1100 is Infinity; Infinity capped below is fine, but 0 * Infinity is NaN: skip it.
      delay = base === 0 ? 0 : base * 2 ** Math.min(n - 1, 1100);
      break;
    case 'linear':
      delay = base * n;
      break;
    default:
      delay = base;
  }
  delay = Math.min(delay, cap);

  const jitter = Math.min(1, nonNegative(policy.jitter));
  if (jitter > 0 && delay > 0) {
    const drawn = random();
    const r = Number.isFinite(drawn) ? Math.min(1, Math.max(0, drawn)) : 0.5;
    delay = delay * (1 - jitter) + r * 2 * jitter * delay;
  }
  return Math.max(0, Math.round(delay));
}

function nonNegative(value: number): number {
  return Number.isFinite(value) && value > 0 ? value : 0;
}
