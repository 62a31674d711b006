/**
 * The storage seam. The SQLite and Redis stores implement it side by side and pass one conformance
 * suite (test/conformance), so a user who moves from one to the other sees the same semantics.
 *
 * Rules every implementation keeps:
 * - Each method is one atomic unit (a better-sqlite3 transaction; a Lua script per queue on Redis).
 *   Redis keeps every queue in its own hash slot, so a call that spans several queues is a sequence
 *   of per-queue atomic steps, validated up front so that bad input writes nothing.
 * - Hot-path methods take arrays, so the worker's completer and lease keeper coalesce writes.
 * - `now` is optional in every params object. When given (tests, with a fake clock) the store uses
 *   it; when omitted the store reads its own clock (Redis `TIME` inside the script; `Date.now()` of
 *   the SQLite process), so that due times and lease expiry are judged on one clock.
 * - Every write about a running attempt carries the lease token it was claimed with; a stale token is
 *   reported (`lease_lost`) and changes nothing.
 * - Inputs are already validated and normalised (src/schemas.ts); the stores still refuse names
 *   that could reach a key pattern unchecked.
 *
 * Not a public API: it may change between minor versions. Do not implement it outside this package.
 */
import type { BackoffPolicy, ClaimedTask, FinishedState, JsonValue, Task, TaskError, TaskEvent, TaskEventName, TaskState, TraceCarrier } from '../types.js';

export type StoreKind = 'sqlite' | 'redis';

export interface StoreCapabilities {
  /** Several processes can share the store (a SQLite file, a Redis server). */
  crossProcess: boolean;
  /** `waitForWork` blocks inside the store (Redis BZPOPMIN) rather than on in-process wake-ups. */
  blockingWait: boolean;
}

/** A task as the client hands it to the store: validated, defaults applied, id already chosen. */
export interface NewTask {
  id: string;
  queue: string;
  type: string;
  payload: JsonValue;
  priority: number;
  maxAttempts: number;
  backoff: BackoffPolicy;
  timeoutMs: number | null;
  deadline: number | null;
  /** Due time; absent = now (+ `delayMs`). A due time after now makes the task `scheduled`. */
  runAt?: number;
  /** Without `runAt`: due this long after the store's now, so a delay is judged on the store's clock. */
  delayMs?: number;
  /** Ids of tasks that must complete first; they must exist or come earlier in the same batch. */
  dependsOn: string[];
  key: string | null;
  /** The submitter's trace context; stored as given and returned on the task. */
  traceContext?: TraceCarrier;
}

interface Timed {
  /** Epoch ms; omitted = the store's own clock. */
  now?: number;
}

/** Names one attempt of one task: the fencing triple. */
export interface LeaseRef {
  id: string;
  queue: string;
  token: string;
}

export interface InsertTasksParams extends Timed {
  tasks: NewTask[];
}
export interface InsertTasksResult {
  /** In input order. `created: false` = a task with the same (queue, key) existed; it is returned. */
  items: { task: Task; created: boolean }[];
}

export interface ClaimTasksParams extends Timed {
  /** Queues to take from, in order of preference. */
  queues: string[];
  workerId: string;
  /** At most this many tasks in all. */
  limit: number;
  /**
   * Of the claimed tasks, at most this many start now (`startedAt` = now); the rest are prefetched:
   * leased but not started, so they must be confirmed by `startTasks` before they run, and an idle
   * worker may take them with `stealTasks`. Absent = all start.
   */
  startLimit?: number;
  leaseMs: number;
}

export interface StartTasksParams extends Timed {
  leases: LeaseRef[];
}
export interface StartTasksResult {
  /** Still held under their token: `startedAt` = now; the worker runs them. */
  started: string[];
  /** Taken by another worker, reclaimed, expired or finished: the worker must not run them. */
  lost: string[];
  /** Started, but a cancel was asked for: the worker finishes them with outcome `cancel`. */
  cancelRequested: string[];
}

export interface StealTasksParams extends Timed {
  queues: string[];
  /** The thief: it gets the tasks, with fresh lease tokens. */
  workerId: string;
  limit: number;
  leaseMs: number;
}

/** What a node (a worker, or a server running the coordinator) tells the registry with each heartbeat. */
export interface WorkerInfo {
  id: string;
  /** Absent = `worker` (entries written before roles existed). */
  role?: 'worker' | 'server';
  /** The Conveyor version the node runs. */
  version?: string;
  host: string;
  pid: number;
  queues: string[];
  types: string[];
  /** Current pool size and its bounds. */
  concurrency: { min: number; max: number; current: number };
  /** Tasks being run now. */
  running: number;
  startedAt: number;
  lastHeartbeatAt: number;
}

export interface HeartbeatParams extends Timed {
  /** `lastHeartbeatAt` is set by the store to its now. */
  worker: Omit<WorkerInfo, 'lastHeartbeatAt'>;
  /** The entry expires (is no longer listed) this long after the heartbeat. */
  ttlMs: number;
}

export interface RenewLeasesParams extends Timed {
  /** `progress`, when given, is stored on the task (fenced like the renewal). */
  leases: (LeaseRef & { progress?: JsonValue })[];
  leaseMs: number;
}
export interface RenewLeasesResult {
  renewed: { id: string; leaseExpiresAt: number }[];
  /** Not `processing` under this token any more: the worker must abort and write nothing. */
  lost: string[];
  /** Renewed, but a cancel was asked for: the worker aborts the handler with `cancelled`. */
  cancelRequested: string[];
}

/** The error a worker reports for a failed attempt. */
export interface AttemptError {
  reason: TaskError['reason'];
  message: string;
  name?: string;
  stack?: string;
}

export type FinishItem =
  | (LeaseRef & { outcome: 'complete'; result: JsonValue | null })
  | (LeaseRef & {
      outcome: 'fail';
      error: AttemptError;
      /** From the task's retry policy (src/retry). Ignored when no attempt is left or `permanent`. */
      retryDelayMs: number;
      /** Skip the remaining retries. */
      permanent?: boolean;
    })
  /** Give the task back without spending an attempt (shutdown, work stealing). */
  | (LeaseRef & { outcome: 'release'; delayMs?: number })
  /** The handler stopped because a cancel was asked for: the task ends `cancelled`. */
  | (LeaseRef & { outcome: 'cancel' });

export type FinishOutcome = 'completed' | 'scheduled' | 'pending' | 'dead' | 'cancelled' | 'lease_lost';

export interface FinishTasksParams extends Timed {
  items: FinishItem[];
}
export interface FinishTasksResult {
  /** In input order: the state the task went to, or `lease_lost` when the token was refused. */
  items: { id: string; outcome: FinishOutcome }[];
}

export interface WaitForWorkParams {
  queues: string[];
  timeoutMs: number;
  signal?: AbortSignal;
}

export interface MaintenanceParams extends Timed {
  /** At most this many tasks per call (per queue on Redis); call again while the result is full. */
  limit: number;
}

export interface ReclaimResult {
  /** Back to `pending`: an attempt was spent and another is left. */
  retried: string[];
  /** No attempt left: `dead` with reason `lease_expired`. */
  dead: string[];
  /** A cancel had been asked for: `cancelled`. */
  cancelled: string[];
}

export type CancelOutcome = 'cancelled' | 'cancel_requested' | 'not_found' | 'already_finished';
export type RetryOutcome = 'retried' | 'not_found' | 'not_retryable';

export interface ListTasksParams {
  queue?: string;
  state?: TaskState;
  type?: string;
  /** 1–1000. */
  limit: number;
  /** `nextCursor` of the previous page. */
  cursor?: string | null;
}
export interface ListTasksResult {
  /**
   * Newest first: by id (ids are time-ordered) for tasks that arrived in id order. Redis lists a
   * queue's tasks in arrival order, so ids minted before others but inserted after them (concurrent
   * producers) may interleave. A page may be shorter than `limit`; follow `nextCursor`.
   */
  tasks: Task[];
  /** Null when there is nothing more. */
  nextCursor: string | null;
}

export interface QueueCounts {
  queue: string;
  counts: Record<TaskState, number>;
}

export interface QueueInfo {
  name: string;
  paused: boolean;
}

export interface DeleteFinishedTasksParams extends Timed {
  queue?: string;
  state: FinishedState;
  /** Delete tasks of that state finished at or before `now - olderThanMs`. */
  olderThanMs: number;
  limit: number;
}

export interface LeaderParams extends Timed {
  /** The lease's name, so several duties could be led apart; the coordinator uses `coordinator`. */
  name: string;
  nodeId: string;
}
export interface LeaderLease {
  nodeId: string;
  token: string;
  expiresAt: number;
}

/** What a recurring task is: a cron expression (with a time zone) or an interval, and a template. */
export interface ScheduleDefinition {
  /** Unique; the same rules as queue names. */
  name: string;
  /** Five or six fields (croner syntax); exactly one of `cron` and `everyMs`. */
  cron: string | null;
  /** IANA time zone for `cron`; null = UTC. */
  timezone: string | null;
  everyMs: number | null;
  /** The task each occurrence submits (a submit input: queue, type, payload, priority, …). */
  task: JsonValue;
  /**
   * Occurrences that came due while no leader ran: `skip` them, or enqueue each `once` (catch up).
   * Either way an occurrence is never enqueued twice.
   */
  missedRuns: 'skip' | 'once';
  paused: boolean;
}

export interface Schedule extends ScheduleDefinition {
  /** The occurrence last enqueued (its due time), or null. */
  lastRunAt: number | null;
  /** The next occurrence the scheduler will enqueue. */
  nextRunAt: number | null;
  createdAt: number;
  updatedAt: number;
}

export interface UpsertSchedulesParams extends Timed {
  /** A new name creates the schedule; a known one replaces its definition and keeps `lastRunAt`. */
  schedules: (ScheduleDefinition & { nextRunAt: number | null })[];
}

export interface AdvanceScheduleParams extends Timed {
  name: string;
  /** Compare-and-set: applies only while the stored `nextRunAt` still equals this. */
  expectedNextRunAt: number | null;
  lastRunAt: number | null;
  nextRunAt: number | null;
}

/**
 * Event entries a store keeps unless told otherwise (`eventsRetain`): per queue on Redis, rows on
 * SQLite; each entry holds one store call's events.
 */
export const DEFAULT_EVENTS_RETAIN = 10_000;

/** The feed position before every retained event: `readEvents({ after: EVENTS_START })` reads them all. */
export const EVENTS_START = '0';

export interface ReadEventsParams {
  /**
   * Read events after this position: an event's `id`, a result's `cursor`, or `EVENTS_START`.
   * Null = from now: nothing already written, only what comes next (use the returned `cursor`).
   * A position older than what the store retains reads from the oldest retained event.
   */
  after: string | null;
  /** Only these queues (default: all). */
  queues?: string[];
  /** Only these event names (default: all). */
  names?: TaskEventName[];
  /** Only tasks of these types (default: all). */
  types?: string[];
  /** At most this many events per call. */
  limit: number;
  /** When nothing is there, wait up to this long for something to arrive (0 = do not wait). */
  blockMs?: number;
  /** Ends a wait early (resolves with what is there, never rejects on abort). */
  signal?: AbortSignal;
}

export interface ReadEventsResult {
  /** Oldest first. */
  events: TaskEvent[];
  /** Pass as `after` to go on from here (the last event's id, or where the read ended). */
  cursor: string;
}

export interface OldestPending {
  queue: string;
  /** Due time (`runAt`) of the pending task that has waited longest; null when none is pending. */
  oldestRunAt: number | null;
}

/** One idempotency key to look up: keys are unique per queue. */
export interface KeyLookup {
  queue: string;
  key: string;
}

export interface Store {
  readonly kind: StoreKind;
  readonly capabilities: StoreCapabilities;

  /** Creates or upgrades the schema (SQLite) or loads the scripts (Redis). Idempotent. */
  migrate(): Promise<void>;
  close(): Promise<void>;

  // ---- hot path -------------------------------------------------------------------------------

  /**
   * Inserts tasks. A repeated (queue, key) returns the existing task. A task with unfinished
   * dependencies is `blocked`; with a due time after now, `scheduled`; else `pending`. A task whose
   * dependency is already dead or cancelled is inserted `cancelled` (reason `dependency_failed`).
   * An unknown dependency id rejects the call with CONVEYOR_DEPENDENCY_NOT_FOUND and writes nothing.
   */
  insertTasks(p: InsertTasksParams): Promise<InsertTasksResult>;

  /**
   * Leases up to `limit` due tasks: priority first, then FIFO within a level: by due time, then id,
   * on SQLite; by the order tasks became ready on Redis (the same, unless a delayed task came due
   * while nobody claimed or promoted). Paused queues yield nothing. Due `scheduled` tasks are claimable without waiting for
   * `promoteDueTasks`. A task whose deadline has passed is never handed out: it goes `dead`.
   * Each claim spends an attempt (`attempt + 1`) and gets a fresh lease token.
   */
  claimTasks(p: ClaimTasksParams): Promise<ClaimedTask[]>;

  /** Extends the leases still held under their token; reports lost ones and cancel requests. */
  renewLeases(p: RenewLeasesParams): Promise<RenewLeasesResult>;

  /** Confirms prefetched tasks before they run (see `ClaimTasksParams.startLimit`). */
  startTasks(p: StartTasksParams): Promise<StartTasksResult>;

  /**
   * Work stealing: leases to `workerId` up to `limit` prefetched, not yet started tasks that other
   * workers hold in `queues`, oldest claim first. They start at once (`startedAt` = now) under a
   * fresh token; the attempt spent at the first claim stays the same attempt. The former holder's
   * `startTasks`, `renewLeases` and `finishTasks` then report them lost.
   */
  stealTasks(p: StealTasksParams): Promise<ClaimedTask[]>;

  /**
   * Records outcomes. `complete` stores the result and unblocks dependents whose last dependency
   * it was. `fail` keeps the error (bounded history) and schedules a retry after `retryDelayMs`
   * while attempts are left and the retry would land before the deadline; else the task is `dead`
   * (reason kept; `deadline_exceeded` when the deadline stopped it). `release` returns the task
   * to the queue without spending the attempt. A dead or cancelled task cancels its dependents,
   * transitively, with reason `dependency_failed`.
   */
  finishTasks(p: FinishTasksParams): Promise<FinishTasksResult>;

  /**
   * Resolves when work may be available in one of `queues` (an insert, a retry or a delayed task
   * coming due), when `timeoutMs` passes, or when `signal` aborts. Never rejects on abort. It is a
   * hint: the caller claims afterwards and may find nothing.
   */
  waitForWork(p: WaitForWorkParams): Promise<void>;

  // ---- maintenance (the leader runs these) ---------------------------------------------------------

  /** Moves due `scheduled` tasks to `pending`. Returns how many moved. */
  promoteDueTasks(p: MaintenanceParams): Promise<number>;
  /** Takes back tasks whose lease expired; the lost attempt stays spent. */
  reclaimExpiredLeases(p: MaintenanceParams): Promise<ReclaimResult>;
  /** Unfinished tasks past their deadline go `dead` with reason `deadline_exceeded`. Returns their ids. */
  expireDeadlines(p: MaintenanceParams): Promise<string[]>;
  /** Retention: deletes finished tasks (and their idempotency keys). Returns how many. */
  deleteFinishedTasks(p: DeleteFinishedTasksParams): Promise<number>;

  // ---- administration ------------------------------------------------------------------------------

  getTasks(p: { ids: string[] }): Promise<(Task | null)[]>;
  listTasks(p: ListTasksParams): Promise<ListTasksResult>;
  /** Counts per queue and state; every state is present (0 when none). */
  countTasks(p: { queue?: string }): Promise<QueueCounts[]>;
  /**
   * Finds tasks by idempotency key: for each (queue, key), in input order, the task that holds that
   * key in that queue, or null. A key is held from the insert that created its task until retention
   * deletes the task (then a new submit with the key creates a new task).
   */
  findTasksByKey(p: { items: KeyLookup[] }): Promise<(Task | null)[]>;
  /**
   * Reverse dependencies: for each id, in input order, the ids of the tasks still waiting on it, in
   * id order (oldest first). A task waits on `id` while it is `blocked` and `id` (one of its
   * `dependsOn`) is unfinished (`blocked`, `scheduled`, `pending` or `processing`). So the answer is
   * empty once `id` finished (completed, dead or cancelled: its dependents were released or
   * cancelled then), and for an unknown id; a dependent that was cancelled or expired is not listed.
   *
   * Why not "every task that ever named it": the Redis store keeps the reverse link (its `d:<id>` set)
   * only until the task finishes, when it resolves the dependents and drops the set, while SQLite
   * keeps its edges for the tasks' lifetime. "Still waiting" is what both know exactly; a task's
   * own `dependsOn` keeps the forward direction forever on both.
   */
  dependentsOf(p: { ids: string[] }): Promise<string[][]>;
  /** Per queue (every known queue, or one), the due time of its longest-waiting `pending` task. */
  oldestPending(p: { queue?: string }): Promise<OldestPending[]>;
  /**
   * `blocked`/`scheduled`/`pending` → `cancelled` (dependents cancelled too); `processing` → a
   * cancel request that `renewLeases` reports to the worker. In input order.
   */
  cancelTasks(p: { ids: string[] } & Timed): Promise<{ id: string; outcome: CancelOutcome }[]>;
  /** `dead` or `cancelled` → `pending` with a fresh set of attempts; the error history is kept. */
  retryTasks(p: { ids: string[] } & Timed): Promise<{ id: string; outcome: RetryOutcome }[]>;
  /** Every queue that ever held a task or was paused. */
  listQueues(): Promise<QueueInfo[]>;
  setQueuePaused(p: { queue: string; paused: boolean }): Promise<void>;

  // ---- events ------------------------------------------------------------------------------------

  /**
   * Reads the task event feed. Every operation above that changes a task writes its events in the
   * same atomic step (Redis: a capped stream per queue, one entry per call; SQLite: a table, one row
   * per call), so events cost no command per task. Retention is bounded (the store option `eventsRetain`): a reader
   * that falls further behind misses the oldest. Within a queue, events come in the order the
   * changes happened; across queues, in an order consistent with each queue's.
   */
  readEvents(p: ReadEventsParams): Promise<ReadEventsResult>;

  // ---- worker registry ---------------------------------------------------------------------------

  /** Registers or refreshes a worker; its entry is listed until `ttlMs` after this heartbeat. */
  recordWorkerHeartbeat(p: HeartbeatParams): Promise<void>;
  /** Deregisters a worker (graceful shutdown). */
  removeWorker(p: { id: string }): Promise<void>;
  /** Workers whose last heartbeat has not expired, by id. */
  listWorkers(p: Timed): Promise<WorkerInfo[]>;
  /** Deletes expired entries (the leader's housekeeping). Returns how many. */
  deleteStaleWorkers(p: Timed & { limit: number }): Promise<number>;

  // ---- recurring tasks -------------------------------------------------------------------------------

  /** Creates or replaces schedules (validated by the caller). Returns them as stored, in input order. */
  upsertSchedules(p: UpsertSchedulesParams): Promise<Schedule[]>;
  /** Deletes schedules by name; returns how many existed. */
  deleteSchedules(p: { names: string[] }): Promise<number>;
  /** Every schedule, by name. */
  listSchedules(): Promise<Schedule[]>;
  /** Records that the scheduler enqueued occurrences (compare-and-set on `nextRunAt`). */
  advanceSchedule(p: AdvanceScheduleParams): Promise<boolean>;

  // ---- leadership -----------------------------------------------------------------------------------

  /** Takes the lease when it is free or expired (or already ours); else returns null. */
  acquireLeadership(p: LeaderParams & { ttlMs: number }): Promise<LeaderLease | null>;
  /** Extends our lease; false when it was lost (expired and taken, or resigned). */
  renewLeadership(p: LeaderParams & { token: string; ttlMs: number }): Promise<boolean>;
  /** Gives the lease up if we still hold it under `token`. */
  resignLeadership(p: LeaderParams & { token: string }): Promise<void>;
  /** The current holder, or null when nobody holds an unexpired lease. */
  getLeader(p: { name: string } & Timed): Promise<LeaderLease | null>;
}
