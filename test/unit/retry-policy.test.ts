import { describe, expect, it } from 'vitest';
import { DEFAULT_BACKOFF, DEFAULT_RETRIES, retryDelayMs } from '../../src/retry/retry-policy.js';
import type { BackoffPolicy } from '../../src/types.js';

function policy(overrides: Partial<BackoffPolicy>): BackoffPolicy {
  return { kind: 'exponential', delayMs: 1000, maxDelayMs: 3_600_000, jitter: 0, ...overrides };
}

const low = () => 0;
const high = () => 1;
const mid = () => 0.5;

describe('retryDelayMs', () => {
  it('fixed: the same delay after every attempt', () => {
    const p = policy({ kind: 'fixed', delayMs: 250 });
    expect([1, 2, 3, 10].map((n) => retryDelayMs(p, n))).toEqual([250, 250, 250, 250]);
  });

  it('exponential: doubles from delayMs, attempt 1 waits delayMs', () => {
    const p = policy({ kind: 'exponential', delayMs: 100 });
    expect([1, 2, 3, 4, 5].map((n) => retryDelayMs(p, n))).toEqual([100, 200, 400, 800, 1600]);
  });

  it('linear: grows by delayMs per attempt', () => {
    const p = policy({ kind: 'linear', delayMs: 300 });
    expect([1, 2, 3, 7].map((n) => retryDelayMs(p, n))).toEqual([300, 600, 900, 2100]);
  });

  it('caps every kind at maxDelayMs', () => {
    expect(retryDelayMs(policy({ kind: 'exponential', delayMs: 1000, maxDelayMs: 5000 }), 4)).toBe(5000);
    expect(retryDelayMs(policy({ kind: 'linear', delayMs: 1000, maxDelayMs: 2500 }), 3)).toBe(2500);
    expect(retryDelayMs(policy({ kind: 'fixed', delayMs: 9000, maxDelayMs: 4000 }), 1)).toBe(4000);
  });

  it('jitter spreads the delay over [d(1-j), d(1+j)]', () => {
    const p = policy({ kind: 'fixed', delayMs: 1000, jitter: 0.2 });
    expect(retryDelayMs(p, 1, low)).toBe(800);
    expect(retryDelayMs(p, 1, mid)).toBe(1000);
    expect(retryDelayMs(p, 1, high)).toBe(1200);
    for (let i = 0; i < 200; i++) {
      const d = retryDelayMs(p, 3);
      expect(d).toBeGreaterThanOrEqual(800);
      expect(d).toBeLessThanOrEqual(1200);
      expect(Number.isInteger(d)).toBe(true);
    }
  });

  it('jitter applies after the cap', () => {
    const p = policy({ kind: 'exponential', delayMs: 1000, maxDelayMs: 2000, jitter: 0.5 });
    expect(retryDelayMs(p, 10, low)).toBe(1000);
    expect(retryDelayMs(p, 10, high)).toBe(3000);
  });

  it('full jitter never goes negative, and out-of-range jitter or random values are clamped', () => {
    expect(retryDelayMs(policy({ kind: 'fixed', delayMs: 1000, jitter: 1 }), 1, low)).toBe(0);
    expect(retryDelayMs(policy({ kind: 'fixed', delayMs: 1000, jitter: 5 }), 1, low)).toBe(0);
    expect(retryDelayMs(policy({ kind: 'fixed', delayMs: 1000, jitter: 0.1 }), 1, () => -3)).toBe(900);
    expect(retryDelayMs(policy({ kind: 'fixed', delayMs: 1000, jitter: 0.1 }), 1, () => 7)).toBe(1100);
    expect(retryDelayMs(policy({ kind: 'fixed', delayMs: 1000, jitter: 0.1 }), 1, () => Number.NaN)).toBe(1000);
  });

  it('rounds to whole milliseconds', () => {
    expect(retryDelayMs(policy({ kind: 'fixed', delayMs: 3, jitter: 0.5 }), 1, () => 0.3)).toBe(2);
  });

  it('huge attempt numbers give the cap, never Infinity or NaN', () => {
    for (const kind of ['fixed', 'exponential', 'linear'] as const) {
      for (const attempt of [1024, 1025, 5000, 1e9, Number.MAX_SAFE_INTEGER, Number.POSITIVE_INFINITY]) {
        const d = retryDelayMs(policy({ kind, delayMs: 1000, maxDelayMs: 60_000, jitter: 0.1 }), attempt, high);
        expect(Number.isFinite(d)).toBe(true);
        expect(d).toBeLessThanOrEqual(66_000);
      }
    }
    expect(retryDelayMs(policy({ kind: 'exponential', delayMs: 0 }), 1e6)).toBe(0);
    expect(retryDelayMs(policy({ kind: 'exponential', delayMs: 1000, maxDelayMs: 60_000 }), 1e6)).toBe(60_000);
  });

  it('treats attempts below 1 (or NaN) as the first', () => {
    const p = policy({ kind: 'exponential', delayMs: 100 });
    expect(retryDelayMs(p, 0)).toBe(100);
    expect(retryDelayMs(p, -5)).toBe(100);
    expect(retryDelayMs(p, Number.NaN)).toBe(100);
  });
});

describe('defaults', () => {
  it('match the documented policy', () => {
    expect(DEFAULT_RETRIES).toBe(3);
    expect(DEFAULT_BACKOFF).toEqual({ kind: 'exponential', delayMs: 1000, maxDelayMs: 3_600_000, jitter: 0.1 });
    expect(Object.isFrozen(DEFAULT_BACKOFF)).toBe(true);
  });

  it('the default backoff waits about 1 s, 2 s, 4 s', () => {
    expect([1, 2, 3].map((n) => retryDelayMs(DEFAULT_BACKOFF, n, mid))).toEqual([1000, 2000, 4000]);
    expect(retryDelayMs(DEFAULT_BACKOFF, 1, low)).toBe(900);
    expect(retryDelayMs(DEFAULT_BACKOFF, 1, high)).toBe(1100);
  });
});
