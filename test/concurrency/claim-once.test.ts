/**
 * The concurrency proof: with many claimers racing on one store, in one process and across
 * processes, every task is handed out exactly once. Real time throughout, and a lease long enough
 * (60 s) that no lease expires, so any duplicate is a claim bug, not a reclaim.
 */
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, inject, it, onTestFinished } from 'vitest';
import type { Store } from '../../src/store/store.js';
import { TASK_STATES } from '../../src/types.js';
import { newTask } from '../helpers/factories.js';
import { deleteKeysWithPrefix } from '../helpers/redis-server.js';
import { openStore, runClaimLoops, type ChildArgs, type ClaimLoopOptions, type ClaimReport, type StoreTarget } from './claimer-child.js';

const TASK_COUNT = 10_000;
const INSERT_BATCH = 1_000;
const QUEUE = 'race';
const LOOP_OPTIONS = { queue: QUEUE, batchSize: 50, leaseMs: 60_000 } as const;
const TEST_TIMEOUT_MS = 180_000;

const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));
const CHILD_SCRIPT = fileURLToPath(new URL('./claimer-child.ts', import.meta.url));

interface OpenedTarget {
  store: Store;
  target: StoreTarget;
}

const TARGETS: { name: string; open(): Promise<OpenedTarget> }[] = [
  {
    name: 'sqlite',
    async open() {
      const dir = await mkdtemp(join(tmpdir(), 'conveyor-claim-once-'));
      const target: StoreTarget = { kind: 'sqlite', path: join(dir, 'conveyor.db') };
      const store = await openStore(target);
      onTestFinished(async () => {
        await store.close();
        await rm(dir, { recursive: true, force: true });
      });
      return { store, target };
    },
  },
  {
    name: 'redis',
    async open() {
      const target: StoreTarget = { kind: 'redis', url: inject('redisUrl'), prefix: `t${randomUUID().slice(0, 8)}` };
      const store = await openStore(target);
      onTestFinished(async () => {
        await store.close();
        await deleteKeysWithPrefix(target.url, target.prefix);
      });
      return { store, target };
    },
  },
];

async function insertTasks(store: Store): Promise<string[]> {
  const ids: string[] = [];
  for (let offset = 0; offset < TASK_COUNT; offset += INSERT_BATCH) {
    const tasks = Array.from({ length: Math.min(INSERT_BATCH, TASK_COUNT - offset) }, () => newTask({ queue: QUEUE }));
    await store.insertTasks({ tasks });
    ids.push(...tasks.map((task) => task.id));
  }
  return ids;
}

async function expectEachClaimedExactlyOnce(store: Store, inserted: string[], report: ClaimReport): Promise<void> {
  const timesClaimed = new Map<string, number>();
  for (const id of report.claimed) timesClaimed.set(id, (timesClaimed.get(id) ?? 0) + 1);
  const inSet = new Set(inserted);
  expect({
    claims: report.claimed.length,
    duplicated: [...timesClaimed.values()].filter((times) => times > 1).length,
    missing: inserted.filter((id) => !timesClaimed.has(id)).length,
    unknown: [...timesClaimed.keys()].filter((id) => !inSet.has(id)).length,
    notCompleted: report.notCompleted.length,
  }).toEqual({ claims: TASK_COUNT, duplicated: 0, missing: 0, unknown: 0, notCompleted: 0 });

  const completedOnly = Object.fromEntries(TASK_STATES.map((state) => [state, state === 'completed' ? TASK_COUNT : 0]));
  expect(await store.countTasks({ queue: QUEUE })).toEqual([{ queue: QUEUE, counts: completedOnly }]);
}

interface RunningChild {
  ready: Promise<void>;
  done: Promise<ClaimReport>;
  start(): void;
}

function spawnClaimer(args: ChildArgs): RunningChild {
  const child = spawn(process.execPath, ['--import', 'tsx', CHILD_SCRIPT, JSON.stringify(args)], {
    cwd: REPO_ROOT,
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  // A failed test must not leave a child waiting for its start signal.
  onTestFinished(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  let stdout = '';
  let stderr = '';
  let markReady!: () => void;
  const ready = new Promise<void>((resolve) => (markReady = resolve));
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    stdout += chunk;
    if (stdout.startsWith('ready\n')) markReady();
  });
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));

  const done = new Promise<ClaimReport>((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code, signal) => {
      const report = stdout.split('\n').find((line) => line.startsWith('{'));
      if (code === 0 && report !== undefined) resolve(JSON.parse(report) as ClaimReport);
      else reject(new Error(`claimer ${args.workerPrefix} exited with ${code ?? signal}:\n${stderr}`));
    });
  });
  // A child that dies before it is ready must fail the test, not leave it waiting.
  return { ready: Promise.race([ready, done.then(() => undefined)]), done, start: () => child.stdin.end() };
}

describe.each(TARGETS)('claim exactly once on $name', (target) => {
  it(
    `8 claim loops in one process claim each of ${TASK_COUNT} tasks exactly once`,
    async () => {
      const { store } = await target.open();
      await store.migrate();
      const inserted = await insertTasks(store);

      const options: ClaimLoopOptions = { ...LOOP_OPTIONS, loops: 8, workerPrefix: 'in-process' };
      await expectEachClaimedExactlyOnce(store, inserted, await runClaimLoops(store, options));
    },
    TEST_TIMEOUT_MS,
  );

  it(
    `2 processes with 4 claim loops each claim each of ${TASK_COUNT} tasks exactly once`,
    async ({ annotate }) => {
      const { store, target: shared } = await target.open();
      await store.migrate();
      const inserted = await insertTasks(store);

      const children = ['child-a', 'child-b'].map((workerPrefix) => spawnClaimer({ ...LOOP_OPTIONS, loops: 4, workerPrefix, target: shared }));
      await Promise.all(children.map((child) => child.ready));
      for (const child of children) child.start();
      const reports = await Promise.all(children.map((child) => child.done));

      const merged: ClaimReport = {
        claimed: reports.flatMap((report) => report.claimed),
        notCompleted: reports.flatMap((report) => report.notCompleted),
      };
      // How the work split is worth seeing but not asserting: SQLite's write lock is not fair, so
      // one process may win nearly every transaction. Exactly-once must hold whatever the split.
      await annotate(`claims per process: ${reports.map((report) => report.claimed.length).join(' / ')}`);
      await expectEachClaimedExactlyOnce(store, inserted, merged);
    },
    TEST_TIMEOUT_MS,
  );
});
