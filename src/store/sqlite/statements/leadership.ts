import { randomUUID } from 'node:crypto';
import type { LeaderLease, LeaderParams } from '../../store.js';
import { prepared, type Db } from './prepared.js';

interface LeaderRow {
  node_id: string;
  token: string;
  expires_at: number;
}

const toLease = (row: LeaderRow): LeaderLease => ({ nodeId: row.node_id, token: row.token, expiresAt: row.expires_at });

/**
 * Takes the lease when nobody holds it, it expired, or this node already holds it. A node that
 * re-acquires its unexpired lease keeps the token; a fresh acquisition gets a new one, so a writer
 * fenced with the old token is refused.
 */
export function acquireLeadership(db: Db, p: LeaderParams & { ttlMs: number }): LeaderLease | null {
  const now = p.now ?? Date.now();
  const current = readLeader(db, p.name);
  const expiresAt = now + p.ttlMs;
  let token: string;
  if (current === undefined || current.expires_at <= now) token = randomUUID();
  else if (current.node_id === p.nodeId) token = current.token;
  else return null;
  prepared<[string, string, string, number]>(
    db,
    `INSERT INTO leaders (name, node_id, token, expires_at) VALUES (?, ?, ?, ?)
     ON CONFLICT (name) DO UPDATE SET node_id = excluded.node_id, token = excluded.token, expires_at = excluded.expires_at`,
  ).run(p.name, p.nodeId, token, expiresAt);
  return { nodeId: p.nodeId, token, expiresAt };
}

/** False when the lease is no longer ours under `token` (expired, taken, or resigned). */
export function renewLeadership(db: Db, p: LeaderParams & { token: string; ttlMs: number }): boolean {
  const now = p.now ?? Date.now();
  return (
    prepared<{ name: string; nodeId: string; token: string; now: number; expiresAt: number }>(
      db,
      `UPDATE leaders SET expires_at = @expiresAt
       WHERE name = @name AND node_id = @nodeId AND token = @token AND expires_at > @now`,
    ).run({ name: p.name, nodeId: p.nodeId, token: p.token, now, expiresAt: now + p.ttlMs }).changes === 1
  );
}

export function resignLeadership(db: Db, p: LeaderParams & { token: string }): void {
  prepared<[string, string, string]>(db, 'DELETE FROM leaders WHERE name = ? AND node_id = ? AND token = ?').run(
    p.name,
    p.nodeId,
    p.token,
  );
}

export function getLeader(db: Db, p: { name: string; now?: number }): LeaderLease | null {
  const now = p.now ?? Date.now();
  const row = readLeader(db, p.name);
  return row === undefined || row.expires_at <= now ? null : toLease(row);
}

function readLeader(db: Db, name: string): LeaderRow | undefined {
  return prepared<[string], LeaderRow>(db, 'SELECT node_id, token, expires_at FROM leaders WHERE name = ?').get(name);
}
