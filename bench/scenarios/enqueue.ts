/**
 * (a) Enqueue throughput: N no-op tasks with a 100-byte payload into an empty queue, no worker.
 * Once with 100 single-task calls in flight (submit() / add()), once in batches of 1,000, one
 * batch at a time (submitBatch() / addBulk()).
 */
import type { RunContext, RunValues, Scenario } from '../lib/scenario.js';
import { openBullmq, openConveyorRedis, withQueue, type QueueClient } from '../lib/systems.js';
import { enqueueInBatches, enqueueInFlight } from '../lib/workload.js';

const IN_FLIGHT = 100;

/** Times `workload` on a fresh client over an empty server; returns tasks/s. */
async function timed(ctx: RunContext, open: () => Promise<QueueClient>, workload: (q: QueueClient) => Promise<void>): Promise<number> {
  await ctx.redis.flushAll();
  return withQueue(ctx, open, async (q) => {
    const start = performance.now();
    await workload(q);
    return ctx.sizes.n / ((performance.now() - start) / 1000);
  });
}

async function run(ctx: RunContext, open: () => Promise<QueueClient>): Promise<RunValues> {
  const n = ctx.sizes.n;
  return {
    single: await timed(ctx, open, (q) => enqueueInFlight(q, n, IN_FLIGHT)),
    batch: await timed(ctx, open, (q) => enqueueInBatches(q, n)),
  };
}

export const enqueueScenario: Scenario = {
  name: 'enqueue',
  rows: [
    { id: 'single', label: 'enqueue, 100 submit()/add() in flight', unit: 'tasks/s', better: 'higher' },
    { id: 'batch', label: 'enqueue, batches of 1,000 (submitBatch/addBulk)', unit: 'tasks/s', better: 'higher' },
  ],
  run: {
    conveyor: (ctx) => run(ctx, () => openConveyorRedis(ctx)),
    bullmq: (ctx) => run(ctx, () => openBullmq(ctx)),
  },
};
