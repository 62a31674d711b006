import type { StartTasksParams, StartTasksResult } from '../../store.js';
import { LEASED_ROW, tokenRowid } from './lease.js';
import { prepared, type Db } from './prepared.js';

/**
 * Confirms prefetched tasks before their worker runs them. A task still `processing` under the
 * lease's token (and queue), with its lease not yet expired, gets `started_at` = now and is started;
 * anything else (stolen, reclaimed, expired, finished, unknown) is lost and nothing changes. The
 * lease itself is left as it is: starting is not a renewal.
 *
 * A task that had already started (claimed without prefetch, stolen, or started before) keeps its
 * start time and is reported started again, so a repeated call is harmless.
 */
export function startTasks(db: Db, p: StartTasksParams): StartTasksResult {
  const now = p.now ?? Date.now();
  const start = prepared<[number, number | null, string, string, string, string, number], number>(
    db,
    `UPDATE tasks SET started_at = coalesce(started_at, ?)
     WHERE ${LEASED_ROW} AND lease_expires_at > ?
     RETURNING cancel_requested`,
  ).pluck();
  const result: StartTasksResult = { started: [], lost: [], cancelRequested: [] };
  for (const lease of p.leases) {
    const cancelRequested = start.get(now, tokenRowid(lease.token), lease.id, lease.id, lease.queue, lease.token, now);
    if (cancelRequested === undefined) {
      result.lost.push(lease.id);
      continue;
    }
    result.started.push(lease.id);
    if (cancelRequested !== 0) result.cancelRequested.push(lease.id);
  }
  return result;
}
