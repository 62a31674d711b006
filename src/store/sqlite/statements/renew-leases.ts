import type { RenewLeasesParams, RenewLeasesResult } from '../../store.js';
import { EV, eventLog } from './events.js';
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
  const renew = prepared<[number, number | null, string, string, string, string], number>(
    db,
    `UPDATE tasks SET lease_expires_at = ?
     WHERE ${LEASED_ROW}
     RETURNING cancel_requested`,
  ).pluck();
  // A lease with progress: stored, and returned for its `task:progress` event.
  const renewWithProgress = prepared<[number, string, number | null, string, string, string, string], [number, string, number]>(
    db,
    `UPDATE tasks SET lease_expires_at = ?, progress = ?
     WHERE ${LEASED_ROW}
     RETURNING cancel_requested, type, attempt`,
  ).raw();
  const log = eventLog(db, now);
  const result: RenewLeasesResult = { renewed: [], lost: [], cancelRequested: [] };
  for (const lease of p.leases) {
    let cancelRequested: number | undefined;
    const rowid = tokenRowid(lease.token);
    if (lease.progress === undefined) {
      cancelRequested = renew.get(leaseExpiresAt, rowid, lease.id, lease.id, lease.queue, lease.token);
    } else {
      const row = renewWithProgress.get(leaseExpiresAt, JSON.stringify(lease.progress), rowid, lease.id, lease.id, lease.queue, lease.token);
      if (row !== undefined) {
        cancelRequested = row[0];
        log?.addDetailed(EV.progress, lease.id, lease.queue, row[1], row[2], 'processing', lease.progress);
      }
    }
    if (cancelRequested === undefined) {
      result.lost.push(lease.id);
      continue;
    }
    result.renewed.push({ id: lease.id, leaseExpiresAt });
    if (cancelRequested !== 0) result.cancelRequested.push(lease.id);
  }
  return result;
}
