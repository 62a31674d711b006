import { prepared, type Db } from './prepared.js';
import { UNFINISHED_STATES_SQL } from './rows.js';

/**
 * Reverse dependencies (Store.dependentsOf): for each id, the `blocked` tasks that wait on it while
 * it is unfinished, in id order. The edge table keeps edges for the tasks' lifetime; the filters give
 * the "still waiting" meaning the Redis store can answer too (it drops its reverse link when a task
 * finishes). Reads the primary key (depends_on_id, task_id), so the ids come out in order.
 */
export function dependentsOf(db: Db, p: { ids: string[] }): string[][] {
  if (p.ids.length === 0) return [];
  const waiting = prepared<[string], string>(
    db,
    `SELECT d.task_id FROM task_dependencies d JOIN tasks t ON t.id = d.task_id
      WHERE d.depends_on_id = ? AND t.state = 'blocked'
        AND EXISTS (SELECT 1 FROM tasks r WHERE r.id = d.depends_on_id AND r.state IN ${UNFINISHED_STATES_SQL})
      ORDER BY d.task_id`,
  ).pluck();
  return p.ids.map((id) => waiting.all(id));
}
