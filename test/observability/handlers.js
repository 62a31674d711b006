/**
 * Handlers for the metrics test (test/observability/metrics.test.ts), loaded by a real
 * `conveyor start` / `conveyor worker` process: each type fails in a known way, so the test knows
 * exactly how many attempts end in each outcome.
 */
import { setTimeout as sleep } from 'node:timers/promises';

export default {
  /** Succeeds after a short pause (so the run lasts long enough to be scraped while it goes on). */
  ok: async (task, ctx) => {
    await sleep(2 + (task.payload?.n ?? 0) % 5, undefined, { signal: ctx.signal });
    return { ok: true };
  },
  /** Fails the first attempt, succeeds on the second: one retry each. */
  flaky: async (_task, ctx) => {
    if (ctx.attempt === 1) throw new Error('first attempt fails');
    return { ok: true, attempt: ctx.attempt };
  },
  /** Fails for good at once (no retry), whatever its retries. */
  doomed: async () => {
    throw Object.assign(new Error('cannot be done'), { permanent: true });
  },
  /** Fails every attempt: submitted with one retry, it fails once (retried), then ends dead. */
  exhausted: async () => {
    throw new Error('always fails');
  },
};
