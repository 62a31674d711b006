/**
 * An idle worker sleeps (issue 3, acceptance): with nothing to do for 10 s, a worker process uses
 * under 2 % of a core. The child measures itself with `process.cpuUsage` from just after its start
 * to 10 s later, so the load of other test files on the machine does not count against it.
 */
import { afterAll, describe, inject, it } from 'vitest';
import { countByState, isCpuLine, killWorkerProcesses, openSharedStore, spawnWorker, TEST_HANDLERS_MODULE, type StoreKind } from '../helpers/processes.js';

const IDLE_MS = 10_000;
const MAX_CORE_SHARE = 0.02;

afterAll(killWorkerProcesses);

// The two stores at once: each child measures only its own CPU, and the file takes half the time.
// Concurrent tests must use their context's `expect` and `onTestFinished`.
describe.concurrent.each<StoreKind>(['sqlite', 'redis'])('idle worker process on %s', (kind) => {
  it(
    'uses under 2 % of a core over 10 s with an empty queue',
    async ({ annotate, expect, onTestFinished }) => {
      const shared = await openSharedStore(kind, inject('redisUrl'));
      onTestFinished(shared.cleanup);

      const worker = spawnWorker({
        ...shared.target,
        handlersModule: TEST_HANDLERS_MODULE,
        queues: ['idle'],
        concurrency: 10,
        reportCpuAfterMs: IDLE_MS,
      }, { onTestFinished });
      await worker.ready;
      const report = await worker.waitForLine(isCpuLine, IDLE_MS + 20_000);

      const cpuMs = (report.cpu.user + report.cpu.system) / 1000;
      const share = cpuMs / report.wallMs;
      await annotate(
        `${kind}: idle worker used ${cpuMs.toFixed(1)} ms CPU (user ${(report.cpu.user / 1000).toFixed(1)}, system ${(report.cpu.system / 1000).toFixed(1)}) over ${Math.round(report.wallMs)} ms = ${(share * 100).toFixed(2)} % of a core`,
      );
      // Timers may fire a hair before their time as performance.now() sees it.
      expect(report.wallMs).toBeGreaterThanOrEqual(IDLE_MS - 50);
      expect(share).toBeLessThan(MAX_CORE_SHARE);
      // It was idle indeed: the queue stayed empty.
      expect((await countByState(shared.store, 'idle')).total).toBe(0);

      worker.kill('SIGTERM');
      expect(await worker.exit).toEqual({ code: 0, signal: null });
    },
    60_000,
  );
});
