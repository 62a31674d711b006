import { TASK_STATES, type TaskState } from '../../../types.js';
import type { ListTasksParams, ListTasksResult } from '../../store.js';
import { prepared, type Db } from './prepared.js';
import { taskById } from './get-tasks.js';
import { jsonToTask } from './rows.js';

const MAX_LIMIT = 1000;

interface Filter {
  queue?: string;
  state?: TaskState;
  type?: string;
  cursor: string | null;
  limit: number;
}

/**
 * Newest first by id (ids are time-ordered, so by creation); the cursor is the last id of the previous page.
 *
 * Every page is an index range scan from the cursor down. `tasks_list` is ordered by (queue, state, id),
 * so a filter on only one of queue and state is answered by one range per state (or per queue) and a
 * merge of their newest ids; with neither, the id index itself is walked. Processing tasks are not in
 * `tasks_list` (migration 4): they are read from `tasks_lease`, which holds just them (as many as the
 * workers hold), and sorted.
 */
export function listTasks(db: Db, p: ListTasksParams): ListTasksResult {
  const limit = Math.max(1, Math.min(MAX_LIMIT, Math.floor(p.limit)));
  const filter: Filter = { cursor: p.cursor ?? null, limit: limit + 1 };
  if (p.type !== undefined) filter.type = p.type;

  let ids: string[];
  if (p.queue !== undefined && p.state !== undefined) {
    ids = pageIds(db, { ...filter, queue: p.queue, state: p.state });
  } else if (p.queue !== undefined) {
    const queue = p.queue;
    ids = newest(TASK_STATES.map((state) => pageIds(db, { ...filter, queue, state })), filter.limit);
  } else if (p.state === 'processing') {
    ids = pageIds(db, { ...filter, state: p.state });
  } else if (p.state !== undefined) {
    const state = p.state;
    const queues = prepared<[], string>(db, 'SELECT name FROM queues').pluck().all();
    ids = newest(queues.map((queue) => pageIds(db, { ...filter, queue, state })), filter.limit);
  } else {
    ids = pageIds(db, filter);
  }

  const byId = taskById(db);
  const page = ids.slice(0, limit);
  const tasks = page.flatMap((id) => {
    const row = byId.get(id);
    return row === undefined ? [] : [jsonToTask(row)];
  });
  return { tasks, nextCursor: ids.length > limit ? (page.at(-1) ?? null) : null };
}

/** Ids matching `f`, newest first, at most `f.limit`. One statement per combination of filters. */
function pageIds(db: Db, f: Filter): string[] {
  const where: string[] = [];
  const params: Record<string, string | number> = { limit: f.limit };
  if (f.queue !== undefined) {
    where.push('queue = @queue');
    params.queue = f.queue;
  }
  if (f.state === 'processing') {
    where.push("state = 'processing'");
  } else if (f.state !== undefined) {
    where.push("state = @state AND state <> 'processing'");
    params.state = f.state;
  }
  if (f.type !== undefined) {
    where.push('type = @type');
    params.type = f.type;
  }
  if (f.cursor !== null) {
    where.push('id < @cursor');
    params.cursor = f.cursor;
  }
  const index = f.state === 'processing' ? 'INDEXED BY tasks_lease ' : '';
  const sql = `SELECT id FROM tasks ${index}${where.length > 0 ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY id DESC LIMIT @limit + 0`;
  return prepared<Record<string, string | number>, string>(db, sql).pluck().all(params);
}

/** The `limit` greatest ids of several lists that are each sorted newest first. */
function newest(lists: string[][], limit: number): string[] {
  return lists
    .flat()
    .sort((a, b) => (a < b ? 1 : a > b ? -1 : 0))
    .slice(0, limit);
}
