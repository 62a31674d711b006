/**
 * The bench's own redis-server: started by the tests' helper (a free port on 127.0.0.1, no
 * persistence, a temp directory), so the bench never touches any other Redis. One admin
 * connection reads INFO and flushes between runs.
 */
import { Redis } from 'ioredis';
import { startRedisServer } from '../../test/helpers/redis-server.js';
import type { Cleanup } from './cleanup.js';

export interface BenchRedis {
  url: string;
  host: string;
  port: number;
  version: string;
  /** Empties the server (FLUSHALL SYNC: memory is freed before it answers). */
  flushAll(): Promise<void>;
  /** `used_memory` of INFO memory, in bytes. */
  usedMemory(): Promise<number>;
  /** `used_cpu_user + used_cpu_sys` of INFO cpu: the server's CPU time so far, in seconds. */
  usedCpuSeconds(): Promise<number>;
}

function infoField(info: string, name: string): string {
  const match = new RegExp(`^${name}:(.*)$`, 'm').exec(info);
  if (!match) throw new Error(`INFO has no ${name}`);
  return match[1]!.trim();
}

export async function startBenchRedis(cleanup: Cleanup): Promise<BenchRedis> {
  const server = await startRedisServer();
  cleanup.add('redis-server', () => server.stop());
  const admin = new Redis(server.url, { maxRetriesPerRequest: 1 });
  cleanup.add('redis admin connection', () => {
    admin.disconnect();
  });
  const version = infoField(await admin.info('server'), 'redis_version');
  return {
    url: server.url,
    host: '127.0.0.1',
    port: server.port,
    version,
    flushAll: async () => {
      await admin.flushall('SYNC');
    },
    usedMemory: async () => Number(infoField(await admin.info('memory'), 'used_memory')),
    usedCpuSeconds: async () => {
      const info = await admin.info('cpu');
      return Number(infoField(info, 'used_cpu_user')) + Number(infoField(info, 'used_cpu_sys'));
    },
  };
}
