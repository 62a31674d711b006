import { TASK_STATES, type TaskState } from '../../../types.js';
import type { QueueCounts } from '../../store.js';
import { prepared, type Db } from './prepared.js';

function zeroCounts(): Record<TaskState, number> {
  return Object.fromEntries(TASK_STATES.map((state) => [state, 0])) as Record<TaskState, number>;
}

type CountRow = { queue: string; state: TaskState; n: number };

/**
 * Counts per queue and state, every state present. Without a filter: every known queue (even an empty
 * one), by name. With one: that queue alone, zeros when it is unknown. Read from `task_counts`, which
 * the writes keep (statements/counts.ts): a few rows per queue, however many tasks it holds.
 */
export function countTasks(db: Db, p: { queue?: string }): QueueCounts[] {
  const byQueue = new Map<string, Record<TaskState, number>>();
  let rows: CountRow[];
  if (p.queue === undefined) {
    for (const name of prepared<[], string>(db, 'SELECT name FROM queues ORDER BY name').pluck().all()) {
      byQueue.set(name, zeroCounts());
    }
    rows = prepared<[], CountRow>(db, 'SELECT queue, state, n FROM task_counts WHERE n <> 0').all();
  } else {
    byQueue.set(p.queue, zeroCounts());
    rows = prepared<[string], CountRow>(db, 'SELECT queue, state, n FROM task_counts WHERE queue = ? AND n <> 0').all(p.queue);
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
