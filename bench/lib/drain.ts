/**
 * The drain measurement that the drain, CPU and SQLite scenarios share: worker processes start
 * and connect, the queue is filled (not part of the drain time), then the clock runs from "go"
 * until the store reports every task completed.
 */
import type { RunContext } from './scenario.js';
import type { QueueClient } from './systems.js';
import { waitForCompleted } from './workload.js';
import { startWorkerProcesses } from './worker-processes.js';

/** How often the bench asks the store for the completed count while a drain runs. */
export const DRAIN_POLL_MS = 20;

export interface DrainOptions {
  n: number;
  processes: number;
  concurrency: number;
  /** Fills the queue with `n` tasks; runs once the workers are ready, before "go". */
  prefill(): Promise<void>;
  /** Runs the moment the store reports all `n` completed, before the workers stop. */
  onCompleted?(): Promise<void>;
}

/** Returns the drain rate in tasks/s. */
export async function drain(ctx: RunContext, q: QueueClient, options: DrainOptions): Promise<number> {
  const workers = await startWorkerProcesses(ctx, q, { count: options.processes, concurrency: options.concurrency });
  await options.prefill();
  // The store must start empty of completed tasks, or the drain would end early.
  const before = await q.completed();
  if (before !== 0) throw new Error(`${q.name}: ${before} tasks completed before "go"; the queue should have been empty`);
  const start = performance.now();
  const started = workers.go();
  // Awaited after the drain; a worker that dies before starting fails waitForCompleted first.
  started.catch(() => undefined);
  const end = await waitForCompleted(q, options.n, { pollMs: DRAIN_POLL_MS, children: workers.children });
  await started;
  await options.onCompleted?.();
  await workers.stop();
  return options.n / ((end - start) / 1000);
}
