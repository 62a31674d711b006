import type { TaskState } from '../../../types.js';
import { prepared, type Db } from './prepared.js';

/**
 * Per-queue, per-state task counts (`task_counts`, migration 5), so that `countTasks` reads a few
 * rows instead of counting every task of a queue (16 ms at 100,000 tasks, measured; dashboards and
 * the bench ask every few tens of milliseconds).
 *
 * Every statement that inserts, deletes or changes the state of tasks records what it did here, and
 * `SqliteStore.write` writes the sums with one upsert per (queue, state) touched, inside the same
 * transaction, right before it commits (`flushCounts`); a transaction that fails drops them
 * (`discardCounts`). So a claim of 100 tasks costs two small upserts, not two hundred. Triggers would
 * keep the counts without any cooperation, but measured: a row trigger on `tasks` added nearly half
 * to the cost of a completion, even with a WHEN clause that declined to run it.
 */

/** Deltas of the current write transaction, per connection: key `queue \0 state`. */
const deltas = new WeakMap<Db, Map<string, number>>();

function add(db: Db, queue: string, state: TaskState, n: number): void {
  let map = deltas.get(db);
  if (map === undefined) {
    map = new Map();
    deltas.set(db, map);
  }
  const key = `${queue}\u0000${state}`;
  map.set(key, (map.get(key) ?? 0) + n);
}

/** `n` tasks of `queue` were inserted in `state`. */
export function countInserted(db: Db, queue: string, state: TaskState, n = 1): void {
  if (n !== 0) add(db, queue, state, n);
}

/** `n` tasks of `queue` were deleted from `state`. */
export function countDeleted(db: Db, queue: string, state: TaskState, n = 1): void {
  if (n !== 0) add(db, queue, state, -n);
}

/** `n` tasks of `queue` went from `from` to `to`. */
export function countMoved(db: Db, queue: string, from: TaskState, to: TaskState, n = 1): void {
  if (n === 0 || from === to) return;
  add(db, queue, from, -n);
  add(db, queue, to, n);
}

/** Writes the transaction's deltas; called inside the transaction, after its statements. */
export function flushCounts(db: Db): void {
  const map = deltas.get(db);
  if (map === undefined || map.size === 0) return;
  const upsert = prepared<[string, string, number]>(
    db,
    `INSERT INTO task_counts (queue, state, n) VALUES (?, ?, ?)
     ON CONFLICT (queue, state) DO UPDATE SET n = n + excluded.n`,
  );
  for (const [key, n] of map) {
    if (n === 0) continue;
    const sep = key.indexOf('\u0000');
    upsert.run(key.slice(0, sep), key.slice(sep + 1), n);
  }
  map.clear();
}

/** Forgets the deltas of a transaction that did not commit. */
export function discardCounts(db: Db): void {
  deltas.get(db)?.clear();
}
