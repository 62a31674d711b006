import { TASK_STATES, type TaskState } from '../../../types.js';
import type { QueueCounts } from '../../store.js';
import { prepared, type Db } from './prepared.js';

function zeroCounts(): Record<TaskState, number> {
  return Object.fromEntries(TASK_STATES.map((state) => [state, 0])) as Record<TaskState, number>;
}

type CountRow = { queue: string; state: TaskState; n: number };

/**
 * Counts per queue and state, every state present. Without a filter: every known queue (even an empty
 * one), by name. With one: that queue alone, zeros when it is unknown.
 *
 * `tasks_list` holds every task but the processing ones, which `tasks_lease` holds (migration 4): one
 * count over each.
 */
export function countTasks(db: Db, p: { queue?: string }): QueueCounts[] {
  const byQueue = new Map<string, Record<TaskState, number>>();
  let rows: CountRow[];
  if (p.queue === undefined) {
    for (const name of prepared<[], string>(db, 'SELECT name FROM queues ORDER BY name').pluck().all()) {
      byQueue.set(name, zeroCounts());
    }
    rows = prepared<[], CountRow>(
      db,
      `SELECT queue, state, COUNT(*) AS n FROM tasks INDEXED BY tasks_list WHERE state <> 'processing' GROUP BY queue, state
       UNION ALL
       SELECT queue, state, COUNT(*) AS n FROM tasks INDEXED BY tasks_lease WHERE state = 'processing' GROUP BY queue`,
    ).all();
  } else {
    byQueue.set(p.queue, zeroCounts());
    rows = prepared<[string, string], CountRow>(
      db,
      `SELECT queue, state, COUNT(*) AS n FROM tasks INDEXED BY tasks_list WHERE queue = ? AND state <> 'processing' GROUP BY state
       UNION ALL
       SELECT queue, state, COUNT(*) AS n FROM tasks INDEXED BY tasks_lease WHERE state = 'processing' AND queue = ?`,
    ).all(p.queue, p.queue);
  }
  for (const row of rows) {
    if (row.n === 0) continue;
    let counts = byQueue.get(row.queue);
    if (counts === undefined) {
      counts = zeroCounts();
      byQueue.set(row.queue, counts);
    }
    counts[row.state] = row.n;
  }
  return [...byQueue.entries()]
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([queue, counts]) => ({ queue, counts }));
}
