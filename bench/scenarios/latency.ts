/**
 * (c) Latency from submit to handler start under a steady load: 1,000 tasks/s, one per
 * submit()/add(), for 10 s, into a worker process at concurrency 100. Each payload carries its
 * submit time on the wall clock; the worker records handler start − submit and sends the samples
 * at the end. The first second is discarded as warm-up. Rows: p50, p95, p99 in ms.
 */
import type { RunContext, RunValues, Scenario } from '../lib/scenario.js';
import { percentile } from '../lib/stats.js';
import { openBullmq, openConveyorRedis, withQueue, type QueueClient } from '../lib/systems.js';
import { wallClockMs } from '../lib/worker-protocol.js';
import { startWorkerProcesses } from '../lib/worker-processes.js';
import { paddedPayload, waitForCompleted } from '../lib/workload.js';

const CONCURRENCY = 100;

/**
 * Submits `total` tasks at `rate` per second. Each timer tick sends every task due by now, so a
 * late tick catches up instead of drifting (as setInterval would). Resolves with the start time
 * on the wall clock once every submit has been acknowledged.
 */
async function submitPaced(ctx: RunContext, q: QueueClient, rate: number, total: number): Promise<number> {
  const pending: Promise<void>[] = [];
  // Caught at once (not when awaited after the last submit), or Node would see an unhandled rejection.
  let failure: unknown;
  const submit = (): void => {
    const added = q.add(paddedPayload({ t: wallClockMs() })).catch((err: unknown) => {
      failure ??= err;
    });
    pending.push(added);
  };
  const start = performance.now();
  let sent = 0;
  await new Promise<void>((resolve) => {
    const tick = (): void => {
      const due = Math.min(total, Math.floor(((performance.now() - start) * rate) / 1000) + 1);
      for (; sent < due; sent++) submit();
      if (sent >= total) resolve();
      else setTimeout(tick, 1);
    };
    tick();
  });
  const sendingMs = performance.now() - start;
  await Promise.all(pending);
  if (failure !== undefined) throw failure;
  // A client that cannot keep up sends in bursts: worth knowing when reading the percentiles.
  const plannedMs = ((total - 1) * 1000) / rate;
  if (sendingMs > plannedMs * 1.1 + 50) ctx.log(`  ${q.name}: submitting took ${Math.round(sendingMs)} ms instead of ${Math.round(plannedMs)} ms`);
  return performance.timeOrigin + start;
}

async function run(ctx: RunContext, open: () => Promise<QueueClient>): Promise<RunValues> {
  const { latencyRate: rate, latencySeconds, latencyWarmupSeconds } = ctx.sizes;
  const total = rate * latencySeconds;
  return withQueue(ctx, open, async (q) => {
    const workers = await startWorkerProcesses(ctx, q, { count: 1, concurrency: CONCURRENCY, mode: 'latency' });
    await workers.go();
    const startWall = await submitPaced(ctx, q, rate, total);
    await waitForCompleted(q, total, { pollMs: 50, children: workers.children });
    const pairs = await workers.stop();

    const cutoff = startWall + latencyWarmupSeconds * 1000;
    const latencies: number[] = [];
    for (let i = 0; i + 1 < pairs.length; i += 2) if (pairs[i]! >= cutoff) latencies.push(pairs[i + 1]!);
    if (pairs.length / 2 !== total) throw new Error(`${q.name}: the worker recorded ${pairs.length / 2} tasks, expected ${total}`);
    if (latencies.length === 0) throw new Error(`${q.name}: no latency sample after the warm-up`);
    latencies.sort((a, b) => a - b);
    return { p50: percentile(latencies, 50), p95: percentile(latencies, 95), p99: percentile(latencies, 99) };
  });
}

export const latencyScenario: Scenario = {
  name: 'latency',
  rows: (['p50', 'p95', 'p99'] as const).map((p) => ({
    id: p,
    label: `latency submit→start at 1,000 tasks/s, c=100, ${p}`,
    unit: 'ms',
    better: 'lower' as const,
  })),
  run: {
    conveyor: (ctx) => run(ctx, () => openConveyorRedis(ctx)),
    bullmq: (ctx) => run(ctx, () => openBullmq(ctx)),
  },
};
