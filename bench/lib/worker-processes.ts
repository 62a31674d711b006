/**
 * Worker child processes seen from the bench: start N of them for a queue, wait until each is
 * connected and ready, release them all at once with "go", and stop them (collecting latency
 * samples). The protocol is in worker-protocol.ts.
 */
import { READY_TIMEOUT_MS, spawnChild, type Child } from './children.js';
import type { ChildMessage, WorkerConfig } from './worker-protocol.js';
import type { RunContext } from './scenario.js';
import { QUEUE, type QueueClient } from './systems.js';

const STOP_TIMEOUT_MS = 60_000;

export interface WorkerProcesses {
  children: readonly Child[];
  /** Tells every worker to start; resolves once each has started. */
  go(): Promise<void>;
  /** Stops every worker gracefully; resolves with their latency samples, concatenated. */
  stop(): Promise<number[]>;
}

export async function startWorkerProcesses(
  ctx: RunContext,
  q: QueueClient,
  options: { count: number; concurrency: number; mode?: WorkerConfig['mode'] },
): Promise<WorkerProcesses> {
  const config: WorkerConfig = { store: q.worker.store, queue: QUEUE, concurrency: options.concurrency, mode: options.mode ?? 'noop' };
  const children = Array.from({ length: options.count }, (_, i) =>
    spawnChild(ctx.cleanup, `${q.name} worker ${i + 1}/${options.count}`, {
      execArgv: ['--import', 'tsx'],
      script: q.worker.script,
      args: [JSON.stringify(config)],
    }),
  );
  await Promise.all(children.map((child) => child.message('ready', READY_TIMEOUT_MS)));
  return {
    children,
    go: async () => {
      for (const child of children) child.send({ type: 'go' });
      await Promise.all(children.map((child) => child.message('started')));
    },
    stop: async () => {
      const samples: number[] = [];
      await Promise.all(
        children.map(async (child) => {
          child.send({ type: 'stop' });
          const stopped = await child.message<Extract<ChildMessage, { type: 'stopped' }>>('stopped', STOP_TIMEOUT_MS);
          samples.push(...stopped.samples);
          await child.exited;
        }),
      );
      return samples;
    },
  };
}
