import type { HeartbeatParams, WorkerInfo } from '../../store.js';
import { prepared, type Db } from './prepared.js';

/**
 * The worker registry: one row per worker, listed while its last heartbeat's ttl has not passed
 * (`expires_at > now`); expired rows stay until `deleteStaleWorkers` or the worker's next heartbeat.
 */

/** The part of WorkerInfo kept as JSON in `info` (the rest has columns of its own). */
type StoredInfo = Omit<WorkerInfo, 'id' | 'lastHeartbeatAt'>;

interface WorkerRow {
  id: string;
  last_heartbeat_at: number;
  info: string;
}

/** Upserts the worker's entry: every field replaced, `lastHeartbeatAt` = now, expiring `ttlMs` later. */
export function recordWorkerHeartbeat(db: Db, p: HeartbeatParams): void {
  const now = p.now ?? Date.now();
  const w = p.worker;
  // Named fields only, so the entry reads back as exactly a WorkerInfo whatever else the object carries.
  const info: StoredInfo = {
    // Only when given, so that an entry without them reads back without them.
    ...(w.role === undefined ? {} : { role: w.role }),
    ...(w.version === undefined ? {} : { version: w.version }),
    host: w.host,
    pid: w.pid,
    queues: [...w.queues],
    types: [...w.types],
    concurrency: { min: w.concurrency.min, max: w.concurrency.max, current: w.concurrency.current },
    running: w.running,
    startedAt: w.startedAt,
  };
  prepared<{ id: string; now: number; expiresAt: number; info: string }>(
    db,
    `INSERT INTO workers (id, last_heartbeat_at, expires_at, info) VALUES (@id, @now, @expiresAt, @info)
     ON CONFLICT (id) DO UPDATE SET
       last_heartbeat_at = excluded.last_heartbeat_at, expires_at = excluded.expires_at, info = excluded.info`,
  ).run({ id: w.id, now, expiresAt: now + p.ttlMs, info: JSON.stringify(info) });
}

export function removeWorker(db: Db, p: { id: string }): void {
  prepared<[string]>(db, 'DELETE FROM workers WHERE id = ?').run(p.id);
}

/** Unexpired entries, by id. */
export function listWorkers(db: Db, p: { now?: number }): WorkerInfo[] {
  const now = p.now ?? Date.now();
  return prepared<[number], WorkerRow>(db, 'SELECT id, last_heartbeat_at, info FROM workers WHERE expires_at > ? ORDER BY id')
    .all(now)
    .map((row) => ({ id: row.id, ...(JSON.parse(row.info) as StoredInfo), lastHeartbeatAt: row.last_heartbeat_at }));
}

/** Deletes up to `limit` expired entries, longest expired first. Returns how many. */
export function deleteStaleWorkers(db: Db, p: { now?: number; limit: number }): number {
  const now = p.now ?? Date.now();
  return prepared<{ now: number; limit: number }>(
    db,
    `DELETE FROM workers WHERE id IN (
       SELECT id FROM workers INDEXED BY workers_expiry WHERE expires_at <= @now ORDER BY expires_at LIMIT @limit + 0)`,
  ).run({ now, limit: Math.max(0, Math.floor(p.limit)) }).changes;
}
