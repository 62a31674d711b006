/**
 * (d) Redis memory per waiting task: on an empty server, `used_memory` of INFO memory before and
 * after enqueueing N no-op tasks (100-byte payload) in batches of 1,000, divided by N. Everything
 * the queue keeps per task counts (BullMQ's events stream too: it is part of its default layout).
 */
import type { RunContext, RunValues, Scenario } from '../lib/scenario.js';
import { openBullmq, openConveyorRedis, withQueue, type QueueClient } from '../lib/systems.js';
import { enqueueInBatches } from '../lib/workload.js';

async function run(ctx: RunContext, open: () => Promise<QueueClient>): Promise<RunValues> {
  const n = ctx.sizes.n;
  await ctx.redis.flushAll();
  return withQueue(ctx, open, async (q) => {
    // Measured once connected, so connection buffers are not counted as task memory.
    const before = await ctx.redis.usedMemory();
    await enqueueInBatches(q, n);
    const after = await ctx.redis.usedMemory();
    return { bytes: (after - before) / n };
  });
}

export const memoryScenario: Scenario = {
  name: 'memory',
  rows: [{ id: 'bytes', label: 'redis memory per waiting task (100-byte payload unless --payload)', unit: 'bytes/task', better: 'lower' }],
  run: {
    conveyor: (ctx) => run(ctx, () => openConveyorRedis(ctx)),
    bullmq: (ctx) => run(ctx, () => openBullmq(ctx)),
  },
};
