import type { TaskError } from '../../../types.js';
import type { FinishItem, FinishOutcome, FinishTasksParams, FinishTasksResult } from '../../store.js';
import type { WakeNote } from '../wake.js';
import { endTask, unblockDependents } from './dependencies.js';
import { prepared, type Db } from './prepared.js';
import { appendError, taskError } from './rows.js';

/** The columns a finish needs of a task still held under the item's lease. */
interface HeldRow {
  id: string;
  queue: string;
  attempt: number;
  max_attempts: number;
  deadline: number | null;
  run_at: number;
  errors: string;
  cancel_requested: number;
}

/**
 * Records outcomes in input order. Every write is fenced by the lease: the task must still be
 * `processing` under the item's token (and queue), else the item is `lease_lost` and nothing changes.
 */
export function finishTasks(db: Db, p: FinishTasksParams, wakes: WakeNote[]): FinishTasksResult {
  const now = p.now ?? Date.now();
  const items = p.items.map((item) => ({ id: item.id, outcome: finishOne(db, item, now, wakes) }));
  return { items };
}

function finishOne(db: Db, item: FinishItem, now: number, wakes: WakeNote[]): FinishOutcome {
  if (item.outcome === 'complete') {
    // The hot path: one fenced UPDATE, no read first.
    const { changes } = prepared<{ id: string; queue: string; token: string; result: string | null; now: number }>(
      db,
      `UPDATE tasks SET state = 'completed', result = @result, finished_at = @now,
         lease_token = NULL, lease_expires_at = NULL, cancel_requested = 0
       WHERE id = @id AND queue = @queue AND state = 'processing' AND lease_token = @token`,
    ).run({ id: item.id, queue: item.queue, token: item.token, now, result: item.result === null ? null : JSON.stringify(item.result) });
    if (changes === 0) return 'lease_lost';
    unblockDependents(db, item.id, now, wakes);
    return 'completed';
  }

  const row = prepared<[string, string, string], HeldRow>(
    db,
    `SELECT id, queue, attempt, max_attempts, deadline, run_at, errors, cancel_requested FROM tasks
     WHERE id = ? AND queue = ? AND state = 'processing' AND lease_token = ?`,
  ).get(item.id, item.queue, item.token);
  if (row === undefined) return 'lease_lost';

  switch (item.outcome) {
    case 'fail':
      return fail(db, row, item, now, wakes);
    case 'release':
      return release(db, row, item.delayMs ?? 0, now, wakes);
    case 'cancel':
      return cancelWhileProcessing(db, row, row.errors, now);
  }
}

function fail(db: Db, row: HeldRow, item: Extract<FinishItem, { outcome: 'fail' }>, now: number, wakes: WakeNote[]): FinishOutcome {
  const failure = taskError(item.error.reason, item.error.message, row.attempt, now, item.error);
  const errors = appendError(row.errors, failure);

  if (item.permanent === true || row.attempt >= row.max_attempts) {
    endTask(db, { id: row.id, state: 'dead', error: failure, errors }, now);
    return 'dead';
  }
  const retryAt = now + item.retryDelayMs;
  if (row.deadline !== null && retryAt >= row.deadline) {
    // The handler's error stays in the history; the task died of its deadline.
    const message = `deadline ${new Date(row.deadline).toISOString()} leaves no time for attempt ${row.attempt + 1}`;
    const error = taskError('deadline_exceeded', message, row.attempt, now);
    endTask(db, { id: row.id, state: 'dead', error, errors: appendError(errors, error) }, now);
    return 'dead';
  }
  if (row.cancel_requested !== 0) {
    // A cancel asked for during this attempt would be lost by the next claim (which clears the
    // flag): honour it instead of retrying.
    return cancelWhileProcessing(db, row, errors, now);
  }

  const scheduled = item.retryDelayMs > 0;
  const runAt = scheduled ? retryAt : now;
  requeue(db, { id: row.id, state: scheduled ? 'scheduled' : 'pending', runAt, error: failure, errors });
  wakes.push({ queue: row.queue, dueInMs: runAt - now });
  return scheduled ? 'scheduled' : 'pending';
}

/** Back to the queue without spending the attempt; the worker no longer holds it. */
function release(db: Db, row: HeldRow, delayMs: number, now: number, wakes: WakeNote[]): FinishOutcome {
  if (row.cancel_requested !== 0) return cancelWhileProcessing(db, row, row.errors, now);
  const scheduled = delayMs > 0;
  // Released now, the task keeps its place in line: its due time stays.
  const runAt = scheduled ? now + delayMs : row.run_at;
  prepared<{ id: string; state: string; runAt: number }>(
    db,
    `UPDATE tasks SET state = @state, run_at = @runAt, attempt = attempt - 1,
       worker_id = NULL, lease_token = NULL, lease_expires_at = NULL
     WHERE id = @id`,
  ).run({ id: row.id, state: scheduled ? 'scheduled' : 'pending', runAt });
  wakes.push({ queue: row.queue, dueInMs: scheduled ? delayMs : 0 });
  return scheduled ? 'scheduled' : 'pending';
}

function cancelWhileProcessing(db: Db, row: HeldRow, errors: string, now: number): FinishOutcome {
  const error = taskError('cancelled', 'cancelled while processing', row.attempt, now);
  endTask(db, { id: row.id, state: 'cancelled', error, errors: appendError(errors, error) }, now);
  return 'cancelled';
}

function requeue(db: Db, r: { id: string; state: 'scheduled' | 'pending'; runAt: number; error: TaskError; errors: string }): void {
  prepared<{ id: string; state: string; runAt: number; error: string; errors: string }>(
    db,
    `UPDATE tasks SET state = @state, run_at = @runAt, error = @error, errors = @errors,
       lease_token = NULL, lease_expires_at = NULL
     WHERE id = @id`,
  ).run({ id: r.id, state: r.state, runAt: r.runAt, error: JSON.stringify(r.error), errors: r.errors });
}
