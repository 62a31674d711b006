/**
 * A worker in a process of its own, for the system tests (real processes, real signals):
 *
 *   node --import tsx test/system/worker-process.ts '<WorkerProcessConfig as JSON>'
 *
 * It opens the store, starts a Worker and prints one line `{"ready":true,"id":"…","pid":…}` on
 * stdout. On SIGTERM or SIGINT it stops the worker gracefully (`worker.stop()`), closes the store,
 * prints `{"stopped":true}` and exits 0. With `reportCpuAfterMs` it also prints, that long after
 * the start, `{"cpu":{"user":µs,"system":µs},"wallMs":…}`: the CPU it used meanwhile.
 * Any uncaught error is printed on stderr and ends the process with code 1. With `exitWithParent`
 * it exits (code 2) as soon as its stdin closes, that is when the test process is gone.
 *
 * Warnings and errors the worker logs go to stderr as JSON lines: test/helpers/processes.ts keeps
 * them to explain a failure, and prints nothing otherwise.
 */
import { openStore } from '../../src/store/open-store.js';
import type { Store } from '../../src/store/store.js';
import type { Logger } from '../../src/worker/handlers.js';
import { createWorker, type Worker } from '../../src/worker/worker.js';

export interface WorkerProcessConfig {
  /** `sqlite:/path` or `redis://…`. */
  store: string;
  /** Redis key prefix. */
  prefix?: string;
  /** Absolute path of the handlers module. */
  handlersModule: string;
  queues?: string[];
  concurrency?: number | string;
  prefetch?: number;
  steal?: boolean;
  leaseMs?: number;
  shutdownGraceMs?: number;
  sandbox?: boolean | { threads?: number; terminateGraceMs?: number };
  id?: string;
  idleWaitMs?: number;
  /** Print the CPU used (`process.cpuUsage`) from the start until this many ms later. */
  reportCpuAfterMs?: number;
  /**
   * Exit (code 2, no graceful stop) when stdin closes: the parent's end of the pipe closes when it
   * dies, however it dies, so a killed test run leaves no worker behind. Set by the test helper.
   */
  exitWithParent?: boolean;
}

export type WorkerProcessLine =
  | { ready: true; id: string; pid: number }
  | { stopped: true }
  | { cpu: { user: number; system: number }; wallMs: number };

function print(line: WorkerProcessLine): void {
  process.stdout.write(`${JSON.stringify(line)}\n`);
}

function fail(err: unknown): never {
  process.stderr.write(`worker-process: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
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
  if (raw === undefined) throw new Error("usage: worker-process.ts '<json config>'");
  const config = JSON.parse(raw) as WorkerProcessConfig;

  if (config.exitWithParent) {
    process.stdin.on('end', () => process.exit(2));
    process.stdin.on('error', () => process.exit(2));
    process.stdin.resume();
  }

  const store: Store = await openStore(config.store, config.prefix ? { prefix: config.prefix } : {});
  const worker: Worker = createWorker({
    store,
    handlersModule: config.handlersModule,
    logger: stderrLogger(),
    ...(config.queues !== undefined ? { queues: config.queues } : {}),
    ...(config.concurrency !== undefined ? { concurrency: config.concurrency } : {}),
    ...(config.prefetch !== undefined ? { prefetch: config.prefetch } : {}),
    ...(config.steal !== undefined ? { steal: config.steal } : {}),
    ...(config.leaseMs !== undefined ? { leaseMs: config.leaseMs } : {}),
    ...(config.shutdownGraceMs !== undefined ? { shutdownGraceMs: config.shutdownGraceMs } : {}),
    ...(config.sandbox !== undefined ? { sandbox: config.sandbox } : {}),
    ...(config.id !== undefined ? { id: config.id } : {}),
    ...(config.idleWaitMs !== undefined ? { idleWaitMs: config.idleWaitMs } : {}),
  });

  let stopping = false;
  const shutdown = (): void => {
    if (stopping) return;
    stopping = true;
    void (async () => {
      await worker.stop();
      await store.close();
      print({ stopped: true });
      process.exit(0);
    })().catch(fail);
  };
  process.on('SIGTERM', shutdown);
  process.on('SIGINT', shutdown);

  await worker.start();
  print({ ready: true, id: worker.id, pid: process.pid });

  if (config.reportCpuAfterMs !== undefined) {
    const cpuBefore = process.cpuUsage();
    const wallBefore = performance.now();
    setTimeout(() => {
      const cpu = process.cpuUsage(cpuBefore);
      print({ cpu: { user: cpu.user, system: cpu.system }, wallMs: performance.now() - wallBefore });
    }, config.reportCpuAfterMs);
  }
}

process.on('uncaughtException', fail);
process.on('unhandledRejection', fail);
main().catch(fail);
