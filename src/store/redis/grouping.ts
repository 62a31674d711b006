import type { NewTask } from '../store.js';

/** Batches arrive mixed; each Redis script takes one queue. These split them, keeping order. */

export function groupByQueue<T extends { queue: string }>(items: T[]): Map<string, T[]> {
  const groups = new Map<string, T[]>();
  for (const item of items) {
    const list = groups.get(item.queue);
    if (list) list.push(item);
    else groups.set(item.queue, [item]);
  }
  return groups;
}

export function groupIdsByQueue(located: Map<string, string>): Map<string, string[]> {
  const groups = new Map<string, string[]>();
  for (const [id, queue] of located) {
    const list = groups.get(queue);
    if (list) list.push(id);
    else groups.set(queue, [id]);
  }
  return groups;
}

/** Consecutive tasks of one queue: one insert script call each, in the batch's order. */
export function runsByQueue(tasks: NewTask[]): NewTask[][] {
  const runs: NewTask[][] = [];
  for (const task of tasks) {
    const last = runs[runs.length - 1];
    if (last && last[0]!.queue === task.queue) last.push(task);
    else runs.push([task]);
  }
  return runs;
}
