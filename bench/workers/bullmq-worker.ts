/**
 * A BullMQ worker in a process of its own, driven by the bench over IPC (see
 * bench/lib/worker-protocol.ts): BullMQ's default options but the concurrency (completed jobs are
 * kept, as Conveyor keeps completed tasks), a processor that does nothing.
 *
 *   node --import tsx bench/workers/bullmq-worker.ts '<WorkerConfig as JSON>'
 */
import { Worker } from 'bullmq';
import { serveWorker } from '../lib/worker-protocol.js';

serveWorker(async (config, recorder) => {
  const url = new URL(config.store);
  const worker = new Worker(
    config.queue,
    async (job) => {
      recorder.onTask(job.data);
    },
    // autorun: false, so that connecting happens before "ready" and fetching jobs only after "go".
    { connection: { host: url.hostname, port: Number(url.port) }, concurrency: config.concurrency, autorun: false },
  );
  worker.on('error', (err) => process.stderr.write(`bullmq worker error: ${err.message}\n`));
  await worker.waitUntilReady();
  let running: Promise<void> | undefined;
  return {
    start: async () => {
      running = worker.run();
      running.catch((err: unknown) => process.stderr.write(`bullmq worker stopped: ${String(err)}\n`));
    },
    stop: async () => {
      await worker.close();
      await running;
    },
  };
});
