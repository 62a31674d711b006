/**
 * A Conveyor worker in a process of its own, driven by the bench over IPC (see
 * bench/lib/worker-protocol.ts): default options but the concurrency, one `noop` handler.
 *
 *   node --import tsx bench/workers/conveyor-worker.ts '<WorkerConfig as JSON>'
 */
import { createRedisStore, createSqliteStore, createWorker, type Store } from '../../src/index.js';
import { serveWorker } from '../lib/worker-protocol.js';

serveWorker(async (config, recorder) => {
  const store: Store = config.store.startsWith('sqlite:') ? createSqliteStore({ path: config.store.slice('sqlite:'.length) }) : createRedisStore({ url: config.store });
  // Connects (Redis) or opens the file (SQLite) now, before "ready", so that it is not timed.
  await store.migrate();
  const worker = createWorker({
    store,
    queues: [config.queue],
    concurrency: config.concurrency,
    handlers: {
      noop: async (task) => {
        recorder.onTask(task.payload);
      },
    },
  });
  return {
    start: () => worker.start(),
    stop: async () => {
      await worker.stop();
      await store.close();
    },
  };
});
