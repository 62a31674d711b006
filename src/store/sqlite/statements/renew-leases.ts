import type { RenewLeasesParams, RenewLeasesResult } from '../../store.js';
import { LEASED_ROW, tokenRowid } from './lease.js';
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
  const renew = prepared<[number, string | null, number | null, string, string, string, string], number>(
    db,
    `UPDATE tasks SET lease_expires_at = ?, progress = coalesce(?, progress)
     WHERE ${LEASED_ROW}
     RETURNING cancel_requested`,
  ).pluck();
  const result: RenewLeasesResult = { renewed: [], lost: [], cancelRequested: [] };
  for (const lease of p.leases) {
    const progress = lease.progress === undefined ? null : JSON.stringify(lease.progress);
    const cancelRequested = renew.get(leaseExpiresAt, progress, tokenRowid(lease.token), lease.id, lease.id, lease.queue, lease.token);
    if (cancelRequested === undefined) {
      result.lost.push(lease.id);
      continue;
    }
    result.renewed.push({ id: lease.id, leaseExpiresAt });
    if (cancelRequested !== 0) result.cancelRequested.push(lease.id);
  }
  return result;
}
