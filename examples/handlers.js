/**
 * A handlers module for `conveyor start --handlers examples/handlers.js` (and `conveyor worker`):
 * a plain ES module whose default export maps task types to `async (task, ctx) => result`.
 *
 * - `ctx.signal` is aborted on timeout, cancel, deadline and shutdown: pass it on to what you await.
 * - `ctx.progress(value)` reports progress (any JSON); `conveyor submit --wait` shows it.
 * - Throwing fails the attempt (it is retried with backoff); an error with `permanent: true`
 *   skips the remaining retries.
 *
 * The built-in `http` task type is always there besides these.
 */
import { setTimeout as sleep } from 'node:timers/promises';

/** An error that no retry can fix: the task goes to the dead-letter queue at once. */
function permanent(message) {
  return Object.assign(new Error(message), { permanent: true });
}

export default {
  /** payload: { to, subject? }. Pretends to send an email. */
  'email.send': async (task, ctx) => {
    const { to, subject = '(no subject)' } = task.payload ?? {};
    if (typeof to !== 'string' || !to.includes('@')) throw permanent(`payload.to must be an email address (got ${JSON.stringify(to)})`);
    await sleep(50, undefined, { signal: ctx.signal });
    ctx.logger.info({ to, subject }, 'email sent');
    return { sent: true, to, subject, at: new Date().toISOString() };
  },

  /** payload: { rows?, steps? }. Builds a report in steps, reporting progress after each. */
  'report.build': async (task, ctx) => {
    const { rows = 1000, steps = 5 } = task.payload ?? {};
    for (let step = 1; step <= steps; step += 1) {
      await sleep(200, undefined, { signal: ctx.signal });
      ctx.progress({ step, of: steps, percent: Math.round((step / steps) * 100) });
    }
    return { rows, url: `file:///tmp/report-${task.id}.csv` };
  },
};
