/**
 * What only the SQLite store's event feed has: its rows (one per store call) and the positions
 * inside them, trimming, `eventsRetain: 0`, blocking reads woken by other connections and other
 * processes through `PRAGMA data_version`, and migration 6. The shared semantics are the conformance
 * suite's (test/conformance/events.ts, run by test/stores/sqlite.test.ts).
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { isConveyorError } from '../../src/errors.js';
import { applyMigrations, MIGRATIONS } from '../../src/store/sqlite/migrations.js';
import { createSqliteStore, type SqliteStore, type SqliteStoreOptions } from '../../src/store/sqlite/sqlite-store.js';
import { TRIM_EVERY } from '../../src/store/sqlite/statements/events.js';
import { EVENTS_START } from '../../src/store/store.js';
import { newTask } from '../helpers/factories.js';

const run = promisify(execFile);
const STORE_MODULE = fileURLToPath(new URL('../../src/store/sqlite/sqlite-store.ts', import.meta.url));
const FACTORIES_MODULE = fileURLToPath(new URL('../helpers/factories.ts', import.meta.url));

let dir: string;
const opened: SqliteStore[] = [];

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'conveyor-sqlite-events-'));
});

afterEach(async () => {
  for (const store of opened.splice(0)) await store.close();
  await rm(dir, { recursive: true, force: true });
});

async function open(options: Partial<SqliteStoreOptions> = {}): Promise<SqliteStore> {
  const store = createSqliteStore({ path: join(dir, 'conveyor.db'), ...options });
  opened.push(store);
  await store.migrate();
  return store;
}

/** A plain connection, the way another process would look at the file. */
function inspect<T>(fn: (db: Database.Database) => T, path = join(dir, 'conveyor.db')): T {
  const db = new Database(path);
  try {
    return fn(db);
  } finally {
    db.close();
  }
}

const eventRows = (): { id: number; at: number; body: string }[] =>
  inspect((db) => db.prepare('SELECT id, at, body FROM events ORDER BY id').all() as { id: number; at: number; body: string }[]);

/** How many events each row holds, read back through the store: row id → count. */
async function eventsPerRow(store: SqliteStore): Promise<Map<number, number>> {
  const counts = new Map<number, number>();
  for (const event of (await store.readEvents({ after: EVENTS_START, limit: 100_000 })).events) {
    const row = Number(event.id.split('.')[0]);
    counts.set(row, (counts.get(row) ?? 0) + 1);
  }
  return counts;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function elapsedMs(promise: Promise<unknown>): Promise<number> {
  const started = performance.now();
  await promise;
  return performance.now() - started;
}

describe('event rows', () => {
  it('are one per store call, holding all of its events; calls that change no task write none', async () => {
    const store = await open();
    await store.insertTasks({ tasks: Array.from({ length: 5 }, () => newTask()) });
    const claimed = await store.claimTasks({ queues: ['default'], workerId: 'w', limit: 5, leaseMs: 60_000 });
    await store.finishTasks({ items: claimed.map((t) => ({ id: t.id, queue: t.queue, token: t.leaseToken, outcome: 'complete' as const, result: null })) });
    await store.setQueuePaused({ queue: 'default', paused: true });
    await store.recordWorkerHeartbeat({ worker: { id: 'w', host: 'h', pid: 1, queues: [], types: [], concurrency: { min: 1, max: 1, current: 1 }, running: 0, startedAt: 0 }, ttlMs: 1000 });
    expect(await store.claimTasks({ queues: ['default'], workerId: 'w', limit: 5, leaseMs: 60_000 })).toEqual([]);

    const rows = eventRows();
    expect(rows).toHaveLength(3);
    expect([...(await eventsPerRow(store)).entries()]).toEqual(rows.map((row) => [row.id, 5]));
  });

  it('are not written by a call that fails', async () => {
    const store = await open();
    await store.insertTasks({ tasks: [newTask()] });
    const bad = store.insertTasks({ tasks: [newTask(), newTask({ dependsOn: ['no-such-task'] })] });
    await expect(bad).rejects.toSatisfy((err: unknown) => isConveyorError(err, 'CONVEYOR_DEPENDENCY_NOT_FOUND'));
    await store.insertTasks({ tasks: [newTask()] });
    expect(eventRows()).toHaveLength(2);
    expect([...(await eventsPerRow(store)).values()]).toEqual([1, 1]);
  });
});

describe('positions', () => {
  it('resume inside a row: a read that stops mid-row goes on exactly after its last event', async () => {
    const store = await open();
    const tasks = Array.from({ length: 7 }, () => newTask());
    await store.insertTasks({ tasks });
    const [row] = eventRows();

    const first = await store.readEvents({ after: EVENTS_START, limit: 3 });
    expect(first.events.map((e) => e.taskId)).toEqual(tasks.slice(0, 3).map((t) => t.id));
    expect(first.events.map((e) => e.id)).toEqual([`${row!.id}.1`, `${row!.id}.2`, `${row!.id}.3`]);
    expect(first.cursor).toBe(`${row!.id}.3`);

    const second = await store.readEvents({ after: first.cursor, limit: 3 });
    expect(second.events.map((e) => e.taskId)).toEqual(tasks.slice(3, 6).map((t) => t.id));
    const third = await store.readEvents({ after: second.cursor, limit: 3 });
    expect(third.events.map((e) => e.taskId)).toEqual([tasks[6]!.id]);
    expect(third.cursor).toBe(`${row!.id}.7`);
    // Filtered out, the rest of a row is skipped and the cursor moves past it all the same.
    const filtered = await store.readEvents({ after: first.cursor, limit: 3, names: ['task:completed'] });
    expect(filtered.events).toEqual([]);
    expect((await store.readEvents({ after: filtered.cursor, limit: 10 })).events).toEqual([]);
  });

  it('resume anywhere in a row that mixes queues, types, attempts, steals and detailed events', async () => {
    const store = await open();
    const now = Date.now();
    // Tasks in two queues and two types, two of them on their second attempt: one claim call then
    // writes claimed events in several groups (queue, type, attempt), each task with its own wait.
    const tasks = [
      newTask({ queue: 'a', type: 'x', runAt: now - 50 }),
      newTask({ queue: 'a', type: 'x', runAt: now - 40 }),
      newTask({ queue: 'a', type: 'y', runAt: now - 30 }),
      newTask({ queue: 'b', type: 'x', runAt: now - 20 }),
      newTask({ queue: 'b', type: 'x', runAt: now - 10 }),
    ];
    await store.insertTasks({ tasks, now });
    const first = await store.claimTasks({ queues: ['a', 'b'], workerId: 'w1', limit: 2, leaseMs: 60_000, now });
    await store.finishTasks({
      items: first.map((t) => ({ id: t.id, queue: t.queue, token: t.leaseToken, outcome: 'fail' as const, error: { reason: 'error' as const, message: 'again' }, retryDelayMs: 0 })),
      now,
    });
    const claimed = await store.claimTasks({ queues: ['a', 'b'], workerId: 'w2', limit: 5, startLimit: 3, leaseMs: 60_000, now: now + 5 });
    // Claim order: the retried two are due at `now`, after tasks[2].
    expect(claimed.map((t) => [t.id, t.attempt])).toEqual([
      [tasks[2]!.id, 1],
      [tasks[0]!.id, 2],
      [tasks[1]!.id, 2],
      [tasks[3]!.id, 1],
      [tasks[4]!.id, 1],
    ]);
    const stolen = await store.stealTasks({ queues: ['b'], workerId: 'w3', limit: 5, leaseMs: 60_000, now: now + 6 });
    expect(stolen).toHaveLength(2);
    await store.renewLeases({ leases: [{ id: stolen[0]!.id, queue: 'b', token: stolen[0]!.leaseToken, progress: { step: 1 } }], leaseMs: 60_000, now: now + 7 });

    const all = (await store.readEvents({ after: EVENTS_START, limit: 1000 })).events;
    const claimRow = all.filter((e) => e.name === 'task:claimed' && e.workerId === 'w2');
    expect(claimRow.map((e) => [e.taskId, e.queue, e.type, e.attempt, e.waitMs])).toEqual([
      [tasks[2]!.id, 'a', 'y', 1, 35],
      [tasks[0]!.id, 'a', 'x', 2, 5],
      [tasks[1]!.id, 'a', 'x', 2, 5],
      [tasks[3]!.id, 'b', 'x', 1, 25],
      [tasks[4]!.id, 'b', 'x', 1, 15],
    ]);
    const steals = all.filter((e) => e.workerId === 'w3');
    expect(steals.map((e) => [e.name, e.taskId, e.queue])).toEqual(stolen.map((t) => ['task:claimed', t.id, 'b']));
    for (const steal of steals) expect(steal).not.toHaveProperty('waitMs');
    expect(all.at(-1)).toMatchObject({ name: 'task:progress', taskId: stolen[0]!.id, progress: { step: 1 }, attempt: 1, type: 'x' });
    expect(all.filter((e) => e.name === 'task:failed').map((e) => [e.taskId, e.state, e.retryAt])).toEqual(first.map((t) => [t.id, 'pending', now]));

    // One at a time, and from every event id: exactly what follows it.
    let cursor = EVENTS_START;
    const oneByOne = [];
    for (;;) {
      const { events, cursor: next } = await store.readEvents({ after: cursor, limit: 1 });
      if (events.length === 0) break;
      oneByOne.push(...events);
      cursor = next;
    }
    expect(oneByOne).toEqual(all);
    for (let i = 0; i < all.length; i++) {
      expect((await store.readEvents({ after: all[i]!.id, limit: 1000 })).events).toEqual(all.slice(i + 1));
    }
    // Filtered, two at a time: the same as filtering everything.
    const inB: typeof all = [];
    cursor = EVENTS_START;
    for (;;) {
      const { events, cursor: next } = await store.readEvents({ after: cursor, limit: 2, queues: ['b'], types: ['x'] });
      if (events.length === 0) break;
      inB.push(...events);
      cursor = next;
    }
    expect(inB).toEqual(all.filter((e) => e.queue === 'b' && e.type === 'x'));
  });

  it('give back every task id exactly as written, whatever ids a call groups together', async () => {
    const store = await open();
    const long = 'x'.repeat(60);
    const ids = [`${long}1`, `${long}2`, `${long}`, 'a"b\\c', 'ünïcødé-✓', 'Z', 'ZZ', 'Zz', `${long}10`, '0', '00'];
    await store.insertTasks({ tasks: ids.map((id) => newTask({ id })) });
    const claimed = await store.claimTasks({ queues: ['default'], workerId: 'w', limit: 100, leaseMs: 60_000 });
    await store.finishTasks({ items: claimed.map((t) => ({ id: t.id, queue: t.queue, token: t.leaseToken, outcome: 'complete' as const, result: null })) });
    const { events } = await store.readEvents({ after: EVENTS_START, limit: 1000 });
    expect(events.filter((e) => e.name === 'task:submitted').map((e) => e.taskId)).toEqual(ids);
    expect(events.filter((e) => e.name === 'task:claimed').map((e) => e.taskId)).toEqual(claimed.map((t) => t.id));
    expect(events.filter((e) => e.name === 'task:completed').map((e) => e.taskId)).toEqual(claimed.map((t) => t.id));
    expect(new Set(claimed.map((t) => t.id))).toEqual(new Set(ids));
  });

  it('report each completed task with its own type and attempt within one batch', async () => {
    const store = await open();
    const now = Date.now();
    const tasks = [newTask({ type: 'a' }), newTask({ type: 'b' }), newTask({ type: 'a' }), newTask({ type: 'a' })];
    await store.insertTasks({ tasks, now });
    // The first attempt of tasks[1] and tasks[2] fails, so the batch below mixes attempts and types.
    const first = await store.claimTasks({ queues: ['default'], workerId: 'w', limit: 4, leaseMs: 60_000, now });
    const fail = first.filter((t) => t.id === tasks[1]!.id || t.id === tasks[2]!.id);
    await store.finishTasks({
      items: fail.map((t) => ({ id: t.id, queue: t.queue, token: t.leaseToken, outcome: 'fail' as const, error: { reason: 'error' as const, message: 'x' }, retryDelayMs: 0 })),
      now,
    });
    const again = await store.claimTasks({ queues: ['default'], workerId: 'w', limit: 4, leaseMs: 60_000, now });
    const leases = [...first.filter((t) => !fail.includes(t)), ...again];
    // Twice, so that the second batch is judged against what the first one returned.
    for (const batch of [leases.slice(0, 2), leases.slice(2)]) {
      await store.finishTasks({ items: batch.map((t) => ({ id: t.id, queue: t.queue, token: t.leaseToken, outcome: 'complete' as const, result: null })), now });
    }
    const completed = (await store.readEvents({ after: EVENTS_START, limit: 1000, names: ['task:completed'] })).events;
    expect(completed.map((e) => [e.taskId, e.type, e.attempt])).toEqual(leases.map((t) => [t.id, t.type, t.attempt]));
    expect(new Set(completed.map((e) => e.attempt))).toEqual(new Set([1, 2]));
  });

  it('refuse a malformed position with CONVEYOR_VALIDATION naming `after`', async () => {
    const store = await open();
    for (const after of ['', 'abc', '1.2.3', '-1', '1.', '.1', '1e3', ' 1', '99999999999999999']) {
      const err = await store.readEvents({ after, limit: 10 }).then(
        () => null,
        (rejection: unknown) => rejection,
      );
      expect(isConveyorError(err, 'CONVEYOR_VALIDATION'), `${JSON.stringify(after)}: ${String(err)}`).toBe(true);
      expect(isConveyorError(err) && err.details).toMatchObject({ issues: [{ path: 'after' }] });
    }
  });

  it('read from the oldest retained row when they are older than what is kept', async () => {
    const store = await open({ eventsRetain: 3 });
    // The first write of a connection trims, so a second store (a restart) trims what the first left.
    for (let i = 0; i < 6; i++) await store.insertTasks({ tasks: [newTask()] });
    await store.close();
    const reopened = await open({ eventsRetain: 3 });
    const last = newTask();
    await reopened.insertTasks({ tasks: [last] });
    const rows = eventRows();
    expect(rows.map((row) => row.id)).toEqual([5, 6, 7]);
    const fromStale = await reopened.readEvents({ after: '2.1', limit: 100 });
    expect(fromStale.events.map((e) => e.id)).toEqual(['5.1', '6.1', '7.1']);
    expect(fromStale.events.at(-1)?.taskId).toBe(last.id);
    expect((await reopened.readEvents({ after: EVENTS_START, limit: 100 })).events).toEqual(fromStale.events);
  });
});

describe('retention', () => {
  it(`keeps eventsRetain rows, trimming every ${TRIM_EVERY} writes`, async () => {
    const store = await open({ eventsRetain: 10 });
    const writes = TRIM_EVERY * 2 + 20;
    for (let i = 0; i < writes; i++) await store.insertTasks({ tasks: [newTask()] });
    const rows = eventRows();
    // The last trim ran at write 2 * TRIM_EVERY + 1, keeping the 10 rows up to it.
    expect(rows[0]!.id).toBe(2 * TRIM_EVERY + 1 - 10 + 1);
    expect(rows.at(-1)!.id).toBe(writes);
    expect(rows.length).toBeLessThanOrEqual(10 + TRIM_EVERY);
    const { events } = await store.readEvents({ after: EVENTS_START, limit: 10_000 });
    expect(events).toHaveLength(rows.length);
  });

  it('refuses an eventsRetain that is not a whole number, 0 or more', () => {
    for (const eventsRetain of [-1, 1.5, Number.NaN, Number.POSITIVE_INFINITY]) {
      expect(() => createSqliteStore({ path: ':memory:', eventsRetain })).toThrow(expect.objectContaining({ code: 'CONVEYOR_VALIDATION' }));
    }
  });

  it('never hands out a row id twice, even trimming to a single row across restarts', async () => {
    let store = await open({ eventsRetain: 1 });
    const seen: string[] = [];
    for (let i = 0; i < TRIM_EVERY + 3; i++) {
      await store.insertTasks({ tasks: [newTask()] });
      if (i % 50 === 0 || i > TRIM_EVERY) {
        await store.close();
        store = await open({ eventsRetain: 1 });
      }
      const { events } = await store.readEvents({ after: EVENTS_START, limit: 1000 });
      seen.push(events.at(-1)!.id);
    }
    expect(seen).toEqual(Array.from({ length: TRIM_EVERY + 3 }, (_, i) => `${i + 1}.1`));
    expect(eventRows().map((row) => row.id)).toEqual([TRIM_EVERY + 3]);
  });

  it('eventsRetain 0 writes no events; reads find nothing and do not fail', async () => {
    const store = await open({ eventsRetain: 0 });
    await store.insertTasks({ tasks: [newTask()] });
    const claimed = await store.claimTasks({ queues: ['default'], workerId: 'w', limit: 1, leaseMs: 60_000 });
    await store.finishTasks({ items: [{ id: claimed[0]!.id, queue: 'default', token: claimed[0]!.leaseToken, outcome: 'complete', result: 1 }] });
    expect(eventRows()).toEqual([]);
    expect(await store.readEvents({ after: EVENTS_START, limit: 10 })).toEqual({ events: [], cursor: '0' });
    expect(await store.readEvents({ after: null, limit: 10 })).toEqual({ events: [], cursor: '0' });
  });
});

describe('blocking reads', () => {
  it('wake when another store instance on the same file writes (another connection)', async () => {
    const reader = await open({ crossProcessPollMs: 50 });
    const writer = await open();
    const start = await reader.readEvents({ after: null, limit: 10 });
    const waiting = reader.readEvents({ after: start.cursor, limit: 10, blockMs: 20_000 });
    await sleep(100);
    const task = newTask();
    const elapsed = await elapsedMs(
      (async () => {
        await writer.insertTasks({ tasks: [task] });
        const { events } = await waiting;
        expect(events.map((e) => [e.name, e.taskId])).toEqual([['task:submitted', task.id]]);
      })(),
    );
    expect(elapsed).toBeLessThan(1_000);
  });

  it('wake when another process writes the file', async () => {
    const path = join(dir, 'conveyor.db');
    const reader = await open({ crossProcessPollMs: 50 });
    const start = await reader.readEvents({ after: null, limit: 10 });
    const waiting = reader.readEvents({ after: start.cursor, limit: 10, blockMs: 30_000, types: ['from-child'] });
    const script = `
      import { createSqliteStore } from ${JSON.stringify(STORE_MODULE)};
      import { newTask } from ${JSON.stringify(FACTORIES_MODULE)};
      const store = createSqliteStore({ path: process.env.DB_PATH });
      await store.migrate();
      // Something the reader filters out first: it must go on waiting.
      await store.insertTasks({ tasks: [newTask({ type: 'other' })] });
      await new Promise((resolve) => setTimeout(resolve, 300));
      const task = newTask({ type: 'from-child' });
      await store.insertTasks({ tasks: [task] });
      await store.close();
      process.stdout.write(task.id);`;
    const child = run(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { env: { ...process.env, DB_PATH: path } });
    const began = performance.now();
    const [{ stdout: childTaskId }, { events }] = await Promise.all([child, waiting]);
    // Woken by the write (the child starts in a second or two), not by the end of blockMs.
    expect(performance.now() - began).toBeLessThan(15_000);
    expect(events.map((e) => [e.name, e.taskId, e.type])).toEqual([['task:submitted', childTaskId, 'from-child']]);
  }, 60_000);

  it('end on abort and on close, resolving with nothing', async () => {
    const store = await open();
    const controller = new AbortController();
    const aborted = store.readEvents({ after: null, limit: 10, blockMs: 20_000, signal: controller.signal });
    setTimeout(() => controller.abort(), 50);
    expect(await elapsedMs(aborted)).toBeLessThan(1_000);
    expect((await aborted).events).toEqual([]);

    const closing = store.readEvents({ after: null, limit: 10, blockMs: 20_000 });
    await sleep(50);
    await store.close();
    expect(await elapsedMs(closing)).toBeLessThan(500);
    expect((await closing).events).toEqual([]);
  });

  it('time out after blockMs with the cursor where they are', async () => {
    const store = await open();
    await store.insertTasks({ tasks: [newTask()] });
    const start = await store.readEvents({ after: null, limit: 10 });
    const read = store.readEvents({ after: start.cursor, limit: 10, blockMs: 300 });
    const elapsed = await elapsedMs(read);
    expect(elapsed).toBeGreaterThanOrEqual(250);
    expect(await read).toEqual({ events: [], cursor: start.cursor });
  });

  it('share one data_version poll among many readers, and leave no timer once they end', async () => {
    const created = new Set<unknown>();
    const cleared = new Set<unknown>();
    const spies = {
      setTimeout: vi.spyOn(globalThis, 'setTimeout'),
      setInterval: vi.spyOn(globalThis, 'setInterval'),
      clearTimeout: vi.spyOn(globalThis, 'clearTimeout'),
      clearInterval: vi.spyOn(globalThis, 'clearInterval'),
    };
    try {
      const reader = await open({ crossProcessPollMs: 20 });
      const writer = await open();
      const intervalsBefore = spies.setInterval.mock.calls.length;
      const controllers = Array.from({ length: 20 }, () => new AbortController());
      const readers = controllers.map((controller, i) =>
        reader.readEvents({ after: null, limit: 10, blockMs: 20_000, signal: controller.signal, queues: [`q${i % 2}`] }),
      );
      await sleep(80);
      expect(spies.setInterval.mock.calls.length - intervalsBefore).toBe(1);
      // A write another connection makes, for half of them: those end; the rest wait on.
      await writer.insertTasks({ tasks: [newTask({ queue: 'q0' })] });
      const first = await Promise.all(readers.filter((_, i) => i % 2 === 0));
      for (const { events } of first) expect(events.map((e) => e.queue)).toEqual(['q0']);
      for (const controller of controllers) controller.abort();
      const rest = await Promise.all(readers.filter((_, i) => i % 2 === 1));
      for (const { events } of rest) expect(events).toEqual([]);

      for (const name of ['setTimeout', 'setInterval'] as const) for (const result of spies[name].mock.results) created.add(result.value);
      for (const name of ['clearTimeout', 'clearInterval'] as const) for (const call of spies[name].mock.calls) cleared.add(call[0]);
      const leftOver = [...created].filter((timer) => !cleared.has(timer) && (timer as { _destroyed?: boolean })._destroyed !== true);
      expect(leftOver).toEqual([]);
    } finally {
      for (const spy of Object.values(spies)) spy.mockRestore();
    }
  });
});

describe('migration 6', () => {
  it('upgrades a database made at migration 5: tasks kept, events and trace contexts from then on', async () => {
    const path = join(dir, 'conveyor.db');
    const old = newTask();
    inspect((db) => {
      db.pragma('journal_mode = WAL');
      applyMigrations(db, MIGRATIONS.slice(0, 5));
      db.prepare(
        `INSERT INTO tasks (id, queue, type, state, priority, run_at, max_attempts, created_at, backoff, payload)
         VALUES (?, 'default', 'test', 'pending', 5, ?, 3, ?, ?, '{}')`,
      ).run(old.id, Date.now(), Date.now(), JSON.stringify(old.backoff));
      db.prepare("INSERT INTO queues (name) VALUES ('default')").run();
    }, path);

    const store = await open();
    expect(inspect((db) => db.prepare('SELECT MAX(version) FROM schema_migrations').pluck().get())).toBe(6);
    const [before] = await store.getTasks({ ids: [old.id] });
    expect(before).toMatchObject({ id: old.id, state: 'pending' });
    expect(before).not.toHaveProperty('traceContext');

    const traced = newTask({ traceContext: { traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01' } });
    await store.insertTasks({ tasks: [traced] });
    const claimed = await store.claimTasks({ queues: ['default'], workerId: 'w', limit: 2, leaseMs: 60_000 });
    expect(claimed.map((t) => t.id).sort()).toEqual([old.id, traced.id].sort());
    expect(claimed.find((t) => t.id === traced.id)?.traceContext).toEqual(traced.traceContext);
    expect(claimed.find((t) => t.id === old.id)).not.toHaveProperty('traceContext');
    const { events } = await store.readEvents({ after: EVENTS_START, limit: 10 });
    expect(events.map((e) => e.name)).toEqual(['task:submitted', 'task:claimed', 'task:claimed']);
  });
});

describe('traceContext on the plain insert path', () => {
  it('is kept per task in a batch that mixes tasks with and without one', async () => {
    const store = await open();
    const carrier = (n: number) => ({ traceparent: `00-${String(n).padStart(32, '0')}-b7ad6b7169203331-01` });
    // Long runs take the shared-row statements, short ones the positional ones.
    const tasks = [
      ...Array.from({ length: 12 }, (_, i) => newTask({ traceContext: carrier(i) })),
      ...Array.from({ length: 12 }, () => newTask()),
      newTask({ traceContext: carrier(99) }),
      newTask(),
    ];
    const { items } = await store.insertTasks({ tasks });
    const read = await store.getTasks({ ids: tasks.map((t) => t.id) });
    tasks.forEach((task, i) => {
      if (task.traceContext === undefined) {
        expect(items[i]!.task).not.toHaveProperty('traceContext');
        expect(read[i]).not.toHaveProperty('traceContext');
      } else {
        expect(items[i]!.task.traceContext).toEqual(task.traceContext);
        expect(read[i]!.traceContext).toEqual(task.traceContext);
      }
    });
  });
});
