import { ConveyorError } from '../../../errors.js';
import { assertQueueName } from '../../../names.js';
import type { Task, TaskError, TaskState } from '../../../types.js';
import type { InsertTasksParams, InsertTasksResult, NewTask } from '../../store.js';
import type { WakeNote } from '../wake.js';
import { prepared, type Db } from './prepared.js';
import { rowToTask, type TaskRow } from './rows.js';

/** What the validation pass decided for one input task, before anything is written. */
type Plan =
  | { kind: 'existing'; task: Task }
  /** Same (queue, key) as an earlier task of this batch: that task's result, once it exists. */
  | { kind: 'duplicate'; of: number }
  /** `dependsOn` with duplicates removed; `known` holds the states of those already in the database. */
  | { kind: 'new'; dependsOn: string[]; known: Map<string, TaskState> };

const INSERT_TASK = `
INSERT INTO tasks (id, queue, type, state, priority, run_at, attempt, max_attempts, timeout_ms, deadline,
  waiting_on, created_at, finished_at, idempotency_key, backoff, depends_on, error, errors, payload)
VALUES (@id, @queue, @type, @state, @priority, @runAt, 0, @maxAttempts, @timeoutMs, @deadline,
  @waitingOn, @now, @finishedAt, @key, @backoff, @dependsOn, @error, @errors, @payload)`;

/**
 * Inserts in input order. Two passes: the first only reads (idempotency keys, dependency ids) and
 * throws before anything is written; the second writes. Both run inside the caller's transaction.
 */
export function insertTasks(db: Db, p: InsertTasksParams, wakes: WakeNote[]): InsertTasksResult {
  const now = p.now ?? Date.now();
  const plans = planInserts(db, p.tasks);

  const insertTask = prepared(db, INSERT_TASK);
  const insertEdge = prepared<[string, string]>(
    db,
    'INSERT OR IGNORE INTO task_dependencies (task_id, depends_on_id) VALUES (?, ?)',
  );
  const upsertQueue = prepared<[string]>(db, 'INSERT INTO queues (name) VALUES (?) ON CONFLICT (name) DO NOTHING');

  const items: InsertTasksResult['items'] = [];
  const createdStates = new Map<string, TaskState>();
  const queuesSeen = new Set<string>();

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
    insertTask.run({
      id: task.id,
      queue: task.queue,
      type: task.type,
      state,
      priority: task.priority,
      runAt,
      maxAttempts: task.maxAttempts,
      timeoutMs: task.timeoutMs,
      deadline: task.deadline,
      waitingOn: state === 'blocked' ? waitingOn : 0,
      now,
      finishedAt: task.finishedAt,
      key: task.key,
      backoff: JSON.stringify(task.backoff),
      dependsOn: JSON.stringify(task.dependsOn),
      error: error === null ? null : JSON.stringify(error),
      errors: JSON.stringify(task.errors),
      payload: JSON.stringify(task.payload),
    });
    for (const depId of plan.dependsOn) insertEdge.run(task.id, depId);
    if (!queuesSeen.has(task.queue)) {
      queuesSeen.add(task.queue);
      upsertQueue.run(task.queue);
    }
    createdStates.set(task.id, state);
    if (state === 'pending') wakes.push({ queue: task.queue, dueInMs: 0 });
    else if (state === 'scheduled') wakes.push({ queue: task.queue, dueInMs: runAt - now });
    items.push({ task, created: true });
  });
  return { items };
}

/** The read-only pass: resolves idempotency keys and checks that every dependency exists. */
function planInserts(db: Db, tasks: readonly NewTask[]): Plan[] {
  const byKey = prepared<[string, string], TaskRow>(db, 'SELECT * FROM tasks WHERE queue = ? AND idempotency_key = ?');
  const statesOf = prepared<[string], { id: string; state: TaskState }>(
    db,
    'SELECT id, state FROM tasks WHERE id IN (SELECT value FROM json_each(?))',
  );

  const plans: Plan[] = [];
  const batchKeys = new Map<string, number>();
  // Ids this batch will hold by the time a later task is inserted. A task deduplicated by its key
  // stands for the task it resolved to, so a later `dependsOn` naming it waits for that one.
  const batchIds = new Map<string, string>();

  const byId = prepared<[string], TaskRow>(db, 'SELECT * FROM tasks WHERE id = ?');

  tasks.forEach((task, index) => {
    assertQueueName(task.queue);
    // The same id again (a retried call whose first reply was lost) is the same task, not a second.
    const sameId = byId.get(task.id);
    if (sameId !== undefined) {
      plans.push({ kind: 'existing', task: rowToTask(sameId) });
      batchIds.set(task.id, sameId.id);
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
        plans.push({ kind: 'existing', task: rowToTask(row) });
        batchIds.set(task.id, row.id);
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
  return {
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
}
