import type { Task } from '../../../types.js';
import type { KeyLookup } from '../../store.js';
import { prepared, type Db } from './prepared.js';
import { jsonToTask, TASK_JSON } from './rows.js';

/**
 * In input order, the task that holds each (queue, key), or null. One seek each in the unique
 * partial index `tasks_queue_key` (queue, idempotency_key): `idempotency_key = ?` implies its
 * `IS NOT NULL`, and INDEXED BY makes a plan change fail at prepare time instead of scanning.
 */
export function findTasksByKey(db: Db, p: { items: KeyLookup[] }): (Task | null)[] {
  if (p.items.length === 0) return [];
  const byKey = prepared<[string, string], string>(
    db,
    `SELECT ${TASK_JSON} FROM tasks INDEXED BY tasks_queue_key WHERE queue = ? AND idempotency_key = ?`,
  ).pluck();
  return p.items.map(({ queue, key }) => {
    const json = byKey.get(queue, key);
    return json === undefined ? null : jsonToTask(json);
  });
}
