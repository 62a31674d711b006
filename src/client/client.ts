/**
 * The client: the one facade that applications, the HTTP API and the CLI share. Every method
 * validates its input first and throws a ConveyorError naming the field (`details.issues`), so
 * bad input writes nothing; then it makes the store calls.
 *
 * The client does not own the store: it neither migrates nor closes it.
 */
import { getClusterView, type ClusterView } from '../coordinator/coordinator.js';
import { ConveyorError } from '../errors.js';
import type { PayloadLimits, SubmitTaskOptions } from '../schemas.js';
import type { CancelOutcome, ListTasksResult, QueueCounts, Store, WorkerInfo } from '../store/store.js';
import { TaskEventFeed, type TaskEventFilter } from '../events/feed.js';
import type { Logger } from '../logger.js';
import type { MetricsSink } from '../observability/metrics-sink.js';
import { TASK_EVENT_NAMES, TASK_STATES, type Task, type TaskEvent, type TaskEventName, type TaskState } from '../types.js';
import { DeadLetterQueue } from './dead-letter.js';
import { ClientSchedules } from './schedules.js';
import { Submitter, type ClientDefaults, type SubmitResult } from './submit.js';
import {
  idempotencyKeySchema,
  issuesError,
  listOptionsSchema,
  parseInput,
  queueNameSchema,
  statsOptionsSchema,
  taskIdSchema,
  taskIdsSchema,
  taskNotFound,
  waitForOptionsSchema,
  type ListOptions,
  type StatsOptions,
  type WaitForOptions,
} from './validation.js';
import { waitForTask } from './wait-for.js';

export interface ClientOptions {
  store: Store;
  /** Applied to each submitted task that leaves the field out. */
  defaults?: ClientDefaults;
  /** Limits on a payload's size, depth and key count (default 1 MiB, 32, 10,000). */
  payloadLimits?: Partial<PayloadLimits>;
  /** Where the event feed logs store errors it retries and listeners that threw. */
  logger?: Logger;
  /** Told each task a submit created (`conveyor_tasks_submitted_total`); absent: nothing is counted. */
  metrics?: Pick<MetricsSink, 'taskSubmitted'>;
}

/** The event `on` passes for a given name (`'*'`: any). */
export type TaskEventOf<N extends TaskEventName | '*'> = N extends TaskEventName ? TaskEvent & { name: N } : TaskEvent;

/** Narrows what `on` delivers besides the event name. */
export type TaskEventScope = Omit<TaskEventFilter, 'names'>;

export interface CancelResult {
  task: Task;
  /**
   * `cancelled`: it had not started and is cancelled (its dependents too); `cancel_requested`: it
   * is running, and its worker aborts it at the next lease renewal; `already_finished`: nothing done.
   */
  outcome: Exclude<CancelOutcome, 'not_found'>;
}

export interface RetryResult {
  /** The task, back in `pending` with a fresh set of attempts. */
  task: Task;
  outcome: 'retried';
}

/** A queue with its pause flag and its task counts per state. */
export interface QueueSummary {
  name: string;
  paused: boolean;
  counts: Record<TaskState, number>;
  /**
   * Due time (epoch ms) of the `pending` task that has waited longest, null when none is pending:
   * how far behind the queue is (now − this).
   */
  oldestPendingAt: number | null;
}

export class Client {
  readonly #store: Store;
  readonly #submitter: Submitter;
  readonly #logger: Logger | undefined;
  #feed: TaskEventFeed | null = null;
  /** The dead-letter queue: `list`, `retry`, `purge`. */
  readonly dead: DeadLetterQueue;
  /** Recurring tasks: `list`, `get`, `save`, `remove`. */
  readonly schedules: ClientSchedules;

  constructor(options: ClientOptions) {
    if (typeof options !== 'object' || options === null || typeof options.store?.insertTasks !== 'function') {
      throw issuesError('invalid client options', [{ path: 'store', message: 'is required: a Store (createSqliteStore, createRedisStore or openStore)' }]);
    }
    this.#store = options.store;
    this.#logger = options.logger;
    this.#submitter = new Submitter(options.store, options.defaults ?? {}, options.payloadLimits ?? {}, options.metrics);
    this.dead = new DeadLetterQueue(options.store);
    this.schedules = new ClientSchedules(options.store);
  }

  /** The payload limits every submit is checked against. */
  get payloadLimits(): Readonly<PayloadLimits> {
    return this.#submitter.payloadLimits;
  }

  // ---- tasks -------------------------------------------------------------------------------------

  /**
   * Submits one task (the fields of `SubmitTaskOptions`; the client's defaults fill `retries` and
   * `backoff` when left out). A repeated `key` in the same queue returns the existing task with
   * `created: false`. `dependsOn` names ids of tasks that exist (CONVEYOR_DEPENDENCY_NOT_FOUND
   * naming `dependsOn[i]` otherwise). A deadline already past is refused.
   *
   * Calls made together (in one tick, or while an insert is in flight) share one store insert, as
   * if they ran one after the other: each gets its own result or its own error; a store failure
   * fails the calls of that insert.
   */
  submit(input: SubmitTaskOptions): Promise<SubmitResult> {
    return this.#submitter.submit(input);
  }

  /**
   * Submits up to 1,000 tasks, all or nothing: every input is validated before anything is
   * written, and one bad item (named `tasks[i].field`) refuses the whole batch. Results are in
   * input order. Ids are assigned by the client as the batch is written, so `dependsOn` can only
   * name tasks that already exist, not other tasks of the same batch: submit dependencies first.
   * More than 1,000 tasks: CONVEYOR_BATCH_TOO_LARGE.
   */
  submitBatch(inputs: readonly SubmitTaskOptions[]): Promise<SubmitResult[]> {
    return this.#submitter.submitBatch(inputs);
  }

  /** One task; CONVEYOR_TASK_NOT_FOUND (`details.id`) when there is none. Ids are case-insensitive. */
  async get(id: string): Promise<Task> {
    const checked = parseInput(taskIdSchema, id, 'invalid task id', 'id');
    const [task] = await this.#store.getTasks({ ids: [checked] });
    if (!task) throw taskNotFound(checked);
    return task;
  }

  /** Up to 1,000 tasks, in input order; null where no task has the id. */
  async getMany(ids: readonly string[]): Promise<(Task | null)[]> {
    const checked = parseInput(taskIdsSchema, ids, 'invalid task ids', 'ids');
    if (checked.length === 0) return [];
    return this.#store.getTasks({ ids: checked });
  }

  /**
   * Tasks newest first, filtered by `queue`, `state` and `type`; `limit` 1–1000 (default 50);
   * follow `nextCursor` for the next page (a page may be shorter than `limit`). An unknown queue
   * is an empty list, not an error. With `key` (and `queue`, required then): the task holding that
   * idempotency key, if it also passes the other filters: a page of 0 or 1, `nextCursor` null.
   */
  async list(options: ListOptions = {}): Promise<ListTasksResult> {
    const { queue, state, type, key, limit, cursor } = parseInput(listOptionsSchema, options, 'invalid list options');
    if (key !== undefined && queue !== undefined) {
      const [task] = await this.#store.findTasksByKey({ items: [{ queue, key }] });
      const matches = task !== null && task !== undefined && (state === undefined || task.state === state) && (type === undefined || task.type === type);
      return { tasks: matches ? [task] : [], nextCursor: null };
    }
    return this.#store.listTasks({
      limit,
      cursor: cursor ?? null,
      ...(queue === undefined ? {} : { queue }),
      ...(state === undefined ? {} : { state }),
      ...(type === undefined ? {} : { type }),
    });
  }

  /** The task holding idempotency key `key` in `queue`, or null (never submitted, or deleted by retention). */
  async findByKey(queue: string, key: string): Promise<Task | null> {
    const q = parseInput(queueNameSchema, queue, 'invalid queue name', 'queue');
    const k = parseInput(idempotencyKeySchema, key, 'invalid idempotency key', 'key');
    const [task] = await this.#store.findTasksByKey({ items: [{ queue: q, key: k }] });
    return task ?? null;
  }

  /**
   * The tasks still waiting on task `id`: `blocked` tasks that name it in `dependsOn`, while it is
   * unfinished (Store.dependentsOf explains why not every task that ever named it), oldest first.
   * Empty once it finished. CONVEYOR_TASK_NOT_FOUND when there is no such task.
   */
  async dependents(id: string): Promise<Task[]> {
    const checked = parseInput(taskIdSchema, id, 'invalid task id', 'id');
    const [[task], [ids]] = await Promise.all([this.#store.getTasks({ ids: [checked] }), this.#store.dependentsOf({ ids: [checked] })]);
    if (!task) throw taskNotFound(checked);
    if (ids === undefined || ids.length === 0) return [];
    return (await this.#store.getTasks({ ids })).filter((t): t is Task => t !== null);
  }

  /**
   * Cancels a task: one that has not started ends `cancelled` (and its dependents with it); a
   * running one is asked to stop. CONVEYOR_TASK_NOT_FOUND when there is no such task.
   */
  async cancel(id: string): Promise<CancelResult> {
    const checked = parseInput(taskIdSchema, id, 'invalid task id', 'id');
    const [result] = await this.#store.cancelTasks({ ids: [checked] });
    if (!result || result.outcome === 'not_found') throw taskNotFound(checked);
    return { task: await this.get(checked), outcome: result.outcome };
  }

  /**
   * Sends a `dead` or `cancelled` task back to `pending` with a fresh set of attempts. Any other
   * state: CONVEYOR_TASK_NOT_RETRYABLE (`details.state`); no such task: CONVEYOR_TASK_NOT_FOUND.
   */
  async retry(id: string): Promise<RetryResult> {
    const checked = parseInput(taskIdSchema, id, 'invalid task id', 'id');
    const [result] = await this.#store.retryTasks({ ids: [checked] });
    if (!result || result.outcome === 'not_found') throw taskNotFound(checked);
    const task = await this.get(checked);
    if (result.outcome === 'not_retryable') {
      throw new ConveyorError(
        'CONVEYOR_TASK_NOT_RETRYABLE',
        `task ${checked} is ${task.state}: only a dead or cancelled task can be retried${task.state === 'completed' ? '' : ' (wait for it to finish, or cancel it first)'}`,
        { id: checked, state: task.state },
      );
    }
    return { task, outcome: 'retried' };
  }

  /**
   * Waits until the task finishes, for at most `timeoutMs` (milliseconds or a duration such as
   * "30s"). Resolves with the task when it completed. Rejects with CONVEYOR_TASK_FAILED when it
   * ended `dead` or `cancelled` (`details.error` is its last error, `details.state` the state),
   * CONVEYOR_WAIT_TIMEOUT after `timeoutMs` (the task goes on), CONVEYOR_TASK_NOT_FOUND, or the
   * `signal`'s reason when it aborts. Woken by the task's events, with a slow read as a safety net
   * (see wait-for.ts). The result is `task.result`; the task comes whole, so its attempts, times
   * and worker are there too.
   */
  async waitFor(id: string, options: WaitForOptions): Promise<Task> {
    const checked = parseInput(taskIdSchema, id, 'invalid task id', 'id');
    const { timeoutMs, signal } = parseInput(waitForOptionsSchema, options, 'invalid wait options');
    return waitForTask(this.#store, checked, timeoutMs, signal, this.#events());
  }

  // ---- events -------------------------------------------------------------------------------------

  /**
   * Calls `listener` for each task event named `name` (or every event, `'*'`) written from now on,
   * by any process sharing the store; `scope` narrows by queue, task type or task id. Returns the
   * function that unsubscribes. One read loop serves every listener of this client; it runs while
   * anyone listens (it keeps the process alive meanwhile) and stops with the last one, or `close()`.
   * A listener that throws is logged and kept.
   *
   * ```ts
   * const off = client.on('task:dead', (e) => alert(`${e.type} ${e.taskId}: ${e.error?.message}`), { queues: ['billing'] });
   * ```
   */
  on<N extends TaskEventName | '*'>(name: N, listener: (event: TaskEventOf<N>) => void, scope: TaskEventScope = {}): () => void {
    if (name !== '*' && !(TASK_EVENT_NAMES as readonly string[]).includes(name)) {
      throw issuesError('invalid event subscription', [{ path: 'name', message: `must be '*' or one of ${TASK_EVENT_NAMES.join(', ')}` }]);
    }
    if (typeof listener !== 'function') throw issuesError('invalid event subscription', [{ path: 'listener', message: 'must be a function' }]);
    const filter: TaskEventFilter = name === '*' ? { ...scope } : { ...scope, names: [name as TaskEventName] };
    return this.#events().subscribe(filter, listener as (event: TaskEvent) => void);
  }

  /** Stops the event feed and every `on` listener. The store stays open (the client does not own it). */
  async close(): Promise<void> {
    await this.#feed?.close();
  }

  #events(): TaskEventFeed {
    this.#feed ??= new TaskEventFeed({ store: this.#store, ...(this.#logger ? { logger: this.#logger } : {}) });
    return this.#feed;
  }

  // ---- queues and the cluster ---------------------------------------------------------------------

  /** Counts per queue and state (every state present), by queue; `queue` narrows to one. */
  async stats(options: StatsOptions = {}): Promise<QueueCounts[]> {
    const { queue } = parseInput(statsOptionsSchema, options, 'invalid stats options');
    return this.#store.countTasks(queue === undefined ? {} : { queue });
  }

  /** Every queue that ever held a task or was paused: its pause flag and counts, by name. */
  async queues(): Promise<QueueSummary[]> {
    const [queues, counts, oldest] = await Promise.all([this.#store.listQueues(), this.#store.countTasks({}), this.#store.oldestPending({})]);
    const countsOf = new Map(counts.map((c) => [c.queue, c.counts]));
    const oldestOf = new Map(oldest.map((o) => [o.queue, o.oldestRunAt]));
    return queues
      .map((q) => ({ name: q.name, paused: q.paused, counts: countsOf.get(q.name) ?? zeroCounts(), oldestPendingAt: oldestOf.get(q.name) ?? null }))
      .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  /**
   * Stops workers claiming from the queue (running tasks finish). A queue that does not exist yet
   * is created paused, so a queue can be paused before its first task arrives.
   */
  async pauseQueue(name: string): Promise<QueueSummary> {
    const queue = parseInput(queueNameSchema, name, 'invalid queue name', 'name');
    await this.#store.setQueuePaused({ queue, paused: true });
    return this.#queue(queue);
  }

  /** Lets workers claim from the queue again. CONVEYOR_QUEUE_NOT_FOUND when no such queue exists. */
  async resumeQueue(name: string): Promise<QueueSummary> {
    const queue = parseInput(queueNameSchema, name, 'invalid queue name', 'name');
    const known = (await this.#store.listQueues()).some((q) => q.name === queue);
    if (!known) throw queueNotFound(queue);
    await this.#store.setQueuePaused({ queue, paused: false });
    return this.#queue(queue);
  }

  /** Workers (and server nodes) whose heartbeat has not expired, by id. */
  workers(): Promise<WorkerInfo[]> {
    return this.#store.listWorkers({});
  }

  /** The cluster: nodes with their role and uptime, the leader's id, and `self` as given. */
  async cluster(self: string | null = null): Promise<ClusterView> {
    if (self !== null && (typeof self !== 'string' || self === '')) {
      throw issuesError('invalid cluster options', [{ path: 'self', message: 'must be a node id (a non-empty string) or null' }]);
    }
    return getClusterView(this.#store, self);
  }

  async #queue(name: string): Promise<QueueSummary> {
    const [queues, counts, oldest] = await Promise.all([
      this.#store.listQueues(),
      this.#store.countTasks({ queue: name }),
      this.#store.oldestPending({ queue: name }),
    ]);
    const info = queues.find((q) => q.name === name);
    return { name, paused: info?.paused ?? false, counts: counts[0]?.counts ?? zeroCounts(), oldestPendingAt: oldest[0]?.oldestRunAt ?? null };
  }
}

export function createClient(options: ClientOptions): Client {
  return new Client(options);
}

function zeroCounts(): Record<TaskState, number> {
  return Object.fromEntries(TASK_STATES.map((state) => [state, 0])) as Record<TaskState, number>;
}

function queueNotFound(queue: string): ConveyorError {
  return new ConveyorError('CONVEYOR_QUEUE_NOT_FOUND', `queue ${JSON.stringify(queue)} not found: it never held a task and was never paused`, {
    queue,
  });
}

export type { ClientDefaults, SubmitResult } from './submit.js';
export type { DeadListOptions, DeadPurgeOptions, DeadRetryOptions, ListOptions, StatsOptions, WaitForOptions } from './validation.js';
export { MAX_BATCH_SIZE, DEFAULT_LIST_LIMIT, MAX_LIST_LIMIT } from './validation.js';
export { DeadLetterQueue } from './dead-letter.js';
export { ClientSchedules } from './schedules.js';
