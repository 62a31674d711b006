import type { StartTasksParams, StartTasksResult } from '../../store.js';
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
  const start = prepared<{ id: string; queue: string; token: string; now: number }, { cancel_requested: number }>(
    db,
    `UPDATE tasks SET started_at = coalesce(started_at, @now)
     WHERE id = @id AND queue = @queue AND state = 'processing' AND lease_token = @token AND lease_expires_at > @now
     RETURNING cancel_requested`,
  );
  const result: StartTasksResult = { started: [], lost: [], cancelRequested: [] };
  for (const lease of p.leases) {
    const row = start.get({ id: lease.id, queue: lease.queue, token: lease.token, now });
    if (row === undefined) {
      result.lost.push(lease.id);
      continue;
    }
    result.started.push(lease.id);
    if (row.cancel_requested !== 0) result.cancelRequested.push(lease.id);
  }
  return result;
}
