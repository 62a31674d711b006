/**
 * (f) The embedded SQLite store (a fresh temp file): enqueue N no-op tasks in batches of 1,000
 * from the bench process, then drain them with one worker process at concurrency 100. SQLite has
 * no BullMQ counterpart, so each row is compared with BullMQ's numbers for the same workload on
 * Redis (addBulk; one worker process at concurrency 100), as the row names say.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { drain } from '../lib/drain.js';
import type { RunContext, RunValues, Scenario } from '../lib/scenario.js';
import { openBullmq, openConveyorSqlite, withQueue, type QueueClient } from '../lib/systems.js';
import { enqueueInBatches } from '../lib/workload.js';

/** The enqueue is timed inside the drain's fill step: the worker process is ready but idle then. */
async function run(ctx: RunContext, open: () => Promise<QueueClient>): Promise<RunValues> {
  const n = ctx.sizes.n;
  return withQueue(ctx, open, async (q) => {
    let enqueue = 0;
    const drainRate = await drain(ctx, q, {
      n,
      processes: 1,
      concurrency: 100,
      prefill: async () => {
        const start = performance.now();
        await enqueueInBatches(q, n);
        enqueue = n / ((performance.now() - start) / 1000);
      },
    });
    return { enqueue, drain: drainRate };
  });
}

async function runSqlite(ctx: RunContext): Promise<RunValues> {
  const dir = mkdtempSync(join(tmpdir(), 'conveyor-bench-'));
  const removeDir = ctx.cleanup.add('sqlite temp dir', () => rmSync(dir, { recursive: true, force: true }));
  try {
    return await run(ctx, () => openConveyorSqlite(join(dir, 'bench.db')));
  } finally {
    await removeDir();
  }
}

export const sqliteScenario: Scenario = {
  name: 'sqlite',
  rows: [
    { id: 'enqueue', label: 'sqlite enqueue, batches of 1,000 (vs bullmq addBulk on redis)', unit: 'tasks/s', better: 'higher' },
    { id: 'drain', label: 'sqlite drain, 1 worker process c=100 (vs bullmq on redis)', unit: 'tasks/s', better: 'higher' },
  ],
  run: {
    conveyor: runSqlite,
    bullmq: (ctx) => run(ctx, () => openBullmq(ctx)),
  },
};
