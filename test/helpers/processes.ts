/**
 * Worker processes for the system tests: `spawnWorker(config)` runs test/system/worker-process.ts
 * in a child (`node --import tsx`), collects its stdout lines and its stderr, and tells when it is
 * ready and when it exits.
 *
 * No child outlives its test: a child spawned inside a test is SIGKILLed when that test finishes
 * (`onTestFinished`), one spawned in a hook when `killWorkerProcesses()` runs (call it in afterAll),
 * any left when the test process exits, and, should the test process be killed outright, each
 * child ends itself when its stdin (a pipe from this process) closes.
 *
 * Also here, for the same tests: a store shared between the test process and its worker processes
 * (`openSharedStore`), reading every task of a queue, and the lease reaper that stands in for the
 * coordinator.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { onTestFinished } from 'vitest';
import { openStore } from '../../src/store/open-store.js';
import type { Store } from '../../src/store/store.js';
import { TASK_STATES, type Task, type TaskState } from '../../src/types.js';
import { deleteKeysWithPrefix } from './redis-server.js';
import type { WorkerProcessConfig, WorkerProcessLine } from '../system/worker-process.js';

export type { WorkerProcessConfig, WorkerProcessLine } from '../system/worker-process.js';

const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));
const WORKER_SCRIPT = fileURLToPath(new URL('../system/worker-process.ts', import.meta.url));
/** The test handlers (echo, sleep, busy, …). */
export const TEST_HANDLERS_MODULE = fileURLToPath(new URL('../fixtures/handlers.ts', import.meta.url));

/** Starting a child means loading tsx and compiling the sources: slow on a loaded machine. */
const READY_TIMEOUT_MS = 30_000;
/** Stderr kept for error messages: the last this many characters. */
const STDERR_KEEP = 16_000;

export interface ProcessExit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface WorkerProcess {
  child: ChildProcessWithoutNullStreams;
  pid: number;
  /** The worker's id, known once `ready` resolved. */
  readonly id: string;
  /** Resolves on the `ready` line; rejects if the child exits (or stalls) before it. */
  ready: Promise<void>;
  /** Resolves when the child exits, whatever the reason. */
  exit: Promise<ProcessExit>;
  /** Every stdout line so far, parsed (non-JSON lines are kept as strings). */
  readonly lines: readonly (WorkerProcessLine | string)[];
  /** The tail of stderr (the worker's warnings and errors). */
  stderr(): string;
  /** Resolves with the first line (already seen or to come) that `match` accepts. */
  waitForLine<T extends WorkerProcessLine>(match: (line: WorkerProcessLine | string) => line is T, timeoutMs?: number): Promise<T>;
  kill(signal?: NodeJS.Signals): void;
  alive(): boolean;
}

const live = new Set<ChildProcessWithoutNullStreams>();

function killNow(child: ChildProcessWithoutNullStreams): void {
  if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
}

process.once('exit', () => {
  for (const child of live) killNow(child);
});

/** SIGKILLs every worker process still alive and waits for them to exit. */
export async function killWorkerProcesses(): Promise<void> {
  const waits = [...live].map(
    (child) =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) return resolve();
        child.once('exit', () => resolve());
        killNow(child);
      }),
  );
  await Promise.all(waits);
}

export interface SpawnOptions {
  /**
   * The test's own `onTestFinished` (from its context): needed in concurrent tests, where the
   * imported one cannot tell which test is running. Default: the imported one.
   */
  onTestFinished?: (fn: () => Promise<void>) => void;
}

export function spawnWorker(config: WorkerProcessConfig, options: SpawnOptions = {}): WorkerProcess {
  const child = spawn(process.execPath, ['--import', 'tsx', WORKER_SCRIPT, JSON.stringify({ exitWithParent: true, ...config })], {
    cwd: REPO_ROOT,
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  live.add(child);
  try {
    (options.onTestFinished ?? onTestFinished)(async () => {
      if (child.exitCode === null && child.signalCode === null) {
        const exited = new Promise((resolve) => child.once('exit', resolve));
        killNow(child);
        await exited;
      }
    });
  } catch {
    // Spawned in a hook, not a test: killWorkerProcesses() in afterAll takes care of it.
  }

  const lines: (WorkerProcessLine | string)[] = [];
  const listeners = new Set<(line: WorkerProcessLine | string) => void>();
  let stderr = '';
  let partial = '';
  let id = '';

  child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    partial += chunk;
    let newline: number;
    while ((newline = partial.indexOf('\n')) >= 0) {
      const text = partial.slice(0, newline);
      partial = partial.slice(newline + 1);
      if (text.trim() === '') continue;
      let line: WorkerProcessLine | string;
      try {
        line = JSON.parse(text) as WorkerProcessLine;
      } catch {
        line = text;
      }
      lines.push(line);
      for (const listener of listeners) listener(line);
    }
  });
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
    stderr = (stderr + chunk).slice(-STDERR_KEEP);
  });

  const exit = new Promise<ProcessExit>((resolve) => {
    child.once('exit', (code, signal) => {
      live.delete(child);
      resolve({ code, signal });
    });
    // Spawning itself failed (no 'exit' follows), or a kill could not be delivered.
    child.on('error', (err) => {
      stderr += `\n${String(err)}`;
      if (child.pid === undefined) {
        live.delete(child);
        resolve({ code: null, signal: null });
      }
    });
  });
  const describeExit = ({ code, signal }: ProcessExit): string => `worker process ${child.pid} exited (${code ?? signal}) :\n${stderr}`;

  const waitForLine = <T extends WorkerProcessLine>(match: (line: WorkerProcessLine | string) => line is T, timeoutMs = READY_TIMEOUT_MS): Promise<T> => {
    const seen = lines.find(match);
    if (seen !== undefined) return Promise.resolve(seen);
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        listeners.delete(listener);
        reject(new Error(`worker process ${child.pid}: no such line within ${timeoutMs} ms; stdout: ${JSON.stringify(lines)}\n${stderr}`));
      }, timeoutMs);
      const listener = (line: WorkerProcessLine | string): void => {
        if (!match(line)) return;
        clearTimeout(timer);
        listeners.delete(listener);
        resolve(line);
      };
      listeners.add(listener);
      // A child that dies first cannot print the line any more.
      void exit.then((how) => {
        if (!listeners.has(listener)) return;
        clearTimeout(timer);
        listeners.delete(listener);
        reject(new Error(`waiting for a line, but ${describeExit(how)}`));
      });
    });
  };

  const ready = waitForLine(isReadyLine).then((line) => {
    id = line.id;
  });
  // The caller may never await `ready` (a test that failed early): no unhandled rejection then.
  ready.catch(() => undefined);

  return {
    child,
    pid: child.pid ?? -1,
    get id() {
      return id;
    },
    ready,
    exit,
    lines,
    stderr: () => stderr,
    waitForLine,
    kill: (signal = 'SIGTERM') => {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
    },
    alive: () => child.exitCode === null && child.signalCode === null,
  };
}

export function isReadyLine(line: WorkerProcessLine | string): line is Extract<WorkerProcessLine, { ready: true }> {
  return typeof line === 'object' && 'ready' in line;
}

export function isStoppedLine(line: WorkerProcessLine | string): line is Extract<WorkerProcessLine, { stopped: true }> {
  return typeof line === 'object' && 'stopped' in line;
}

export function isCpuLine(line: WorkerProcessLine | string): line is Extract<WorkerProcessLine, { cpu: unknown }> {
  return typeof line === 'object' && 'cpu' in line;
}

// ---- a store shared with worker processes ------------------------------------------------------

export type StoreKind = 'sqlite' | 'redis';

export interface SharedStore {
  kind: StoreKind;
  /** The test process's own connection. */
  store: Store;
  /** What a worker process needs to open the same store. */
  target: Pick<WorkerProcessConfig, 'store' | 'prefix'>;
  /** Closes the store and deletes its file or its keys. */
  cleanup(): Promise<void>;
}

/**
 * SQLite: a fresh file in a temporary directory. Redis: the run's server (`inject('redisUrl')`)
 * under a fresh key prefix. The caller registers `cleanup` (onTestFinished).
 */
export async function openSharedStore(kind: StoreKind, redisUrl: string): Promise<SharedStore> {
  if (kind === 'sqlite') {
    const dir = await mkdtemp(join(tmpdir(), 'conveyor-system-'));
    const url = `sqlite:${join(dir, 'conveyor.db')}`;
    const store = await openStore(url);
    return {
      kind,
      store,
      target: { store: url },
      cleanup: async () => {
        await store.close();
        await rm(dir, { recursive: true, force: true });
      },
    };
  }
  const prefix = `sys${randomUUID().slice(0, 8)}`;
  const store = await openStore(redisUrl, { prefix });
  return {
    kind,
    store,
    target: { store: redisUrl, prefix },
    cleanup: async () => {
      await store.close();
      await deleteKeysWithPrefix(redisUrl, prefix);
    },
  };
}

/** Every task of `queue`, following the pages of `listTasks`. */
export async function listAllTasks(store: Store, queue: string, state?: TaskState): Promise<Task[]> {
  const tasks: Task[] = [];
  let cursor: string | null = null;
  do {
    const page = await store.listTasks({ queue, limit: 1000, cursor, ...(state ? { state } : {}) });
    tasks.push(...page.tasks);
    cursor = page.nextCursor;
  } while (cursor !== null);
  return tasks;
}

/** How many tasks of `queue` are in each state (every state present), and `total`. */
export async function countByState(store: Store, queue: string): Promise<Record<TaskState, number> & { total: number }> {
  const found = (await store.countTasks({ queue })).find((entry) => entry.queue === queue);
  const counts = Object.fromEntries(TASK_STATES.map((state) => [state, found?.counts[state] ?? 0])) as Record<TaskState, number>;
  return { ...counts, total: TASK_STATES.reduce((sum, state) => sum + counts[state], 0) };
}

/**
 * Calls `reclaimExpiredLeases` every `intervalMs` until stopped: the coordinator's lease reaper in
 * small, so that worker tests exercise the worker alone (test/system/worker-reclaim.test.ts runs the
 * real coordinator). Store errors (Redis down) are ignored: the next round tries again.
 */
export function startLeaseReaper(store: Store, intervalMs = 300): { reclaimed: string[]; stop(): Promise<void> } {
  const reclaimed: string[] = [];
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let round: Promise<void> = Promise.resolve();
  const tick = (): void => {
    round = (async () => {
      try {
        for (;;) {
          const result = await store.reclaimExpiredLeases({ limit: 1000 });
          reclaimed.push(...result.retried, ...result.dead, ...result.cancelled);
          if (result.retried.length + result.dead.length + result.cancelled.length < 1000) break;
        }
      } catch {
        // The store is unreachable for now; the next round tries again.
      }
      if (!stopped) timer = setTimeout(tick, intervalMs);
    })();
  };
  timer = setTimeout(tick, intervalMs);
  return {
    reclaimed,
    stop: async () => {
      stopped = true;
      clearTimeout(timer);
      await round;
    },
  };
}
