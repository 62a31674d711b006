import type { TaskError } from '../../../types.js';
import type { FinishItem, FinishOutcome, FinishTasksParams, FinishTasksResult } from '../../store.js';
import type { WakeNote } from '../wake.js';
import { countMoved } from './counts.js';
import { endTask, unblockDependentsOf } from './dependencies.js';
import { EV, eventLog, type EventGroup, type EventLog } from './events.js';
import { LEASED_ROW, tokenRowid } from './lease.js';
import { prepared, sqlForRows, type Db, type Statement } from './prepared.js';
import { appendError, taskError } from './rows.js';

/** The columns a finish needs of a task still held under the item's lease. */
interface HeldRow {
  id: string;
  queue: string;
  type: string;
  attempt: number;
  max_attempts: number;
  deadline: number | null;
  run_at: number;
  errors: string;
  cancel_requested: number;
}

type CompleteItem = Extract<FinishItem, { outcome: 'complete' }>;

/**
 * Records outcomes in input order. Every write is fenced by the lease: the task must still be
 * `processing` under the item's token (and queue), else the item is `lease_lost` and nothing changes.
 */
export function finishTasks(db: Db, p: FinishTasksParams, wakes: WakeNote[]): FinishTasksResult {
  const now = p.now ?? Date.now();
  if (allCompleteOfDistinctTasks(p.items)) return completeAll(db, p.items, now, wakes);
  const items = p.items.map((item) => ({ id: item.id, outcome: finishOne(db, item, now, wakes) }));
  return { items };
}

function allCompleteOfDistinctTasks(items: readonly FinishItem[]): items is CompleteItem[] {
  for (const item of items) if (item.outcome !== 'complete') return false;
  if (items.length < 2) return true;
  const ids = new Set<string>();
  for (const item of items) ids.add(item.id);
  return ids.size === items.length;
}

/** Completions are written this many at a time, largest first (as inserts are). */
const COMPLETE_CHUNKS = [50, 10, 1] as const;

/**
 * The hot path: a batch of completions of distinct tasks (a worker's completer), with no read first.
 * When every token names its row (lease.ts), the items go in chunks, each one UPDATE joined with its
 * items as a VALUES list, returning the rows it completed: a statement per item costs more in
 * statement overhead (cursors on every index of `tasks`, the reset, the reply) than its own row.
 * Otherwise one fenced UPDATE per item. Then the dependents of the completed tasks, looked up for the
 * batch at once. Completing a task changes no other processing task, so updating them together, and
 * unblocking after the batch instead of after each item, ends in the same state.
 */
function completeAll(db: Db, items: readonly CompleteItem[], now: number, wakes: WakeNote[]): FinishTasksResult {
  const rowids: number[] = new Array(items.length);
  let byRowid = items.length > 1;
  for (let i = 0; i < items.length && byRowid; i++) {
    const rowid = tokenRowid((items[i] as CompleteItem).token);
    if (rowid === null) byRowid = false;
    else rowids[i] = rowid;
  }

  const out: FinishTasksResult['items'] = new Array(items.length);
  const completed: string[] = [];
  /** Completions per queue, for the counts (a batch is usually of one queue). */
  const perQueue = new Map<string, number>();
  const log = eventLog(db, now);
  // For `task:completed`, each completed task's `<attempt> <type>`, or null when they are the log's
  // guess (see completedEvents).
  const guessType = log?.completedType ?? '';
  const guessAttempt = log?.completedAttempt ?? 0;
  const completedItems: CompleteItem[] = [];
  const completedRows: (string | null)[] = [];
  /** `done`: `<attempt> <type>` of the completed row, null = the guess, undefined = lease lost. */
  const record = (i: number, done: string | null | undefined): void => {
    const item = items[i] as CompleteItem;
    out[i] = { id: item.id, outcome: done !== undefined ? 'completed' : 'lease_lost' };
    if (done === undefined) return;
    completed.push(item.id);
    perQueue.set(item.queue, (perQueue.get(item.queue) ?? 0) + 1);
    if (log === null) return;
    completedItems.push(item);
    completedRows.push(done);
  };
  if (byRowid) {
    let start = 0;
    while (start < items.length) {
      const left = items.length - start;
      const size = COMPLETE_CHUNKS.find((chunk) => chunk <= left) as number;
      const params: unknown[] = [];
      for (let i = start; i < start + size; i++) {
        const item = items[i] as CompleteItem;
        params.push(rowids[i], item.id, item.queue, item.token, item.result === null ? null : JSON.stringify(item.result));
      }
      const done = new Map<number, string | null>();
      if (log === null) {
        // No events: only which rows completed matters.
        for (const rowid of completeChunkRowids(db, size).all(...params, now)) done.set(rowid, null);
      } else {
        for (const value of completeChunk(db, size).all(...params, now, guessType, guessAttempt)) {
          if (typeof value === 'number') {
            done.set(value, null);
            continue;
          }
          const space = value.indexOf(' ');
          done.set(Number(value.slice(0, space)), value.slice(space + 1));
        }
      }
      for (let i = start; i < start + size; i++) record(i, done.get(rowids[i] as number));
      start += size;
    }
  } else {
    const complete = completeStatement(db);
    items.forEach((item, i) => {
      const result = item.result === null ? null : JSON.stringify(item.result);
      record(i, complete.get(result, now, tokenRowid(item.token), item.id, item.id, item.queue, item.token));
    });
  }
  if (log !== null) completedEvents(log, completedItems, completedRows);
  for (const [queue, n] of perQueue) countMoved(db, queue, 'processing', 'completed', n);
  unblockDependentsOf(db, completed, now, wakes);
  return { items: out };
}

/**
 * `task:completed` of `items`, each with what its statement returned (`rows`: `<attempt> <type>`, or
 * null when they were the log's guess), added to the log's group for as long as queue, type and
 * attempt stay the same. The batched statement returns only the rowid (a number, as cheap as without
 * events) of a row whose type and attempt are the ones the last completions had, and text for any
 * other; the guess then becomes the last batch's. Kept out of `completeAll`, which stays as small
 * for the compiler as without events.
 */
function completedEvents(log: EventLog, items: readonly CompleteItem[], rows: readonly (string | null)[]): void {
  let group: EventGroup | null = null;
  let queue = '';
  let type = log.completedType;
  let attempt = log.completedAttempt;
  for (let i = 0; i < items.length; i++) {
    const item = items[i] as CompleteItem;
    const row = rows[i] as string | null;
    let rowType = log.completedType;
    let rowAttempt = log.completedAttempt;
    if (row !== null) {
      const space = row.indexOf(' ');
      rowAttempt = Number(row.slice(0, space));
      rowType = row.slice(space + 1);
    }
    if (group === null || item.queue !== queue || rowType !== type || rowAttempt !== attempt) {
      queue = item.queue;
      type = rowType;
      attempt = rowAttempt;
      group = log.group(EV.completed, queue, type, attempt, 'completed', null, false);
    }
    log.push(group, item.id);
  }
  log.completedType = type;
  log.completedAttempt = attempt;
}

/**
 * What a completion returns of each row it completed, for its event: `<attempt> <type>` (one text:
 * better-sqlite3 hands over columns one at a time, each costing more than SQLite's concatenation).
 */
const COMPLETED_ROW = "tasks.attempt || ' ' || tasks.type";

/** `task:completed` of a completion whose statement returned `done` (`COMPLETED_ROW`). */
function completedEvent(log: EventLog, item: CompleteItem, done: string): void {
  const space = done.indexOf(' ');
  log.add(EV.completed, item.id, item.queue, done.slice(space + 1), Number(done.slice(0, space)), 'completed');
}

/** A chunk's UPDATE, returning `returning` of each row it completed. */
function completeChunkSql(rows: number, returning: string): string {
  return `WITH item (rid, id, queue, token, result) AS (VALUES ${new Array<string>(rows).fill('(?, ?, ?, ?, ?)').join(', ')})
     UPDATE OR FAIL tasks SET state = 'completed', result = item.result, finished_at = ?,
       lease_token = NULL, lease_expires_at = NULL, cancel_requested = 0
     FROM item
     WHERE tasks.rowid = item.rid AND tasks.id = item.id AND tasks.queue = item.queue
       AND tasks.state = 'processing' AND tasks.lease_token = item.token
     RETURNING ${returning}`;
}

/**
 * With events: the rowid of each completed row whose type and attempt are the last two parameters
 * (a number, as cheap to return as the rowid alone), `<rowid> <attempt> <type>` of any other.
 */
function completeChunk(db: Db, rows: number): Statement<unknown[], number | string> {
  const sql = sqlForRows('complete', rows, (n) =>
    completeChunkSql(n, `CASE WHEN tasks.type = ? AND tasks.attempt = ? THEN tasks.rowid ELSE tasks.rowid || ' ' || ${COMPLETED_ROW} END`),
  );
  return prepared<unknown[], number | string>(db, sql).pluck();
}

/** Without events (`eventsRetain` 0): the rowids alone. */
function completeChunkRowids(db: Db, rows: number): Statement<unknown[], number> {
  const sql = sqlForRows('complete-rowids', rows, (n) => completeChunkSql(n, 'tasks.rowid'));
  return prepared<unknown[], number>(db, sql).pluck();
}

function completeStatement(db: Db): Statement<[string | null, number, number | null, string, string, string, string], string> {
  return prepared<[string | null, number, number | null, string, string, string, string], string>(
    db,
    `UPDATE tasks SET state = 'completed', result = ?, finished_at = ?,
       lease_token = NULL, lease_expires_at = NULL, cancel_requested = 0
     WHERE ${LEASED_ROW}
     RETURNING ${COMPLETED_ROW}`,
  ).pluck();
}

function finishOne(db: Db, item: FinishItem, now: number, wakes: WakeNote[]): FinishOutcome {
  if (item.outcome === 'complete') {
    // One fenced UPDATE, no read first.
    const result = item.result === null ? null : JSON.stringify(item.result);
    const done = completeStatement(db).get(result, now, tokenRowid(item.token), item.id, item.id, item.queue, item.token);
    if (done === undefined) return 'lease_lost';
    countMoved(db, item.queue, 'processing', 'completed');
    const log = eventLog(db, now);
    if (log !== null) completedEvent(log, item, done);
    unblockDependentsOf(db, [item.id], now, wakes);
    return 'completed';
  }

  const row = prepared<[number | null, string, string, string, string], HeldRow>(
    db,
    `SELECT id, queue, type, attempt, max_attempts, deadline, run_at, errors, cancel_requested FROM tasks WHERE ${LEASED_ROW}`,
  ).get(tokenRowid(item.token), item.id, item.id, item.queue, item.token);
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
  const state = scheduled ? 'scheduled' : 'pending';
  requeue(db, { id: row.id, state, runAt, error: failure, errors });
  countMoved(db, row.queue, 'processing', state);
  eventLog(db, now)?.addDetailed(EV.failed, row.id, row.queue, row.type, row.attempt, state, failure.reason, failure.message, runAt);
  wakes.push({ queue: row.queue, dueInMs: runAt - now });
  return scheduled ? 'scheduled' : 'pending';
}

/** Back to the queue without spending the attempt; the worker no longer holds it. */
function release(db: Db, row: HeldRow, delayMs: number, now: number, wakes: WakeNote[]): FinishOutcome {
  if (row.cancel_requested !== 0) return cancelWhileProcessing(db, row, row.errors, now);
  const scheduled = delayMs > 0;
  // Released now, the task keeps its place in line: its due time stays.
  const runAt = scheduled ? now + delayMs : row.run_at;
  prepared<[string, number, string]>(
    db,
    `UPDATE tasks SET state = ?, run_at = ?, attempt = attempt - 1,
       worker_id = NULL, lease_token = NULL, lease_expires_at = NULL
     WHERE id = ?`,
  ).run(scheduled ? 'scheduled' : 'pending', runAt, row.id);
  countMoved(db, row.queue, 'processing', scheduled ? 'scheduled' : 'pending');
  eventLog(db, now)?.add(EV.released, row.id, row.queue, row.type, row.attempt - 1, scheduled ? 'scheduled' : 'pending');
  wakes.push({ queue: row.queue, dueInMs: scheduled ? delayMs : 0 });
  return scheduled ? 'scheduled' : 'pending';
}

function cancelWhileProcessing(db: Db, row: HeldRow, errors: string, now: number): FinishOutcome {
  const error = taskError('cancelled', 'cancelled while processing', row.attempt, now);
  endTask(db, { id: row.id, state: 'cancelled', error, errors: appendError(errors, error) }, now);
  return 'cancelled';
}

function requeue(db: Db, r: { id: string; state: 'scheduled' | 'pending'; runAt: number; error: TaskError; errors: string }): void {
  prepared<[string, number, string, string, string]>(
    db,
    `UPDATE tasks SET state = ?, run_at = ?, error = ?, errors = ?,
       lease_token = NULL, lease_expires_at = NULL
     WHERE id = ?`,
  ).run(r.state, r.runAt, JSON.stringify(r.error), r.errors, r.id);
}
