import type { Task } from '../../../types.js';
import { prepared, type Db, type Statement } from './prepared.js';
import { jsonToTask, TASK_JSON } from './rows.js';

/** In input order; null for an unknown id. */
export function getTasks(db: Db, p: { ids: string[] }): (Task | null)[] {
  const byId = taskById(db);
  return p.ids.map((id) => {
    const json = byId.get(id);
    return json === undefined ? null : jsonToTask(json);
  });
}

/** The statement that reads one whole task by id, as `TASK_JSON` text. */
export function taskById(db: Db): Statement<[string], string> {
  return prepared<[string], string>(db, `SELECT ${TASK_JSON} FROM tasks WHERE id = ?`).pluck();
}
