/**
 * (b) Drain throughput: N waiting no-op tasks (filled before the clock starts) drained by worker
 * processes: one at concurrency 1 (N/10 tasks: one at a time is slow by nature), 10 and 100, and
 * two at concurrency 100 each. The clock runs from "go" to the store reporting all completed.
 */
import { drain } from '../lib/drain.js';
import type { RunContext, RunValues, Scenario } from '../lib/scenario.js';
import { openBullmq, openConveyorRedis, withQueue, type QueueClient } from '../lib/systems.js';
import { enqueueInBatches } from '../lib/workload.js';

interface DrainCase {
  id: string;
  label: string;
  processes: number;
  concurrency: number;
  n: (ctx: RunContext) => number;
}

const CASES: readonly DrainCase[] = [
  { id: 'c1', label: 'drain, 1 worker process, c=1 (N/10 tasks)', processes: 1, concurrency: 1, n: (ctx) => ctx.sizes.drainC1 },
  { id: 'c10', label: 'drain, 1 worker process, c=10', processes: 1, concurrency: 10, n: (ctx) => ctx.sizes.n },
  { id: 'c100', label: 'drain, 1 worker process, c=100', processes: 1, concurrency: 100, n: (ctx) => ctx.sizes.n },
  { id: '2xc100', label: 'drain, 2 worker processes, c=100 each', processes: 2, concurrency: 100, n: (ctx) => ctx.sizes.n },
];

async function run(ctx: RunContext, open: () => Promise<QueueClient>): Promise<RunValues> {
  const values: RunValues = {};
  for (const c of CASES) {
    await ctx.redis.flushAll();
    const n = c.n(ctx);
    ctx.log(`  ${c.id}: ${n.toLocaleString('en-US')} tasks, ${c.processes} × c=${c.concurrency}`);
    values[c.id] = await withQueue(ctx, open, (q) =>
      drain(ctx, q, { n, processes: c.processes, concurrency: c.concurrency, prefill: () => enqueueInBatches(q, n) }),
    );
  }
  return values;
}

export const drainScenario: Scenario = {
  name: 'drain',
  rows: CASES.map((c) => ({ id: c.id, label: c.label, unit: 'tasks/s', better: 'higher' as const })),
  run: {
    conveyor: (ctx) => run(ctx, () => openConveyorRedis(ctx)),
    bullmq: (ctx) => run(ctx, () => openBullmq(ctx)),
  },
};
