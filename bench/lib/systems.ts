/**
 * One face for the queues under test, so that a scenario writes its workload once and runs it on
 * each: Conveyor on the bench Redis (createRedisStore + createClient, defaults), Conveyor on a
 * SQLite file (createSqliteStore), and BullMQ (Queue, defaults). Each also names the worker child
 * that drains it.
 */
import { Queue } from 'bullmq';
import { fileURLToPath } from 'node:url';
import { createClient, createRedisStore, createSqliteStore, type JsonValue, type Store } from '../../src/index.js';
import type { RunContext } from './scenario.js';

/** Every workload uses one queue and one task type. */
export const QUEUE = 'bench';
export const TASK_TYPE = 'noop';

export const WORKER_SCRIPTS = {
  conveyor: fileURLToPath(new URL('../workers/conveyor-worker.ts', import.meta.url)),
  bullmq: fileURLToPath(new URL('../workers/bullmq-worker.ts', import.meta.url)),
} as const;

/** A task's payload: a JSON object (both systems take one). */
export type Payload = { [key: string]: JsonValue };

export interface QueueClient {
  name: string;
  /** The worker child that drains this queue, and the store it opens. */
  worker: { script: string; store: string };
  /** One task per call: `client.submit()` / `queue.add()`. */
  add(payload: Payload): Promise<void>;
  /** Up to 1,000 tasks in one call: `client.submitBatch()` / `queue.addBulk()`. */
  addBatch(payloads: readonly Payload[]): Promise<void>;
  /** How many tasks of the queue the store reports completed. */
  completed(): Promise<number>;
  close(): Promise<void>;
}

function conveyorClient(name: string, store: Store, workerStore: string): QueueClient {
  const client = createClient({ store });
  return {
    name,
    worker: { script: WORKER_SCRIPTS.conveyor, store: workerStore },
    add: async (payload) => {
      await client.submit({ type: TASK_TYPE, queue: QUEUE, payload });
    },
    addBatch: async (payloads) => {
      await client.submitBatch(payloads.map((payload) => ({ type: TASK_TYPE, queue: QUEUE, payload })));
    },
    completed: async () => (await client.stats({ queue: QUEUE }))[0]?.counts.completed ?? 0,
    close: () => store.close(),
  };
}

export async function openConveyorRedis(ctx: RunContext): Promise<QueueClient> {
  const store = createRedisStore({ url: ctx.redis.url });
  await store.migrate();
  return conveyorClient('conveyor (redis)', store, ctx.redis.url);
}

export async function openConveyorSqlite(path: string): Promise<QueueClient> {
  const store = createSqliteStore({ path });
  await store.migrate();
  return conveyorClient('conveyor (sqlite)', store, `sqlite:${path}`);
}

export async function openBullmq(ctx: RunContext): Promise<QueueClient> {
  const queue = new Queue(QUEUE, { connection: { host: ctx.redis.host, port: ctx.redis.port } });
  await queue.waitUntilReady();
  return {
    name: 'bullmq',
    worker: { script: WORKER_SCRIPTS.bullmq, store: ctx.redis.url },
    add: async (payload) => {
      await queue.add(TASK_TYPE, payload);
    },
    addBatch: async (payloads) => {
      await queue.addBulk(payloads.map((data) => ({ name: TASK_TYPE, data })));
    },
    completed: async () => (await queue.getJobCounts('completed'))['completed'] ?? 0,
    close: () => queue.close(),
  };
}

/** Runs `fn` with a queue client that is closed afterwards (also on Ctrl-C). */
export async function withQueue<R>(ctx: RunContext, open: () => Promise<QueueClient>, fn: (q: QueueClient) => Promise<R>): Promise<R> {
  const q = await open();
  const release = ctx.cleanup.add(`${q.name} connection`, () => q.close());
  try {
    return await fn(q);
  } finally {
    await release();
  }
}
