import type { RenewLeasesParams, RenewLeasesResult } from '../../store.js';
import { prepared, type Db } from './prepared.js';

/**
 * Extends each lease still held under its token; the rest are lost. Progress sent with a lease is
 * stored in the same fenced statement, so a lost lease writes no progress either; a lease sent
 * without progress leaves the stored progress as it was.
 */
export function renewLeases(db: Db, p: RenewLeasesParams): RenewLeasesResult {
  const now = p.now ?? Date.now();
  const leaseExpiresAt = now + p.leaseMs;
  // `progress` is JSON text (JSON null is the text 'null'), so SQL NULL can only mean "none sent".
  const renew = prepared<
    { id: string; queue: string; token: string; leaseExpiresAt: number; progress: string | null },
    { cancel_requested: number }
  >(
    db,
    `UPDATE tasks SET lease_expires_at = @leaseExpiresAt, progress = coalesce(@progress, progress)
     WHERE id = @id AND queue = @queue AND state = 'processing' AND lease_token = @token
     RETURNING cancel_requested`,
  );
  const result: RenewLeasesResult = { renewed: [], lost: [], cancelRequested: [] };
  for (const lease of p.leases) {
    const progress = lease.progress === undefined ? null : JSON.stringify(lease.progress);
    const row = renew.get({ id: lease.id, queue: lease.queue, token: lease.token, leaseExpiresAt, progress });
    if (row === undefined) {
      result.lost.push(lease.id);
      continue;
    }
    result.renewed.push({ id: lease.id, leaseExpiresAt });
    if (row.cancel_requested !== 0) result.cancelRequested.push(lease.id);
  }
  return result;
}
