import type { Task } from '../../types.js';
import type { ListTasksParams, ListTasksResult } from '../store.js';
import { stateCode } from './codec.js';

/** How many entries one page may examine per queue when filters reject most of them. */
const FILTERED_SCAN = 1000;

/** What listTasks.lua answers for one queue. */
export interface QueueListPage {
  /** Position of the oldest entry examined, or -1 when the queue has nothing older. */
  oldestExamined: number;
  matches: { position: number; task: Task }[];
}

export type ListPageFetcher = (queue: string, cursor: number | null, examine: number, state: string, type: string) => Promise<QueueListPage>;

/** Per queue: the absolute position to continue below, -1 when exhausted, absent = from the newest. */
type Cursor = Record<string, number>;

function decodeCursor(cursor: string | null | undefined): Cursor {
  if (!cursor) return {};
  try {
    return JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as Cursor;
  } catch {
    return {};
  }
}

function encodeCursor(cursor: Cursor): string {
  return Buffer.from(JSON.stringify(cursor)).toString('base64url');
}

/**
 * Lists tasks newest first across queues. Each queue keeps an arrival list of its ids; a page walks
 * each queue downwards from its own position in the cursor, merges the matches by id (ids are
 * time-ordered) and keeps the newest `limit`. A queue's position advances only past entries that
 * were returned or did not match, so no task is returned twice or skipped between pages. With
 * selective filters a page may come back short: keep following `nextCursor`.
 */
export async function listTasksAcrossQueues(queues: string[], p: ListTasksParams, fetch: ListPageFetcher): Promise<ListTasksResult> {
  const cursor = decodeCursor(p.cursor);
  const filtered = p.state !== undefined || p.type !== undefined;
  const examine = filtered ? Math.max(FILTERED_SCAN, p.limit) : p.limit;
  const state = p.state ? stateCode(p.state) : '';
  const live = queues.filter((queue) => cursor[queue] !== -1);
  const pages = await Promise.all(live.map((queue) => fetch(queue, cursor[queue] ?? null, examine, state, p.type ?? '')));

  // k-way merge: each queue's matches stay in list order (so what a page takes from a queue is
  // a prefix of its matches); among the queues' next matches the newest id goes first.
  const heads = pages.map(() => 0);
  const tasks: Task[] = [];
  while (tasks.length < p.limit) {
    let best = -1;
    pages.forEach((page, q) => {
      const candidate = page.matches[heads[q]!];
      if (candidate && (best === -1 || candidate.task.id > pages[best]!.matches[heads[best]!]!.task.id)) best = q;
    });
    if (best === -1) break;
    tasks.push(pages[best]!.matches[heads[best]!]!.task);
    heads[best] = heads[best]! + 1;
  }

  const next: Cursor = { ...cursor };
  live.forEach((queue, q) => {
    const page = pages[q]!;
    const consumed = heads[q]!;
    if (consumed === page.matches.length) next[queue] = page.oldestExamined;
    else if (consumed > 0) next[queue] = page.matches[consumed - 1]!.position;
    // else: nothing of this queue was returned; it resumes where it was.
  });
  const more = queues.some((queue) => next[queue] !== -1);
  return { tasks, nextCursor: more ? encodeCursor(next) : null };
}
