import { ConveyorError } from '../../../errors.js';
import { assertQueueName } from '../../../names.js';
import type { BackoffPolicy, Task, TaskError, TaskState, TraceCarrier } from '../../../types.js';
import type { InsertTasksParams, InsertTasksResult, NewTask } from '../../store.js';
import type { WakeNote } from '../wake.js';
import { countInserted } from './counts.js';
import { EV, eventLog, type EventGroup, type EventLog } from './events.js';
import { taskById } from './get-tasks.js';
import { prepared, sqlForRows, type Db, type Statement } from './prepared.js';
import { jsonToTask, TASK_JSON } from './rows.js';

/** What the validation pass decided for one input task, before anything is written. */
type Plan =
  | { kind: 'existing'; task: Task }
  /** Same (queue, key) as an earlier task of this batch: that task's result, once it exists. */
  | { kind: 'duplicate'; of: number }
  /** `dependsOn` with duplicates removed; `known` holds the states of those already in the database. */
  | { kind: 'new'; dependsOn: string[]; known: Map<string, TaskState> };

/** The columns every insert writes. */
const COLUMNS = `id, queue, type, state, priority, run_at, attempt, max_attempts, timeout_ms, deadline,
  waiting_on, created_at, finished_at, idempotency_key, backoff, depends_on, error, errors, payload`;
/** The columns of the planned path, and the values of one row: 18 parameters, the rest literals or defaults. */
const INSERT_COLUMNS = `(${COLUMNS}, trace_context)`;
const INSERT_ROW = '(?, ?, ?, ?, ?, ?, 0, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)';
/** The plain path without a trace context anywhere in the statement's rows, and with one. */
const PLAIN_COLUMNS = `(${COLUMNS})`;
const TRACED_COLUMNS = `(${COLUMNS}, trace_context)`;
/**
 * The plain path (no key, no dependency, no error) writes a batch with multi-row INSERTs of these
 * sizes, largest first (1,000 tasks = 20 statements): each size is one prepared statement, and a row
 * costs far less inside a multi-row statement than as a statement of its own.
 */
const PLAIN_CHUNKS = [50, 10, 1] as const;
/** One row of the plain path, every value its own parameter: 12. */
const PLAIN_ROW = "(?, ?, ?, ?, ?, ?, 0, ?, ?, ?, 0, ?, NULL, NULL, ?, '[]', NULL, '[]', ?)";
/** The same with the trace context: 13. */
const PLAIN_ROW_TRACED = "(?, ?, ?, ?, ?, ?, 0, ?, ?, ?, 0, ?, NULL, NULL, ?, '[]', NULL, '[]', ?, ?)";
/**
 * One row of the plain path for a run of tasks that share everything but their id, due time and
 * payload (a client's batch with its defaults): those three are the row's parameters, the shared
 * values named parameters bound once per statement. Binding costs about a microsecond per value in
 * better-sqlite3, more than SQLite's own work for the row, so this is the cheap way to write a batch.
 */
const SHARED_ROW =
  "(?, @queue, @type, @state, @priority, ?, 0, @maxAttempts, @timeoutMs, @deadline, 0, @now, NULL, NULL, @backoff, '[]', NULL, '[]', ?)";
/** The same with each row's trace context as a fourth parameter. */
const SHARED_ROW_TRACED =
  "(?, @queue, @type, @state, @priority, ?, 0, @maxAttempts, @timeoutMs, @deadline, 0, @now, NULL, NULL, @backoff, '[]', NULL, '[]', ?, ?)";
/** Runs shorter than this go with their neighbours into positional statements. */
const SHARED_RUN_MIN = 8;

/**
 * Inserts in input order. A batch of plain tasks (no idempotency key, no dependency, distinct ids)
 * takes `insertPlain`; any other batch two passes: the first only reads (idempotency keys, dependency
 * ids) and throws before anything is written; the second writes. All run inside the caller's
 * transaction.
 */
export function insertTasks(db: Db, p: InsertTasksParams, wakes: WakeNote[]): InsertTasksResult {
  const now = p.now ?? Date.now();
  if (isPlainBatch(p.tasks)) {
    const items = insertPlain(db, p.tasks, now, wakes);
    if (items !== null) return { items };
  }
  const plans = planInserts(db, p.tasks);

  const insertTask = prepared<unknown[]>(db, `INSERT INTO tasks ${INSERT_COLUMNS} VALUES ${INSERT_ROW}`);
  const insertEdge = prepared<[string, string]>(
    db,
    'INSERT OR IGNORE INTO task_dependencies (task_id, depends_on_id) VALUES (?, ?)',
  );

  const items: InsertTasksResult['items'] = [];
  const createdStates = new Map<string, TaskState>();
  const queuesSeen = new Set<string>();
  const log = eventLog(db, now);

  p.tasks.forEach((input, index) => {
    const plan = plans[index] as Plan;
    if (plan.kind === 'existing') {
      items.push({ task: plan.task, created: false });
      return;
    }
    if (plan.kind === 'duplicate') {
      items.push({ task: (items[plan.of] as { task: Task }).task, created: false });
      return;
    }

    const runAt = input.runAt ?? now + (input.delayMs ?? 0);
    let waitingOn = 0;
    let failed: { id: string; state: TaskState } | null = null;
    for (const depId of plan.dependsOn) {
      const state = plan.known.get(depId) ?? (createdStates.get(depId) as TaskState);
      if (state !== 'completed') waitingOn++;
      if (failed === null && (state === 'dead' || state === 'cancelled')) failed = { id: depId, state };
    }

    let state: TaskState;
    let error: TaskError | null = null;
    if (failed !== null) {
      state = 'cancelled';
      error = { reason: 'dependency_failed', message: `dependency ${failed.id} is ${failed.state}`, attempt: 0, at: now };
    } else if (waitingOn > 0) state = 'blocked';
    else if (runAt > now) state = 'scheduled';
    else state = 'pending';

    const task = newTaskRecord(input, { state, runAt, now, error, dependsOn: plan.dependsOn });
    insertTask.run([
      task.id,
      task.queue,
      task.type,
      state,
      task.priority,
      runAt,
      task.maxAttempts,
      task.timeoutMs,
      task.deadline,
      state === 'blocked' ? waitingOn : 0,
      now,
      task.finishedAt,
      task.key,
      JSON.stringify(task.backoff),
      JSON.stringify(task.dependsOn),
      error === null ? null : JSON.stringify(error),
      JSON.stringify(task.errors),
      JSON.stringify(task.payload),
      input.traceContext === undefined ? null : JSON.stringify(input.traceContext),
    ]);
    for (const depId of plan.dependsOn) insertEdge.run(task.id, depId);
    if (!queuesSeen.has(task.queue)) {
      queuesSeen.add(task.queue);
      upsertQueue(db, task.queue);
    }
    createdStates.set(task.id, state);
    countInserted(db, task.queue, state);
    if (log !== null) {
      log.add(EV.submitted, task.id, task.queue, task.type, 0, state);
      if (error !== null) log.addDetailed(EV.cancelled, task.id, task.queue, task.type, 0, state, error.reason, error.message);
    }
    if (state === 'pending') wakes.push({ queue: task.queue, dueInMs: 0 });
    else if (state === 'scheduled') wakes.push({ queue: task.queue, dueInMs: runAt - now });
    items.push({ task, created: true });
  });
  return { items };
}

function upsertQueue(db: Db, queue: string): void {
  prepared<[string]>(db, 'INSERT INTO queues (name) VALUES (?) ON CONFLICT (name) DO NOTHING').run(queue);
}

/** No idempotency key and no dependency anywhere, and no id twice: nothing to plan. */
function isPlainBatch(tasks: readonly NewTask[]): boolean {
  for (const task of tasks) {
    if (task.key !== null || task.dependsOn.length > 0) return false;
  }
  if (tasks.length < 2) return true;
  const ids = new Set<string>();
  for (const task of tasks) ids.add(task.id);
  return ids.size === tasks.length;
}

/** What the tasks of a run share, bound by name. */
interface Shape {
  queue: string;
  type: string;
  state: TaskState;
  priority: number;
  maxAttempts: number;
  timeoutMs: number | null;
  deadline: number | null;
  now: number;
  backoff: string;
}

/**
 * The hot path of submitting: a batch of plain tasks, written with multi-row INSERTs and no read per
 * task. The one thing left to check, an id that already exists (a retried call whose first reply
 * was lost), is left to the id's unique index (`ON CONFLICT (id) DO NOTHING`): when an insert writes
 * fewer rows than it was given, the rows of that statement are read back and told apart by rowid
 * (a new row gets one above the largest before the batch), and the existing ones are returned as
 * they are, as the planned path does. Returns null, having written nothing, when it cannot tell rows
 * apart that way (a rowid near the top of its range), so the planned path takes the batch.
 */
function insertPlain(db: Db, tasks: readonly NewTask[], now: number, wakes: WakeNote[]): InsertTasksResult['items'] | null {
  const before = prepared<[], number | null>(db, 'SELECT max(rowid) FROM tasks').pluck().get() ?? 0;
  if (!Number.isSafeInteger(before) || before > Number.MAX_SAFE_INTEGER - tasks.length) return null;

  const count = tasks.length;
  const items: InsertTasksResult['items'] = new Array(count);
  const runAts: number[] = new Array(count);
  const states: TaskState[] = new Array(count);
  const backoffs: string[] = new Array(count);
  const payloads: string[] = new Array(count);
  /** Trace contexts as JSON; null = none. */
  const traces: (string | null)[] = new Array(count);
  /** Per queue, the earliest time one of its new tasks is due (ms from now). */
  const dueIn = new Map<string, number>();
  const backoffText = backoffTexts();
  const traceText = traceTexts();
  for (let i = 0; i < count; i++) {
    const input = tasks[i] as NewTask;
    const runAt = input.runAt ?? now + (input.delayMs ?? 0);
    const state: TaskState = runAt > now ? 'scheduled' : 'pending';
    runAts[i] = runAt;
    states[i] = state;
    backoffs[i] = backoffText(input.backoff);
    payloads[i] = JSON.stringify(input.payload);
    traces[i] = input.traceContext === undefined ? null : traceText(input.traceContext);
    items[i] = { task: newTaskRecord(input, { state, runAt, now, error: null, dependsOn: [] }), created: true };
    const due = runAt - now;
    const earliest = dueIn.get(input.queue);
    if (earliest === undefined) {
      assertQueueName(input.queue);
      upsertQueue(db, input.queue);
      dueIn.set(input.queue, due);
    } else if (due < earliest) dueIn.set(input.queue, due);
  }

  const sameShape = (a: number, b: number): boolean => {
    const x = tasks[a] as NewTask;
    const y = tasks[b] as NewTask;
    return (
      x.queue === y.queue &&
      x.type === y.type &&
      states[a] === states[b] &&
      x.priority === y.priority &&
      x.maxAttempts === y.maxAttempts &&
      x.timeoutMs === y.timeoutMs &&
      x.deadline === y.deadline &&
      backoffs[a] === backoffs[b] &&
      (traces[a] === null) === (traces[b] === null)
    );
  };

  /** Writes tasks [start, end) in chunks; `shape` null = every value positional. */
  const write = (start: number, end: number, shape: Shape | null): void => {
    while (start < end) {
      const left = end - start;
      const size = PLAIN_CHUNKS.find((chunk) => chunk <= left) as number;
      let traced = false;
      for (let i = start; i < start + size && !traced; i++) traced = traces[i] !== null;
      const params: unknown[] = [];
      for (let i = start; i < start + size; i++) {
        const input = tasks[i] as NewTask;
        if (shape === null) {
          params.push(input.id, input.queue, input.type, states[i], input.priority, runAts[i], input.maxAttempts);
          params.push(input.timeoutMs, input.deadline, now, backoffs[i], payloads[i]);
        } else {
          params.push(input.id, runAts[i], payloads[i]);
        }
        if (traced) params.push(traces[i]);
      }
      const written =
        shape === null ? plainInsert(db, size, traced).run(...params).changes : sharedInsert(db, size, traced).run(...params, shape).changes;
      if (written !== size) resolveExisting(db, tasks, items, start, size, before);
      start += size;
    }
  };

  let positionalFrom = 0;
  let runStart = 0;
  while (runStart < count) {
    let runEnd = runStart + 1;
    while (runEnd < count && sameShape(runStart, runEnd)) runEnd++;
    if (runEnd - runStart >= SHARED_RUN_MIN) {
      write(positionalFrom, runStart, null);
      const first = tasks[runStart] as NewTask;
      write(runStart, runEnd, {
        queue: first.queue,
        type: first.type,
        state: states[runStart] as TaskState,
        priority: first.priority,
        maxAttempts: first.maxAttempts,
        timeoutMs: first.timeoutMs,
        deadline: first.deadline,
        now,
        backoff: backoffs[runStart] as string,
      });
      positionalFrom = runEnd;
    }
    runStart = runEnd;
  }
  write(positionalFrom, count, null);

  // The counts, per run of tasks in one queue and state (a batch is usually one run).
  let runFrom = 0;
  let created = 0;
  const flushRun = (): void => countInserted(db, (tasks[runFrom] as NewTask).queue, states[runFrom] as TaskState, created);
  for (let i = 0; i < count; i++) {
    if ((tasks[i] as NewTask).queue !== (tasks[runFrom] as NewTask).queue || states[i] !== states[runFrom]) {
      flushRun();
      runFrom = i;
      created = 0;
    }
    if ((items[i] as { created: boolean }).created) created++;
  }
  if (count > 0) flushRun();

  const log = eventLog(db, now);
  if (log !== null) submitted(log, items, states);

  // One note per queue: a waiter wakes at the earliest due time it is told of.
  for (const [queue, dueInMs] of dueIn) wakes.push({ queue, dueInMs });
  return items;
}

/**
 * `task:submitted` for each task the plain path created, added to the log's group for as long as
 * queue, type and state stay the same (a batch is usually one group): a push per task.
 */
function submitted(log: EventLog, items: InsertTasksResult['items'], states: readonly TaskState[]): void {
  let group: EventGroup | null = null;
  let queue = '';
  let type = '';
  let state: TaskState = 'pending';
  for (let i = 0; i < items.length; i++) {
    const item = items[i] as InsertTasksResult['items'][number];
    if (!item.created) continue;
    const task = item.task;
    const taskState = states[i] as TaskState;
    if (group === null || task.queue !== queue || task.type !== type || taskState !== state) {
      queue = task.queue;
      type = task.type;
      state = taskState;
      group = log.group(EV.submitted, queue, type, 0, state, null, false);
    }
    log.push(group, task.id);
  }
}

function plainInsert(db: Db, rows: number, traced: boolean): Statement<unknown[]> {
  const sql = traced
    ? sqlForRows('insert-plain-traced', rows, (n) => multiRowInsert(TRACED_COLUMNS, PLAIN_ROW_TRACED, n))
    : sqlForRows('insert-plain', rows, (n) => multiRowInsert(PLAIN_COLUMNS, PLAIN_ROW, n));
  return prepared<unknown[]>(db, sql);
}

function sharedInsert(db: Db, rows: number, traced: boolean): Statement<unknown[]> {
  const sql = traced
    ? sqlForRows('insert-shared-traced', rows, (n) => multiRowInsert(TRACED_COLUMNS, SHARED_ROW_TRACED, n))
    : sqlForRows('insert-shared', rows, (n) => multiRowInsert(PLAIN_COLUMNS, SHARED_ROW, n));
  return prepared<unknown[]>(db, sql);
}

function multiRowInsert(columns: string, row: string, rows: number): string {
  return `INSERT OR FAIL INTO tasks ${columns} VALUES ${new Array<string>(rows).fill(row).join(', ')}
     ON CONFLICT (id) DO NOTHING`;
}

/** `JSON.stringify` of trace contexts, remembering the last one (a batch submitted in one span shares it). */
function traceTexts(): (carrier: TraceCarrier) => string {
  let last: TraceCarrier | null = null;
  let lastText = '';
  return (carrier) => {
    if (carrier !== last) {
      last = carrier;
      lastText = JSON.stringify(carrier);
    }
    return lastText;
  };
}

const BACKOFF_KEYS = ['kind', 'delayMs', 'maxDelayMs', 'jitter'] as const;

/** Only the four fields of a policy, in their usual order: `JSON.stringify` writes them in that order too. */
function isCanonicalBackoff(policy: BackoffPolicy): boolean {
  let i = 0;
  for (const key in policy) {
    if (key !== BACKOFF_KEYS[i++]) return false;
  }
  return i === BACKOFF_KEYS.length;
}

/**
 * `JSON.stringify` of backoff policies, remembering the last one: the tasks of a batch nearly always
 * carry equal policies (often equal copies of the client's defaults), and equal canonical policies
 * have equal JSON.
 */
function backoffTexts(): (policy: BackoffPolicy) => string {
  let last: BackoffPolicy | null = null;
  let lastText = '';
  let lastCanonical = false;
  return (policy) => {
    if (policy === last) return lastText;
    if (
      last !== null &&
      lastCanonical &&
      policy.kind === last.kind &&
      policy.delayMs === last.delayMs &&
      policy.maxDelayMs === last.maxDelayMs &&
      policy.jitter === last.jitter &&
      isCanonicalBackoff(policy)
    ) {
      return lastText;
    }
    last = policy;
    lastText = JSON.stringify(policy);
    lastCanonical = isCanonicalBackoff(policy);
    return lastText;
  };
}

/** Some ids of `tasks[start, start + size)` existed before the batch: those items return the stored task. */
function resolveExisting(
  db: Db,
  tasks: readonly NewTask[],
  items: InsertTasksResult['items'],
  start: number,
  size: number,
  rowidBefore: number,
): void {
  const existed = prepared<[string, number], string>(db, `SELECT ${TASK_JSON} FROM tasks WHERE id = ? AND rowid <= ?`).pluck();
  for (let i = start; i < start + size; i++) {
    const json = existed.get((tasks[i] as NewTask).id, rowidBefore);
    if (json !== undefined) items[i] = { task: jsonToTask(json), created: false };
  }
}

/** The read-only pass: resolves idempotency keys and checks that every dependency exists. */
function planInserts(db: Db, tasks: readonly NewTask[]): Plan[] {
  const byKey = prepared<[string, string], string>(
    db,
    `SELECT ${TASK_JSON} FROM tasks WHERE queue = ? AND idempotency_key = ?`,
  ).pluck();
  const statesOf = prepared<[string], { id: string; state: TaskState }>(
    db,
    'SELECT id, state FROM tasks WHERE id IN (SELECT value FROM json_each(?))',
  );

  const plans: Plan[] = [];
  const batchKeys = new Map<string, number>();
  // Ids this batch will hold by the time a later task is inserted. A task deduplicated by its key
  // stands for the task it resolved to, so a later `dependsOn` naming it waits for that one.
  const batchIds = new Map<string, string>();

  const byId = taskById(db);

  tasks.forEach((task, index) => {
    assertQueueName(task.queue);
    // The same id again (a retried call whose first reply was lost) is the same task, not a second.
    const sameId = byId.get(task.id);
    if (sameId !== undefined) {
      plans.push({ kind: 'existing', task: jsonToTask(sameId) });
      batchIds.set(task.id, task.id);
      return;
    }
    if (task.key !== null) {
      const batchKey = `${task.queue}\u0000${task.key}`;
      const earlier = batchKeys.get(batchKey);
      if (earlier !== undefined) {
        const resolved = plans[earlier] as Plan;
        plans.push(resolved.kind === 'existing' ? resolved : { kind: 'duplicate', of: earlier });
        batchIds.set(task.id, batchIdOf(tasks, plans, earlier));
        return;
      }
      batchKeys.set(batchKey, index);
      const row = byKey.get(task.queue, task.key);
      if (row !== undefined) {
        const existing = jsonToTask(row);
        plans.push({ kind: 'existing', task: existing });
        batchIds.set(task.id, existing.id);
        return;
      }
    }

    const dependsOn = [...new Set(task.dependsOn.map((id) => batchIds.get(id) ?? id))];
    const known = new Map<string, TaskState>();
    if (dependsOn.length > 0) {
      for (const row of statesOf.all(JSON.stringify(dependsOn))) known.set(row.id, row.state);
    }
    const missing = dependsOn.filter((id) => !known.has(id) && !isCreatedInBatch(id, batchIds));
    if (missing.length > 0) {
      throw new ConveyorError(
        'CONVEYOR_DEPENDENCY_NOT_FOUND',
        `task ${task.id} depends on ${missing.length === 1 ? 'a task that does' : 'tasks that do'} not exist: ` +
          `${missing.join(', ')}; submit dependencies first or earlier in the same batch`,
        { taskId: task.id, missing },
      );
    }
    plans.push({ kind: 'new', dependsOn, known });
    batchIds.set(task.id, task.id);
  });
  return plans;
}

/** The id the task at `index` ends up as: its own when created, the existing one when deduplicated. */
function batchIdOf(tasks: readonly NewTask[], plans: readonly Plan[], index: number): string {
  const plan = plans[index] as Plan;
  if (plan.kind === 'existing') return plan.task.id;
  return (tasks[index] as NewTask).id;
}

/** Created by this batch (as opposed to resolved to a task already in the database). */
function isCreatedInBatch(id: string, batchIds: ReadonlyMap<string, string>): boolean {
  return batchIds.get(id) === id;
}

function newTaskRecord(
  input: NewTask,
  s: { state: TaskState; runAt: number; now: number; error: TaskError | null; dependsOn: string[] },
): Task {
  const finished = s.state === 'cancelled';
  const task: Task = {
    id: input.id,
    queue: input.queue,
    type: input.type,
    payload: input.payload,
    priority: input.priority,
    state: s.state,
    attempt: 0,
    maxAttempts: input.maxAttempts,
    backoff: { ...input.backoff },
    timeoutMs: input.timeoutMs,
    deadline: input.deadline,
    runAt: s.runAt,
    dependsOn: s.dependsOn,
    key: input.key,
    result: null,
    error: s.error,
    errors: s.error === null ? [] : [s.error],
    progress: null,
    createdAt: s.now,
    startedAt: null,
    finishedAt: finished ? s.now : null,
    workerId: null,
    leaseExpiresAt: null,
    cancelRequested: false,
  };
  if (input.traceContext !== undefined) task.traceContext = { ...input.traceContext };
  return task;
}
