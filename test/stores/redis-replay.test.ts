/**
 * ioredis re-sends a command whose reply a reconnect lost, so a store script may run twice with the
 * same arguments. Claims and steals must then answer the same tasks instead of leasing more to
 * nobody (they would wait a whole lease to come back).
 */
import { randomUUID } from 'node:crypto';
import { afterEach, describe, expect, inject, it } from 'vitest';
import { createRedisStore, type RedisStore } from '../../src/store/redis/redis-store.js';
import { runScript } from '../../src/store/redis/scripts.js';
import { newTask } from '../helpers/factories.js';
import { deleteKeysWithPrefix } from '../helpers/redis-server.js';

describe('redis scripts replayed after a reconnect', () => {
  let store: RedisStore | undefined;

  afterEach(async () => {
    if (store) {
      await store.close();
      await deleteKeysWithPrefix(inject('redisUrl'), store.keys.prefix);
      store = undefined;
    }
  });

  async function open(): Promise<RedisStore> {
    store = createRedisStore({ url: inject('redisUrl'), prefix: `t${randomUUID().slice(0, 8)}` });
    await store.migrate();
    return store;
  }

  it('a claim run twice with the same token prefix hands out the same tasks, and no more', async () => {
    const s = await open();
    await s.insertTasks({ tasks: [newTask(), newTask(), newTask()] });
    const claim = (): Promise<unknown> =>
      runScript(s.redis, 'claimTasks', s.keys.queueKeys('default'), ['', 'default', 2, 30_000, 'w1', 'replayed', 1000, 2]);
    const first = (await claim()) as [number, unknown[][]];
    const second = (await claim()) as [number, unknown[][]];
    expect(first[1].map((wire) => wire[0])).toHaveLength(2);
    expect(second[1].map((wire) => wire[0])).toEqual(first[1].map((wire) => wire[0]));
    const [counts] = await s.countTasks({ queue: 'default' });
    expect(counts!.counts).toMatchObject({ processing: 2, pending: 1 });
  });

  it('a steal run twice with the same token prefix moves the same tasks, and no more', async () => {
    const s = await open();
    await s.insertTasks({ tasks: [newTask(), newTask(), newTask()] });
    await s.claimTasks({ queues: ['default'], workerId: 'victim', limit: 3, startLimit: 0, leaseMs: 30_000 });
    const steal = (): Promise<unknown> => runScript(s.redis, 'stealTasks', s.keys.queueKeys('default'), ['', 'default', 1, 30_000, 'thief', 'replayed']);
    const first = (await steal()) as unknown[][];
    const second = (await steal()) as unknown[][];
    expect(first.map((wire) => wire[0])).toHaveLength(1);
    expect(second.map((wire) => wire[0])).toEqual(first.map((wire) => wire[0]));
    const tasks = (await s.listTasks({ limit: 10 })).tasks;
    expect(tasks.filter((t) => t.workerId === 'thief')).toHaveLength(1);
  });
});
