import type { Logger } from '../worker/handlers.js';
import { backoffDelayMs } from './backoff.js';
import { sleep } from './sleep.js';

export interface PeriodicTask {
  /** For logs: the service's name. */
  name: string;
  intervalMs: number;
  /**
   * One run. Resolves `true` when it stopped at its batch limit with more left, so the next run
   * comes at once instead of after the interval.
   */
  tick(signal: AbortSignal): Promise<boolean | void>;
}

/**
 * Runs `tick` until `signal` aborts, each run scheduled after the previous one ends (never
 * overlapping, never `setInterval`), ±10 % jitter so services and nodes do not fall into step, the
 * first run after a random fraction of the interval. A failed run is logged and retried with
 * backoff; errors never escape. Nothing runs between ticks: an idle service holds one timer.
 */
export async function runPeriodically(task: PeriodicTask, signal: AbortSignal, logger: Logger): Promise<void> {
  await sleep(Math.random() * Math.min(task.intervalMs, 1_000), signal);
  let failures = 0;
  while (!signal.aborted) {
    let more = false;
    try {
      more = (await task.tick(signal)) === true;
      failures = 0;
    } catch (err) {
      failures += 1;
      const retryInMs = Math.min(backoffDelayMs(failures), task.intervalMs * 4);
      logger.warn({ err, service: task.name, attempt: failures, retryInMs }, `${task.name}: run failed; retrying`);
      await sleep(retryInMs, signal);
      continue;
    }
    if (more) continue;
    await sleep(task.intervalMs * (0.9 + 0.2 * Math.random()), signal);
  }
}
