/**
 * vitest globalSetup: one private redis-server for the whole run. Tests read its URL with
 * `inject('redisUrl')` and isolate themselves by key prefix; nothing here connects to any Redis
 * this process did not start.
 */
import type { TestProject } from 'vitest/node';
import { startRedisServer } from './redis-server.js';

declare module 'vitest' {
  export interface ProvidedContext {
    redisUrl: string;
  }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const server = await startRedisServer();
  project.provide('redisUrl', server.url);
  return async () => {
    await server.stop();
  };
}
