import type { Clock } from '../../src/clock.js';

/** A realistic, fixed start: far from 0 so that "now - x" never goes negative by accident. */
export const FAKE_CLOCK_START = Date.parse('2030-01-01T00:00:00Z');

/** A clock that only moves when a test moves it, so delays, leases and deadlines are exact. */
export class FakeClock implements Clock {
  #now: number;

  constructor(start: number = FAKE_CLOCK_START) {
    this.#now = start;
  }

  now(): number {
    return this.#now;
  }

  advance(ms: number): number {
    if (ms < 0) throw new Error(`FakeClock.advance(${ms}): time only moves forward; use set() to go back`);
    this.#now += ms;
    return this.#now;
  }

  set(ms: number): void {
    this.#now = ms;
  }
}
