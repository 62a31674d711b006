/**
 * (e) Redis CPU per task: the server's used_cpu_user + used_cpu_sys (INFO cpu) over enqueueing N
 * no-op tasks in batches of 1,000 and draining them with one worker process at concurrency 100,
 * divided by N. The worker connects before the first reading, so connecting is not counted.
 */
import { drain } from '../lib/drain.js';
import type { RunContext, RunValues, Scenario } from '../lib/scenario.js';
import { openBullmq, openConveyorRedis, withQueue, type QueueClient } from '../lib/systems.js';
import { enqueueInBatches } from '../lib/workload.js';

async function run(ctx: RunContext, open: () => Promise<QueueClient>): Promise<RunValues> {
  const n = ctx.sizes.n;
  await ctx.redis.flushAll();
  return withQueue(ctx, open, async (q) => {
    let before = 0;
    let after = 0;
    await drain(ctx, q, {
      n,
      processes: 1,
      concurrency: 100,
      prefill: async () => {
        before = await ctx.redis.usedCpuSeconds();
        await enqueueInBatches(q, n);
      },
      onCompleted: async () => {
        after = await ctx.redis.usedCpuSeconds();
      },
    });
    return { cpu: ((after - before) * 1e6) / n };
  });
}

export const cpuScenario: Scenario = {
  name: 'cpu',
  rows: [{ id: 'cpu', label: 'redis CPU per task (enqueue in batches + drain c=100)', unit: 'µs/task', better: 'lower' }],
  run: {
    conveyor: (ctx) => run(ctx, () => openConveyorRedis(ctx)),
    bullmq: (ctx) => run(ctx, () => openBullmq(ctx)),
  },
};
