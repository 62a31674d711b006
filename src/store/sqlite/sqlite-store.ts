import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import { ConveyorError } from '../../errors.js';
import type { ClaimedTask, Task } from '../../types.js';
import type {
  AdvanceScheduleParams,
  CancelOutcome,
  ClaimTasksParams,
  DeleteFinishedTasksParams,
  FinishTasksParams,
  FinishTasksResult,
  HeartbeatParams,
  InsertTasksParams,
  InsertTasksResult,
  LeaderLease,
  LeaderParams,
  ListTasksParams,
  ListTasksResult,
  MaintenanceParams,
  OldestPending,
  QueueCounts,
  QueueInfo,
  ReadEventsParams,
  ReadEventsResult,
  ReclaimResult,
  RenewLeasesParams,
  RenewLeasesResult,
  RetryOutcome,
  Schedule,
  StartTasksParams,
  StartTasksResult,
  StealTasksParams,
  Store,
  StoreCapabilities,
  UpsertSchedulesParams,
  WaitForWorkParams,
  WorkerInfo,
} from '../store.js';
import { DataVersionWatch } from './data-version.js';
import { EventSignal } from './event-wait.js';
import { DEFAULT_EVENTS_RETAIN } from '../store.js';
import { applyMigrations } from './migrations.js';
import { cancelTasks } from './statements/cancel-tasks.js';
import { claimTasks, probeWork } from './statements/claim-tasks.js';
import { countTasks } from './statements/count-tasks.js';
import { discardCounts, flushCounts } from './statements/counts.js';
import {
  configureEvents,
  discardEvents,
  flushEvents,
  formatPosition,
  lastRowId,
  parsePosition,
  scanEvents,
  type EventPosition,
} from './statements/events.js';
import { deleteFinishedTasks } from './statements/delete-finished-tasks.js';
import { expireDeadlines } from './statements/expire-deadlines.js';
import { finishTasks } from './statements/finish-tasks.js';
import { getTasks } from './statements/get-tasks.js';
import { insertTasks } from './statements/insert-tasks.js';
import { acquireLeadership, getLeader, renewLeadership, resignLeadership } from './statements/leadership.js';
import { listTasks } from './statements/list-tasks.js';
import { oldestPending } from './statements/oldest-pending.js';
import { findTasksByKey } from './statements/find-by-key.js';
import { dependentsOf } from './statements/dependents.js';
import { prepared, type Db } from './statements/prepared.js';
import { promoteDueTasks } from './statements/promote-due-tasks.js';
import { listQueues, setQueuePaused } from './statements/queues.js';
import { reclaimExpiredLeases } from './statements/reclaim-expired-leases.js';
import { renewLeases } from './statements/renew-leases.js';
import { retryTasks } from './statements/retry-tasks.js';
import { advanceSchedule, deleteSchedules, listSchedules, upsertSchedules } from './statements/schedules.js';
import { startTasks } from './statements/start-tasks.js';
import { stealTasks } from './statements/steal-tasks.js';
import { deleteStaleWorkers, listWorkers, recordWorkerHeartbeat, removeWorker } from './statements/workers.js';
import { WorkSignal, type WakeNote } from './wake.js';

/** Where standalone mode keeps its database unless told otherwise. */
export const DEFAULT_SQLITE_PATH = './.conveyor/conveyor.db';

const MEMORY_PATH = ':memory:';

export interface SqliteStoreOptions {
  /** A file path, or `:memory:` for a private database that lives as long as the store. */
  path: string;
  /** How long a write waits for another process's write lock before failing. Default 5000. */
  busyTimeoutMs?: number;
  /**
   * How often a waiting `waitForWork` or blocking `readEvents` looks for commits by other
   * connections. Default 500.
   */
  crossProcessPollMs?: number;
  /**
   * Rows of the task event feed to keep (one row per store call that changed tasks, holding all of
   * that call's events); older rows are trimmed. Default 10,000; 0 = write no events at all.
   */
  eventsRetain?: number;
}


type Run = (fn: () => unknown) => unknown;

/**
 * The embedded store: one better-sqlite3 connection to a WAL database that several processes may
 * share. Every method is one transaction, run synchronously; writes begin IMMEDIATE so that
 * concurrent processes queue on the write lock (busy_timeout) instead of failing a lock upgrade.
 */
export class SqliteStore implements Store {
  readonly kind = 'sqlite' as const;
  readonly capabilities: StoreCapabilities;
  readonly path: string;

  private readonly busyTimeoutMs: number;
  private readonly eventsRetain: number;
  private readonly work: WorkSignal;
  private readonly events: EventSignal;
  /** One data_version poll, shared by the claim and event waits, while either has a waiter. */
  private readonly watch: DataVersionWatch;
  private connection: { db: Db; immediate: Run; deferred: Run } | null = null;
  private closed = false;

  constructor(options: SqliteStoreOptions) {
    this.path = options.path;
    this.busyTimeoutMs = options.busyTimeoutMs ?? 5000;
    this.eventsRetain = options.eventsRetain ?? DEFAULT_EVENTS_RETAIN;
    if (!Number.isSafeInteger(this.eventsRetain) || this.eventsRetain < 0) {
      throw new ConveyorError('CONVEYOR_VALIDATION', `eventsRetain ${String(options.eventsRetain)} is invalid: use a whole number of rows, 0 or more`, {
        issues: [{ path: 'eventsRetain', message: 'must be a whole number, 0 or more' }],
      });
    }
    const inMemory = options.path === MEMORY_PATH;
    this.capabilities = { crossProcess: !inMemory, blockingWait: false };
    // Nobody else can write a private in-memory database: nothing to poll for.
    // A prepared statement, not db.pragma(), which compiles the PRAGMA anew at every poll.
    const dataVersion = inMemory ? null : () => prepared<[], number>(this.open().db, 'PRAGMA data_version').pluck().get() as number;
    this.watch = new DataVersionWatch(dataVersion, options.crossProcessPollMs ?? 500);
    this.work = new WorkSignal({ probe: (queues, now) => this.read((db) => probeWork(db, queues, now)), watch: this.watch });
    this.events = new EventSignal({ lastRowId: () => lastRowId(this.open().db), watch: this.watch });
  }

  async migrate(): Promise<void> {
    applyMigrations(this.open().db);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.work.close();
    this.events.close();
    this.watch.close();
    const connection = this.connection;
    this.connection = null;
    if (connection === null) return;
    connection.db.close();
  }

  // ---- hot path ---------------------------------------------------------------------------------

  async insertTasks(p: InsertTasksParams): Promise<InsertTasksResult> {
    return this.write((db, wakes) => insertTasks(db, p, wakes));
  }

  async claimTasks(p: ClaimTasksParams): Promise<ClaimedTask[]> {
    if (p.limit <= 0 || p.queues.length === 0) return [];
    return this.write((db) => claimTasks(db, p));
  }

  async renewLeases(p: RenewLeasesParams): Promise<RenewLeasesResult> {
    return this.write((db) => renewLeases(db, p));
  }

  async startTasks(p: StartTasksParams): Promise<StartTasksResult> {
    return this.write((db) => startTasks(db, p));
  }

  async stealTasks(p: StealTasksParams): Promise<ClaimedTask[]> {
    if (p.limit <= 0 || p.queues.length === 0) return [];
    return this.write((db) => stealTasks(db, p));
  }

  async finishTasks(p: FinishTasksParams): Promise<FinishTasksResult> {
    return this.write((db, wakes) => finishTasks(db, p, wakes));
  }

  waitForWork(p: WaitForWorkParams): Promise<void> {
    return this.work.wait(p);
  }

  // ---- maintenance ------------------------------------------------------------------------------

  async promoteDueTasks(p: MaintenanceParams): Promise<number> {
    return this.write((db, wakes) => promoteDueTasks(db, p, wakes));
  }

  async reclaimExpiredLeases(p: MaintenanceParams): Promise<ReclaimResult> {
    return this.write((db, wakes) => reclaimExpiredLeases(db, p, wakes));
  }

  async expireDeadlines(p: MaintenanceParams): Promise<string[]> {
    return this.write((db) => expireDeadlines(db, p));
  }

  async deleteFinishedTasks(p: DeleteFinishedTasksParams): Promise<number> {
    return this.write((db) => deleteFinishedTasks(db, p));
  }

  // ---- administration ---------------------------------------------------------------------------

  async getTasks(p: { ids: string[] }): Promise<(Task | null)[]> {
    return this.read((db) => getTasks(db, p));
  }

  async listTasks(p: ListTasksParams): Promise<ListTasksResult> {
    return this.read((db) => listTasks(db, p));
  }

  async countTasks(p: { queue?: string }): Promise<QueueCounts[]> {
    return this.read((db) => countTasks(db, p));
  }

  async oldestPending(p: { queue?: string }): Promise<OldestPending[]> {
    return this.read((db) => oldestPending(db, p));
  }

  async findTasksByKey(p: Parameters<Store['findTasksByKey']>[0]): Promise<(Task | null)[]> {
    return this.read((db) => findTasksByKey(db, p));
  }

  async dependentsOf(p: { ids: string[] }): Promise<string[][]> {
    return this.read((db) => dependentsOf(db, p));
  }

  async cancelTasks(p: { ids: string[]; now?: number }): Promise<{ id: string; outcome: CancelOutcome }[]> {
    return this.write((db) => cancelTasks(db, p));
  }

  async retryTasks(p: { ids: string[]; now?: number }): Promise<{ id: string; outcome: RetryOutcome }[]> {
    return this.write((db, wakes) => retryTasks(db, p, wakes));
  }

  async listQueues(): Promise<QueueInfo[]> {
    return this.read((db) => listQueues(db));
  }

  async setQueuePaused(p: { queue: string; paused: boolean }): Promise<void> {
    this.write((db, wakes) => setQueuePaused(db, p, wakes));
  }

  // ---- events -----------------------------------------------------------------------------------

  /**
   * Reads the feed (statements/events.ts for the rows and positions). Nothing to return and
   * `blockMs` left: waits for a newer row (event-wait.ts), then reads again.
   */
  async readEvents(p: ReadEventsParams): Promise<ReadEventsResult> {
    // A malformed position is refused before anything else.
    let position: EventPosition = p.after === null ? { row: this.read(lastRowId), k: null } : parsePosition(p.after);
    if (!(p.limit >= 1)) return { events: [], cursor: formatPosition(position) };
    const until = Date.now() + (p.blockMs ?? 0);
    const ended = (): boolean => p.signal?.aborted === true || this.closed;
    for (;;) {
      const from = position;
      const scan = this.read((db) => scanEvents(db, from, p));
      position = scan.position;
      if (scan.events.length > 0 || scan.capped) return { events: scan.events, cursor: formatPosition(position) };
      const left = until - Date.now();
      if (left <= 0 || ended()) return { events: [], cursor: formatPosition(position) };
      // A partial position (a cursor from further than the feed went) waits for its own row too.
      await this.events.wait(position.k === null ? position.row : position.row - 1, left, p.signal);
      if (ended()) return { events: [], cursor: formatPosition(position) };
    }
  }

  // ---- worker registry --------------------------------------------------------------------------

  async recordWorkerHeartbeat(p: HeartbeatParams): Promise<void> {
    this.write((db) => recordWorkerHeartbeat(db, p));
  }

  async removeWorker(p: { id: string }): Promise<void> {
    this.write((db) => removeWorker(db, p));
  }

  async listWorkers(p: { now?: number }): Promise<WorkerInfo[]> {
    return this.read((db) => listWorkers(db, p));
  }

  async deleteStaleWorkers(p: { now?: number; limit: number }): Promise<number> {
    return this.write((db) => deleteStaleWorkers(db, p));
  }

  // ---- recurring tasks --------------------------------------------------------------------------

  async upsertSchedules(p: UpsertSchedulesParams): Promise<Schedule[]> {
    return this.write((db) => upsertSchedules(db, p));
  }

  async deleteSchedules(p: { names: string[] }): Promise<number> {
    return this.write((db) => deleteSchedules(db, p));
  }

  async listSchedules(): Promise<Schedule[]> {
    return this.read((db) => listSchedules(db));
  }

  async advanceSchedule(p: AdvanceScheduleParams): Promise<boolean> {
    return this.write((db) => advanceSchedule(db, p));
  }

  // ---- leadership -------------------------------------------------------------------------------

  async acquireLeadership(p: LeaderParams & { ttlMs: number }): Promise<LeaderLease | null> {
    return this.write((db) => acquireLeadership(db, p));
  }

  async renewLeadership(p: LeaderParams & { token: string; ttlMs: number }): Promise<boolean> {
    return this.write((db) => renewLeadership(db, p));
  }

  async resignLeadership(p: LeaderParams & { token: string }): Promise<void> {
    this.write((db) => resignLeadership(db, p));
  }

  async getLeader(p: { name: string; now?: number }): Promise<LeaderLease | null> {
    return this.read((db) => getLeader(db, p));
  }

  // ---- plumbing ---------------------------------------------------------------------------------

  /**
   * One write transaction; the waiters learn about new work only once it committed. The task counts
   * and the events its statements recorded are written last, inside it (statements/counts.ts,
   * statements/events.ts), and readers waiting for events are woken after the commit.
   */
  private write<T>(fn: (db: Db, wakes: WakeNote[]) => T): T {
    const { db, immediate } = this.open();
    const wakes: WakeNote[] = [];
    let result: T;
    let eventRow: number | null = null;
    try {
      result = immediate(() => {
        const value = fn(db, wakes);
        flushCounts(db);
        eventRow = flushEvents(db);
        return value;
      }) as T;
    } finally {
      discardCounts(db);
      discardEvents(db);
    }
    this.work.announce(wakes);
    if (eventRow !== null) this.events.notify(eventRow);
    return result;
  }

  /** One read transaction: a consistent snapshot across the statements of one method. */
  private read<T>(fn: (db: Db) => T): T {
    const { db, deferred } = this.open();
    return deferred(() => fn(db)) as T;
  }

  /** Opens the database on first use, creating the file's folder. */
  private open(): { db: Db; immediate: Run; deferred: Run } {
    if (this.connection !== null) return this.connection;
    if (this.closed) throw new Error(`the SQLite store ${this.path} is closed`);
    if (this.path !== MEMORY_PATH && this.path !== '') mkdirSync(dirname(this.path), { recursive: true });
    const db = new Database(this.path, { timeout: this.busyTimeoutMs });
    try {
      // Settings, and why (measured on the hot path: insert 1,000, claim 100, complete 100):
      //
      // Durability. WAL with synchronous = NORMAL: a commit appends to the WAL without an fsync; the
      // WAL is synced, and copied into the database, at each checkpoint (every 1,000 pages, the
      // default, kept). A committed transaction survives a crash of the process (it is in the
      // operating system's cache), not a power loss or an operating-system crash, which can lose the
      // transactions committed since the last checkpoint (the database itself stays consistent).
      // FULL would fsync the WAL at every commit: each claim and each completion would wait for the
      // disk. Tasks whose claim or completion is lost that way run again (leases expire): at least
      // once, as after any crash.
      db.pragma('journal_mode = WAL');
      db.pragma('synchronous = NORMAL');
      db.pragma('foreign_keys = ON');
      // A multi-row write that calls a function (a claim: its tokens and its JSON rows) keeps a
      // statement journal; past 64 KiB SQLite spills it into a temporary file, which a claim of 100
      // tasks did every time (an open, writes and an unlink per claim). In memory it never spills.
      db.pragma('temp_store = MEMORY');
      // The CHECK on `tasks.state` (a list of seven states) is not evaluated by this connection:
      // inside a constraint SQLite builds the IN list into a temporary b-tree again for every row
      // written, which measured about 10k instructions per inserted task and 20k per finished one,
      // a quarter of the hot path. Every state this store writes is a literal in its SQL or a value
      // of the TaskState union, so the constraint guards nothing the types do not; other
      // connections to the file (older versions, tools) still enforce it.
      db.pragma('ignore_check_constraints = ON');
      // Left at their defaults, measured: the page cache (16 MiB), the page size (4 KiB; 8 and 16 KiB
      // were no faster), memory-mapped I/O (the hot pages are in the page cache anyway).
    } catch (err) {
      db.close();
      throw err;
    }
    configureEvents(db, this.eventsRetain);
    const transaction = db.transaction((fn: () => unknown) => fn());
    this.connection = { db, immediate: transaction.immediate, deferred: transaction.deferred };
    return this.connection;
  }
}

export function createSqliteStore(options: SqliteStoreOptions): SqliteStore {
  return new SqliteStore(options);
}
