/**
 * The dead-letter queue: tasks that failed for good (`dead`). List them, send them back to work
 * with a fresh set of attempts, or delete them.
 */
import { ConveyorError } from '../errors.js';
import type { ListTasksResult, Store } from '../store/store.js';
import {
  deadListOptionsSchema,
  deadPurgeOptionsSchema,
  deadRetryOptionsSchema,
  parseInput,
  type DeadListOptions,
  type DeadPurgeOptions,
  type DeadRetryOptions,
} from './validation.js';

/** Dead tasks retried per store call when `dead.retry` pages through a queue. */
const RETRY_PAGE = 500;
/** Dead tasks deleted per store call (per queue on Redis) by `dead.purge`. */
const PURGE_BATCH = 1_000;

export class DeadLetterQueue {
  readonly #store: Store;

  constructor(store: Store) {
    this.#store = store;
  }

  /** Dead tasks, newest first (`queue` narrows; `limit` 1–1000, default 50; `cursor` pages on). */
  async list(options: DeadListOptions = {}): Promise<ListTasksResult> {
    const { queue, limit, cursor } = parseInput(deadListOptionsSchema, options, 'invalid dead-letter list options');
    return this.#store.listTasks({ state: 'dead', limit, cursor: cursor ?? null, ...(queue === undefined ? {} : { queue }) });
  }

  /**
   * Sends dead tasks back to `pending` with a fresh set of attempts (their error history is kept).
   * With `ids`: those of them that are dead (and in `queue`, when given); an unknown id refuses the
   * whole call (CONVEYOR_TASK_NOT_FOUND, `details.ids`) and retries nothing. Without: every task
   * that is dead when the call reaches it, in `queue` or in all queues, page by page.
   * Returns how many were retried.
   */
  async retry(options: DeadRetryOptions = {}): Promise<number> {
    const { queue, ids } = parseInput(deadRetryOptionsSchema, options, 'invalid dead-letter retry options');
    if (ids !== undefined) return this.#retryIds(ids, queue);
    let retried = 0;
    let cursor: string | null = null;
    // One pass down the list: a retried task that dies again meanwhile sits above the cursor and is
    // not retried twice by this call.
    do {
      const page: ListTasksResult = await this.#store.listTasks({ state: 'dead', limit: RETRY_PAGE, cursor, ...(queue === undefined ? {} : { queue }) });
      if (page.tasks.length > 0) retried += await this.#retry(page.tasks.map((task) => task.id));
      cursor = page.nextCursor;
    } while (cursor !== null);
    return retried;
  }

  /** Deletes every dead task (of `queue`, or of all queues), in batches. Returns how many. */
  async purge(options: DeadPurgeOptions = {}): Promise<number> {
    const { queue } = parseInput(deadPurgeOptionsSchema, options, 'invalid dead-letter purge options');
    let deleted = 0;
    for (;;) {
      const n = await this.#store.deleteFinishedTasks({ state: 'dead', olderThanMs: 0, limit: PURGE_BATCH, ...(queue === undefined ? {} : { queue }) });
      deleted += n;
      // Redis applies the limit per queue: a count below it means no queue had a full batch.
      if (n < PURGE_BATCH) return deleted;
    }
  }

  async #retryIds(ids: string[], queue: string | undefined): Promise<number> {
    const unique = [...new Set(ids)];
    if (unique.length === 0) return 0;
    const tasks = await this.#store.getTasks({ ids: unique });
    const missing = unique.filter((_, i) => tasks[i] === null);
    if (missing.length > 0) {
      const issues = missing.map((id) => ({ path: `ids[${ids.indexOf(id)}]`, message: `no task has the id ${id}` }));
      const shown = issues.map((i) => `${i.path}: ${i.message}`).join('; ');
      throw new ConveyorError('CONVEYOR_TASK_NOT_FOUND', `${shown} (nothing was retried)`, { ids: missing, issues });
    }
    const dead = tasks.filter((task) => task !== null && task.state === 'dead' && (queue === undefined || task.queue === queue));
    return dead.length === 0 ? 0 : this.#retry(dead.map((task) => task!.id));
  }

  async #retry(ids: string[]): Promise<number> {
    const outcomes = await this.#store.retryTasks({ ids });
    return outcomes.filter((o) => o.outcome === 'retried').length;
  }
}
