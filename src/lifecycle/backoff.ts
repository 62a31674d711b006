/**
 * Delays for retrying a store call that failed: exponential from `baseMs` to `maxMs`, spread ±10 %
 * so that many workers do not retry in step after a shared outage. Reset the attempt count after
 * a success.
 */
export interface BackoffOptions {
  baseMs: number;
  maxMs: number;
}

export const STORE_RETRY_BACKOFF: BackoffOptions = { baseMs: 100, maxMs: 5_000 };

export function backoffDelayMs(attempt: number, options: BackoffOptions = STORE_RETRY_BACKOFF, random: () => number = Math.random): number {
  const exponent = Math.min(Math.max(attempt - 1, 0), 30);
  const delay = Math.min(options.maxMs, options.baseMs * 2 ** exponent);
  return Math.round(delay * (0.9 + 0.2 * random()));
}
