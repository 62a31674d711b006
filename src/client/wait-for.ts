/**
 * Waiting for a task to finish.
 *
 * With an event feed (the client's), the wait listens for the task's `task:completed`,
 * `task:dead` and `task:cancelled` events and reads the task when one arrives, so it answers
 * within one event delivery. It still reads the task now and then (every 5 s at most), because
 * events are bounded (a reader far behind, or a store with events turned off, misses some).
 * Without a feed it polls: 50 ms, growing by half up to 1 s.
 */
import { unlessAborted } from '../lifecycle/abortable.js';
import { sleep } from '../lifecycle/sleep.js';
import { ConveyorError } from '../errors.js';
import type { Store } from '../store/store.js';
import type { Task, TaskEventName } from '../types.js';
import type { TaskEventFeed } from '../events/feed.js';
import { taskNotFound } from './validation.js';

export const WAIT_POLL_FIRST_MS = 50;
export const WAIT_POLL_MAX_MS = 1_000;
/** With events telling when to look, the safety-net read grows to this. */
export const WAIT_POLL_MAX_WITH_EVENTS_MS = 5_000;
const FINISH_EVENTS: TaskEventName[] = ['task:completed', 'task:dead', 'task:cancelled'];
const WAIT_POLL_GROWTH = 1.5;
/** A poll that started before the timeout may run this long past it before the wait gives up. */
const LAST_POLL_GRACE_MS = 1_000;
const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * Resolves with the task once it is `completed`. Rejects with:
 * - CONVEYOR_TASK_FAILED when it ends `dead` or `cancelled` (details: id, queue, type, state,
 *   attempt, and `error`, the task's last error or null);
 * - CONVEYOR_WAIT_TIMEOUT when it has not finished after `timeoutMs` (details: id, timeoutMs, and
 *   `state`, where it was last seen); the task itself goes on;
 * - CONVEYOR_TASK_NOT_FOUND when there is no such task (or retention deleted it meanwhile);
 * - `signal.reason` when `signal` aborts.
 * The last poll happens at the timeout, so a task that finished just before it is seen.
 */
export async function waitForTask(store: Store, id: string, timeoutMs: number, signal?: AbortSignal, feed?: TaskEventFeed): Promise<Task> {
  signal?.throwIfAborted();
  const deadline = Date.now() + timeoutMs;
  // Aborts a store call that hangs: on the caller's signal, or a little after the timeout.
  const stop = new AbortController();
  const onAbort = (): void => stop.abort(signal?.reason);
  signal?.addEventListener('abort', onAbort, { once: true });
  // Past the largest delay a timer holds (about 24.8 days) Node would fire at once: no hard stop then.
  const hardStopMs = timeoutMs + LAST_POLL_GRACE_MS;
  const hardStop = hardStopMs <= MAX_TIMER_MS ? setTimeout(() => stop.abort(), hardStopMs) : undefined;
  // A finishing event cuts the current pause short: the next read sees the finished task.
  let nudge = new AbortController();
  const unsubscribe = feed?.subscribe({ taskIds: [id], names: FINISH_EVENTS }, () => nudge.abort());
  const maxInterval = feed ? WAIT_POLL_MAX_WITH_EVENTS_MS : WAIT_POLL_MAX_MS;
  let last: Task | null = null;
  let interval = WAIT_POLL_FIRST_MS;
  try {
    // Listen before the first read, so a task that finishes in between is not waited for in vain.
    if (feed) await unlessAborted(feed.ready(), stop.signal);
    for (;;) {
      // Renewed before the read: an event arriving during the read still cuts the pause after it.
      nudge = new AbortController();
      const found = await unlessAborted(store.getTasks({ ids: [id] }), stop.signal);
      signal?.throwIfAborted();
      if (found === undefined) throw waitTimeout(id, timeoutMs, last);
      const task = found[0] ?? null;
      if (task === null) throw taskNotFound(id);
      last = task;
      if (task.state === 'completed') return task;
      if (task.state === 'dead' || task.state === 'cancelled') throw taskFailed(task);
      const remaining = deadline - Date.now();
      if (remaining <= 0) throw waitTimeout(id, timeoutMs, task);
      await sleep(Math.min(interval, remaining), AbortSignal.any(signal ? [signal, nudge.signal] : [nudge.signal]));
      signal?.throwIfAborted();
      interval = Math.min(maxInterval, Math.round(interval * WAIT_POLL_GROWTH));
    }
  } finally {
    unsubscribe?.();
    clearTimeout(hardStop);
    signal?.removeEventListener('abort', onAbort);
  }
}

function taskFailed(task: Task): ConveyorError {
  const why = task.error ? `: ${task.error.reason}: ${task.error.message}` : '';
  return new ConveyorError('CONVEYOR_TASK_FAILED', `task ${task.id} (${task.type}) ended ${task.state}${why}`, {
    id: task.id,
    queue: task.queue,
    type: task.type,
    state: task.state,
    attempt: task.attempt,
    error: task.error,
  });
}

function waitTimeout(id: string, timeoutMs: number, last: Task | null): ConveyorError {
  const where = last ? `; it is ${last.state}` : '';
  return new ConveyorError('CONVEYOR_WAIT_TIMEOUT', `task ${id} did not finish within ${timeoutMs} ms${where} (it goes on; wait again or cancel it)`, {
    id,
    timeoutMs,
    state: last?.state ?? null,
  });
}
