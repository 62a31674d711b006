import type { Redis } from 'ioredis';
import type { HeartbeatParams, WorkerInfo } from '../store.js';

/**
 * The worker registry on Redis: one hash (untagged: single-key commands only), worker id → JSON
 * of its WorkerInfo plus `expiresAt`. Expired entries are not listed; the leader deletes them.
 * Times come from the caller's `now` or the Redis server's clock.
 */
export class WorkerRegistry {
  constructor(
    private readonly redis: Redis,
    private readonly key: string,
    private readonly serverTime: () => Promise<number>,
  ) {}

  async record(p: HeartbeatParams): Promise<void> {
    const now = p.now ?? (await this.serverTime());
    const entry = { ...p.worker, lastHeartbeatAt: now, expiresAt: now + p.ttlMs };
    await this.redis.hset(this.key, p.worker.id, JSON.stringify(entry));
  }

  async remove(id: string): Promise<void> {
    await this.redis.hdel(this.key, id);
  }

  async list(now: number | undefined): Promise<WorkerInfo[]> {
    return (await this.#read(now)).live;
  }

  async deleteStale(now: number | undefined, limit: number): Promise<number> {
    const doomed = (await this.#read(now)).stale.slice(0, limit);
    if (doomed.length > 0) await this.redis.hdel(this.key, ...doomed);
    return doomed.length;
  }

  async #read(given: number | undefined): Promise<{ live: WorkerInfo[]; stale: string[] }> {
    const [entries, now] = await Promise.all([this.redis.hgetall(this.key), given ?? this.serverTime()]);
    const live: WorkerInfo[] = [];
    const stale: string[] = [];
    for (const [id, json] of Object.entries(entries)) {
      const { expiresAt, ...info } = JSON.parse(json) as WorkerInfo & { expiresAt: number };
      if (expiresAt > now) live.push(info);
      else stale.push(id);
    }
    live.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    return { live, stale };
  }
}
