/**
 * Redis-only properties the conformance suite cannot see: the hash-tag scheme that keeps each
 * queue in one slot, the script headers, and the memory a waiting task costs.
 */
import { randomUUID } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import calculateSlot from 'cluster-key-slot';
import { Redis } from 'ioredis';
import { afterEach, describe, expect, inject, it } from 'vitest';
import { QUEUE_KEY_NAMES, RedisKeys } from '../../src/store/redis/keys.js';
import { createRedisStore, type RedisStore } from '../../src/store/redis/redis-store.js';
import { QUEUE_SCRIPTS, SINGLE_KEY_SCRIPTS } from '../../src/store/redis/scripts.js';
import { newTask } from '../helpers/factories.js';
import { startRedisServer } from '../helpers/redis-server.js';

const SCRIPTS_DIR = new URL('../../src/store/redis/scripts/', import.meta.url);

describe('redis key layout', () => {
  let store: RedisStore | undefined;
  let admin: Redis | undefined;

  afterEach(async () => {
    if (store && admin) {
      const keys = await admin.keys(`${store.keys.prefix}:*`);
      if (keys.length > 0) await admin.del(...keys);
    }
    await store?.close();
    admin?.disconnect();
    store = undefined;
    admin = undefined;
  });

  it('builds every key of a queue in that queue’s slot, and different queues in their own tags', () => {
    const keys = new RedisKeys('conveyor');
    for (const queue of ['default', 'emails', 'images.resize']) {
      const slots = new Set(keys.queueKeys(queue).map((key) => calculateSlot(key)));
      expect(slots.size).toBe(1);
      expect(keys.queueKeys(queue).every((key) => key.includes(`{${queue}}`))).toBe(true);
    }
    expect(keys.queueKeys('default')).toHaveLength(QUEUE_KEY_NAMES.length);
  });

  it('refuses queue names and prefixes that could break out of a key pattern', () => {
    const keys = new RedisKeys('conveyor');
    for (const bad of ['a}b', '{x}', 'a b', 'a*', '', 'x'.repeat(101)]) {
      expect(() => keys.queueKeys(bad)).toThrow(/queue name/);
    }
    expect(() => new RedisKeys('pre{fix}')).toThrow(/prefix/);
  });

  it('writes only tagged per-queue keys (plus the untagged registries, schedules and leases) during a workload', async () => {
    const prefix = `t${randomUUID().slice(0, 8)}`;
    store = createRedisStore({ url: inject('redisUrl'), prefix });
    admin = new Redis(inject('redisUrl'));
    await store.migrate();
    const parent = newTask({ queue: 'alpha' });
    const child = newTask({ queue: 'beta', dependsOn: [parent.id], key: 'k' });
    await store.insertTasks({ tasks: [parent, child, newTask({ queue: 'alpha', runAt: Date.now() + 60_000, deadline: Date.now() + 120_000 })] });
    const [claimed] = await store.claimTasks({ queues: ['alpha'], workerId: 'w', limit: 1, leaseMs: 1000 });
    await store.finishTasks({ items: [{ id: claimed!.id, queue: 'alpha', token: claimed!.leaseToken, outcome: 'complete', result: 1 }] });
    await store.acquireLeadership({ name: 'coordinator', nodeId: 'n', ttlMs: 1000 });
    const due = Date.now() + 60_000;
    await store.upsertSchedules({
      schedules: [{ name: 'nightly', cron: '0 3 * * *', timezone: null, everyMs: null, task: { queue: 'alpha', type: 't' }, missedRuns: 'skip', paused: false, nextRunAt: due }],
    });
    await store.advanceSchedule({ name: 'nightly', expectedNextRunAt: due, lastRunAt: due, nextRunAt: due + 86_400_000 });

    const written = await admin.keys(`${prefix}:*`);
    const untagged = written.filter((key) => !key.includes('{')).sort();
    expect(untagged).toEqual([`${prefix}:leader:coordinator`, `${prefix}:queues`, `${prefix}:schedules`]);
    for (const queue of ['alpha', 'beta']) {
      const slot = calculateSlot(`{${queue}}`);
      const mine = written.filter((key) => key.includes(`{${queue}}`));
      expect(mine.length).toBeGreaterThan(0);
      expect(mine.every((key) => calculateSlot(key) === slot)).toBe(true);
    }
  });

  it('keeps a waiting task with a 100-byte payload under BullMQ’s ~680 bytes', async () => {
    // A server of its own: other test files free memory on the shared one while this measures.
    const server = await startRedisServer();
    try {
      await measureWaitingTaskBytes(server.url);
    } finally {
      await server.stop();
    }
  }, 60_000);
});

async function measureWaitingTaskBytes(url: string): Promise<void> {
  const store = createRedisStore({ url, prefix: 'mem' });
  const admin = new Redis(url);
  try {
    await store.migrate();
    const count = 10_000;
    const payload = { data: 'x'.repeat(89) }; // JSON.stringify → 100 bytes
    expect(JSON.stringify(payload)).toHaveLength(100);
    // Warm the queue's fixed keys so the measurement is per task only.
    await store.insertTasks({ tasks: [newTask({ queue: 'mem', payload })] });
    const before = await usedMemory(admin);
    for (let i = 0; i < count; i += 1000) {
      await store.insertTasks({ tasks: Array.from({ length: 1000 }, () => newTask({ queue: 'mem', payload })) });
    }
    const bytes = ((await usedMemory(admin)) - before) / count;
    console.log(`redis memory per waiting task (100-byte payload): ${bytes.toFixed(0)} bytes`);
    expect(bytes).toBeGreaterThan(100);
    expect(bytes).toBeLessThan(680);
  } finally {
    await store.close();
    admin.disconnect();
  }
}

describe('redis scripts', () => {
  it('has one script file per operation, each opening with a header that documents KEYS, ARGV and returns', () => {
    const files = readdirSync(SCRIPTS_DIR).filter((name) => name.endsWith('.lua'));
    const names = [...QUEUE_SCRIPTS, ...SINGLE_KEY_SCRIPTS].map((name) => `${name}.lua`).sort();
    expect(files.sort()).toEqual(names);
    for (const file of files) {
      const header = readFileSync(new URL(file, SCRIPTS_DIR), 'utf8').split(']]')[0]!;
      expect(header.startsWith(`--[[ ${file.replace('.lua', '')}:`), file).toBe(true);
      expect(header, file).toMatch(/KEYS/);
      expect(header, file).toMatch(/ARGV/);
      expect(header, file).toMatch(/Returns:/);
    }
  });
});

async function usedMemory(redis: Redis): Promise<number> {
  const info = await redis.info('memory');
  return Number(/used_memory:(\d+)/.exec(info)![1]);
}
