import type { RenewLeasesParams, RenewLeasesResult } from '../../store.js';
import { prepared, type Db } from './prepared.js';

/** Extends each lease still held under its token; the rest are lost. */
export function renewLeases(db: Db, p: RenewLeasesParams): RenewLeasesResult {
  const now = p.now ?? Date.now();
  const leaseExpiresAt = now + p.leaseMs;
  const renew = prepared<{ id: string; queue: string; token: string; leaseExpiresAt: number }, { cancel_requested: number }>(
    db,
    `UPDATE tasks SET lease_expires_at = @leaseExpiresAt
     WHERE id = @id AND queue = @queue AND state = 'processing' AND lease_token = @token
     RETURNING cancel_requested`,
  );
  const result: RenewLeasesResult = { renewed: [], lost: [], cancelRequested: [] };
  for (const lease of p.leases) {
    const row = renew.get({ id: lease.id, queue: lease.queue, token: lease.token, leaseExpiresAt });
    if (row === undefined) {
      result.lost.push(lease.id);
      continue;
    }
    result.renewed.push({ id: lease.id, leaseExpiresAt });
    if (row.cancel_requested !== 0) result.cancelRequested.push(lease.id);
  }
  return result;
}
