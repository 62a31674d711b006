import { assertQueueName } from '../../../names.js';
import type { QueueInfo } from '../../store.js';
import type { WakeNote } from '../wake.js';
import { prepared, type Db } from './prepared.js';

export function listQueues(db: Db): QueueInfo[] {
  return prepared<[], { name: string; paused: number }>(db, 'SELECT name, paused FROM queues ORDER BY name')
    .all()
    .map((row) => ({ name: row.name, paused: row.paused !== 0 }));
}

/** Pausing a queue that never held a task creates it: it is then listed, paused. */
export function setQueuePaused(db: Db, p: { queue: string; paused: boolean }, wakes: WakeNote[]): void {
  assertQueueName(p.queue);
  prepared<[string, number]>(
    db,
    'INSERT INTO queues (name, paused) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET paused = excluded.paused',
  ).run(p.queue, p.paused ? 1 : 0);
  if (!p.paused) wakes.push({ queue: p.queue, dueInMs: 0 });
}

export function isQueuePaused(db: Db, queue: string): boolean {
  const paused = prepared<[string], { paused: number }>(db, 'SELECT paused FROM queues WHERE name = ?').get(queue);
  return paused !== undefined && paused.paused !== 0;
}
