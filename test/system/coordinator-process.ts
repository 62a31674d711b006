/**
 * A coordinator in a process of its own, for the system tests (real processes, real signals):
 *
 *   node --import tsx test/system/coordinator-process.ts '<CoordinatorProcessConfig as JSON>'
 *
 * It opens the store, starts a Coordinator and prints `{"ready":true,"nodeId":"…","pid":…}` on
 * stdout. From then on it tells its leadership: a line `{"leader":true|false,"at":ms}` every
 * `reportEveryMs` (default 100 ms), and one at once whenever it changes (looked at every 10 ms),
 * so the parent knows within a few milliseconds when this node was elected or stepped down.
 * On SIGTERM or SIGINT it stops the coordinator (the duties stop, the lease is resigned), closes the
 * store, prints `{"stopped":true}` and exits 0. Any uncaught error is printed on stderr and ends
 * the process with code 1. The coordinator's warnings and errors go to stderr as JSON lines.
 *
 * The parent side is here too (`spawnCoordinator`), free of vitest so the child can load this file:
 * it parses the lines, keeps the latest leadership report, and kills every child it started with
 * `killCoordinatorProcesses()` (call it in afterEach/afterAll) or when the test process exits.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { createCoordinator, type CoordinatorIntervals } from '../../src/coordinator/coordinator.js';
import type { RetentionConfig } from '../../src/coordinator/services/retention-cleaner.js';
import { openStore } from '../../src/store/open-store.js';
import type { Logger } from '../../src/worker/handlers.js';

export interface CoordinatorProcessConfig {
  /** `sqlite:/path` or `redis://…`. */
  store: string;
  /** Redis key prefix. */
  prefix?: string;
  nodeId: string;
  /** The leader lease. */
  leaseMs: number;
  intervals?: Partial<CoordinatorIntervals>;
  retention?: RetentionConfig;
  heartbeatIntervalMs?: number;
  /** How often the leadership line is printed; default 100 ms. */
  reportEveryMs?: number;
}

export type CoordinatorProcessLine =
  | { ready: true; nodeId: string; pid: number }
  | { leader: boolean; at: number }
  | { stopped: true };

// ---- the child -----------------------------------------------------------------------------------

function print(line: CoordinatorProcessLine): void {
  process.stdout.write(`${JSON.stringify(line)}\n`);
}

function fail(err: unknown): never {
  process.stderr.write(`coordinator-process: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
}

/** warn and error as JSON lines on stderr; debug and info are dropped. */
function stderrLogger(bindings: object = {}): Logger {
  const write = (level: string) => (obj: object, msg?: string) => {
    const fields = Object.fromEntries(Object.entries(obj).map(([key, value]) => [key, value instanceof Error ? String(value) : value]));
    process.stderr.write(`${JSON.stringify({ level, time: Date.now(), msg, ...bindings, ...fields })}\n`);
  };
  return {
    debug: () => undefined,
    info: () => undefined,
    warn: write('warn'),
    error: write('error'),
    child: (more) => stderrLogger({ ...bindings, ...more }),
  };
}

async function main(): Promise<void> {
  const raw = process.argv[2];
  if (raw === undefined) throw new Error("usage: coordinator-process.ts '<json config>'");
  const config = JSON.parse(raw) as CoordinatorProcessConfig;

  const store = await openStore(config.store, config.prefix ? { prefix: config.prefix } : {});
  const coordinator = createCoordinator({
    store,
    nodeId: config.nodeId,
    leaseMs: config.leaseMs,
    logger: stderrLogger(),
    ...(config.intervals !== undefined ? { intervals: config.intervals } : {}),
    ...(config.retention !== undefined ? { retention: config.retention } : {}),
    ...(config.heartbeatIntervalMs !== undefined ? { heartbeatIntervalMs: config.heartbeatIntervalMs } : {}),
  });

  let stopping = false;
  const timers: { watch?: NodeJS.Timeout } = {};
  const shutdown = (): void => {
    if (stopping) return;
    stopping = true;
    clearInterval(timers.watch);
    void (async () => {
      await coordinator.stop();
      print({ leader: coordinator.isLeader, at: Date.now() });
      await store.close();
      print({ stopped: true });
      process.exit(0);
    })().catch(fail);
  };
  process.on('SIGTERM', shutdown);
  process.on('SIGINT', shutdown);

  await coordinator.start();
  print({ ready: true, nodeId: coordinator.nodeId, pid: process.pid });

  const reportEveryMs = config.reportEveryMs ?? 100;
  let last: boolean | undefined;
  let lastPrintedAt = 0;
  timers.watch = setInterval(() => {
    const leader = coordinator.isLeader;
    const now = Date.now();
    if (leader !== last || now - lastPrintedAt >= reportEveryMs) {
      last = leader;
      lastPrintedAt = now;
      print({ leader, at: now });
    }
  }, 10);
}

// ---- the parent ------------------------------------------------------------------------------------

const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));
const SCRIPT = fileURLToPath(import.meta.url);
/** Starting a child means loading tsx and compiling the sources: slow on a loaded machine. */
const READY_TIMEOUT_MS = 30_000;
const STDERR_KEEP = 16_000;

export interface LeadershipReport {
  leader: boolean;
  /** The child's clock when it looked. */
  at: number;
  /** The parent's clock when the line arrived. */
  receivedAt: number;
}

export interface CoordinatorProcess {
  readonly nodeId: string;
  readonly pid: number;
  /** Resolves on the ready line; rejects if the child exits (or stalls) before it. */
  readonly ready: Promise<void>;
  readonly exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** The last leadership line, or undefined before the first one. */
  latest(): LeadershipReport | undefined;
  /** When this process first reported leading at or after `since` (child clock), or undefined. */
  firstLeadingSince(since: number): number | undefined;
  stderr(): string;
  alive(): boolean;
  kill(signal?: NodeJS.Signals): void;
}

const live = new Set<ChildProcessWithoutNullStreams>();
let exitHookInstalled = false;

function killNow(child: ChildProcessWithoutNullStreams): void {
  if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
}

/** SIGKILLs every coordinator process still alive and waits for them to exit. */
export async function killCoordinatorProcesses(): Promise<void> {
  await Promise.all(
    [...live].map(
      (child) =>
        new Promise<void>((resolve) => {
          if (child.exitCode !== null || child.signalCode !== null) return resolve();
          child.once('exit', () => resolve());
          killNow(child);
        }),
    ),
  );
}

export function spawnCoordinator(config: CoordinatorProcessConfig): CoordinatorProcess {
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    process.once('exit', () => [...live].forEach(killNow));
  }
  const child = spawn(process.execPath, ['--import', 'tsx', SCRIPT, JSON.stringify(config)], { cwd: REPO_ROOT, stdio: ['pipe', 'pipe', 'pipe'] });
  live.add(child);

  const reports: LeadershipReport[] = [];
  let stderr = '';
  let partial = '';
  let markReady!: () => void;
  let failReady!: (err: Error) => void;
  const ready = new Promise<void>((resolve, reject) => {
    markReady = resolve;
    failReady = reject;
  });
  ready.catch(() => undefined);
  const readyTimer = setTimeout(() => failReady(new Error(`coordinator ${config.nodeId}: not ready within ${READY_TIMEOUT_MS} ms\n${stderr}`)), READY_TIMEOUT_MS);

  child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    partial += chunk;
    let newline: number;
    while ((newline = partial.indexOf('\n')) >= 0) {
      const text = partial.slice(0, newline);
      partial = partial.slice(newline + 1);
      let line: CoordinatorProcessLine;
      try {
        line = JSON.parse(text) as CoordinatorProcessLine;
      } catch {
        continue;
      }
      if ('ready' in line) {
        clearTimeout(readyTimer);
        markReady();
      } else if ('leader' in line) {
        reports.push({ leader: line.leader, at: line.at, receivedAt: Date.now() });
      }
    }
  });
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
    stderr = (stderr + chunk).slice(-STDERR_KEEP);
  });
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once('exit', (code, signal) => {
      live.delete(child);
      clearTimeout(readyTimer);
      failReady(new Error(`coordinator ${config.nodeId} exited (${code ?? signal}) before it was ready:\n${stderr}`));
      resolve({ code, signal });
    });
  });

  return {
    nodeId: config.nodeId,
    pid: child.pid ?? -1,
    ready,
    exit,
    latest: () => reports[reports.length - 1],
    firstLeadingSince: (since) => reports.find((report) => report.leader && report.at >= since)?.at,
    stderr: () => stderr,
    alive: () => child.exitCode === null && child.signalCode === null,
    kill: (signal = 'SIGTERM') => {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
    },
  };
}

// Run only as a script: the tests import this module for `spawnCoordinator`.
if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  process.on('uncaughtException', fail);
  process.on('unhandledRejection', fail);
  main().catch(fail);
}
