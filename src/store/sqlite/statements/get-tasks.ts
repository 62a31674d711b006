import type { Task } from '../../../types.js';
import { prepared, type Db } from './prepared.js';
import { rowToTask, type TaskRow } from './rows.js';

/** In input order; null for an unknown id. */
export function getTasks(db: Db, p: { ids: string[] }): (Task | null)[] {
  const byId = prepared<[string], TaskRow>(db, 'SELECT * FROM tasks WHERE id = ?');
  return p.ids.map((id) => {
    const row = byId.get(id);
    return row === undefined ? null : rowToTask(row);
  });
}
