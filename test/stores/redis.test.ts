import { randomUUID } from 'node:crypto';
import { inject } from 'vitest';
import { createRedisStore } from '../../src/store/redis/redis-store.js';
import { describeStoreConformance, type StoreHarness } from '../conformance/index.js';
import { FakeClock } from '../helpers/fake-clock.js';
import { deleteKeysWithPrefix } from '../helpers/redis-server.js';

/**
 * A fresh key prefix per test on the redis-server the global setup started (so deleting by prefix
 * can only ever touch keys these tests wrote).
 */
async function openRedisHarness(): Promise<StoreHarness> {
  const url = inject('redisUrl');
  const prefix = `t${randomUUID().slice(0, 8)}`;
  const store = createRedisStore({ url, prefix });
  await store.migrate();
  return {
    store,
    clock: new FakeClock(),
    cleanup: async () => {
      await store.close();
      await deleteKeysWithPrefix(url, prefix);
    },
  };
}

describeStoreConformance('redis', openRedisHarness);
