/**
 * Claim loops for the exactly-once proof (claim-once.test.ts), run in the test process and, through
 * this file's entry point, in child processes sharing one store:
 *
 *   node --import tsx test/concurrency/claimer-child.ts '<ChildArgs as JSON>'
 *
 * The child opens the store, prints `ready`, waits until its stdin closes (the parent closes every
 * child's stdin at once, so they start claiming together), runs its loops and prints one JSON line,
 * a ClaimReport.
 */
import { pathToFileURL } from 'node:url';
import type { Store } from '../../src/store/store.js';

export type StoreTarget = { kind: 'sqlite'; path: string } | { kind: 'redis'; url: string; prefix: string };

export interface ClaimLoopOptions {
  queue: string;
  /** How many loops run concurrently in this process. */
  loops: number;
  batchSize: number;
  leaseMs: number;
  /** Worker ids are `<workerPrefix>-<loop>`. */
  workerPrefix: string;
}

export interface ChildArgs extends ClaimLoopOptions {
  target: StoreTarget;
}

export interface ClaimReport {
  /** Every id claimed, once per claim: a duplicate here is a task handed out twice. */
  claimed: string[];
  /** Ids whose `complete` came back with another outcome than `completed`. */
  notCompleted: string[];
}

/** Loads only the store it needs, so that one store's module cannot break the other's test. */
export async function openStore(target: StoreTarget): Promise<Store> {
  if (target.kind === 'sqlite') {
    const { createSqliteStore } = await import('../../src/store/sqlite/sqlite-store.js');
    return createSqliteStore({ path: target.path });
  }
  const { createRedisStore } = await import('../../src/store/redis/redis-store.js');
  return createRedisStore({ url: target.url, prefix: target.prefix });
}

/** Claims and completes until a claim comes back empty twice in a row. Real time: no `now`. */
async function claimLoop(store: Store, options: ClaimLoopOptions, workerId: string): Promise<ClaimReport> {
  const report: ClaimReport = { claimed: [], notCompleted: [] };
  let emptyInARow = 0;
  while (emptyInARow < 2) {
    const tasks = await store.claimTasks({ queues: [options.queue], workerId, limit: options.batchSize, leaseMs: options.leaseMs });
    if (tasks.length === 0) {
      emptyInARow++;
      continue;
    }
    emptyInARow = 0;
    report.claimed.push(...tasks.map((task) => task.id));
    const { items } = await store.finishTasks({
      items: tasks.map((task) => ({ id: task.id, queue: task.queue, token: task.leaseToken, outcome: 'complete' as const, result: null })),
    });
    report.notCompleted.push(...items.filter((item) => item.outcome !== 'completed').map((item) => item.id));
  }
  return report;
}

export async function runClaimLoops(store: Store, options: ClaimLoopOptions): Promise<ClaimReport> {
  const reports = await Promise.all(
    Array.from({ length: options.loops }, (_, loop) => claimLoop(store, options, `${options.workerPrefix}-${loop}`)),
  );
  return {
    claimed: reports.flatMap((report) => report.claimed),
    notCompleted: reports.flatMap((report) => report.notCompleted),
  };
}

async function main(): Promise<void> {
  const args = JSON.parse(process.argv[2] ?? '') as ChildArgs;
  const store = await openStore(args.target);
  await store.migrate();
  process.stdout.write('ready\n');
  for await (const _chunk of process.stdin) {
    // Only the end of stdin matters: it is the parent's start signal.
  }
  try {
    const report = await runClaimLoops(store, args);
    process.stdout.write(`${JSON.stringify(report)}\n`);
  } finally {
    await store.close();
  }
}

// Run only as a script: the test imports this module for its claim loops.
if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  await main();
}
