import { TASK_STATES, type TaskState } from '../../../types.js';
import type { QueueCounts } from '../../store.js';
import { prepared, type Db } from './prepared.js';

function zeroCounts(): Record<TaskState, number> {
  return Object.fromEntries(TASK_STATES.map((state) => [state, 0])) as Record<TaskState, number>;
}

/**
 * Counts per queue and state, every state present. Without a filter: every known queue (even an empty
 * one), by name. With one: that queue alone, zeros when it is unknown.
 */
export function countTasks(db: Db, p: { queue?: string }): QueueCounts[] {
  const byQueue = new Map<string, Record<TaskState, number>>();
  let rows: { queue: string; state: TaskState; n: number }[];
  if (p.queue === undefined) {
    for (const name of prepared<[], string>(db, 'SELECT name FROM queues ORDER BY name').pluck().all()) {
      byQueue.set(name, zeroCounts());
    }
    rows = prepared<[], { queue: string; state: TaskState; n: number }>(
      db,
      'SELECT queue, state, COUNT(*) AS n FROM tasks GROUP BY queue, state',
    ).all();
  } else {
    byQueue.set(p.queue, zeroCounts());
    rows = prepared<[string], { queue: string; state: TaskState; n: number }>(
      db,
      'SELECT queue, state, COUNT(*) AS n FROM tasks WHERE queue = ? GROUP BY queue, state',
    ).all(p.queue);
  }
  for (const row of rows) {
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
