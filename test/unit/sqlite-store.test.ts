/**
 * What only the SQLite store has: its migrations, its file handling, several connections (and
 * processes) on one file, and the in-process wake-ups that stand in for a blocking wait. The shared
 * semantics are the conformance suite's (test/stores/sqlite.test.ts).
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { isConveyorError } from '../../src/errors.js';
import { applyMigrations, LATEST_SCHEMA_VERSION, MIGRATIONS, type Migration } from '../../src/store/sqlite/migrations.js';
import { createSqliteStore, DEFAULT_SQLITE_PATH, type SqliteStore } from '../../src/store/sqlite/sqlite-store.js';
import { newTask } from '../helpers/factories.js';

const run = promisify(execFile);
const STORE_MODULE = fileURLToPath(new URL('../../src/store/sqlite/sqlite-store.ts', import.meta.url));

let dir: string;
const opened: SqliteStore[] = [];

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'conveyor-sqlite-unit-'));
});

afterEach(async () => {
  for (const store of opened.splice(0)) await store.close();
  await rm(dir, { recursive: true, force: true });
});

async function open(path = join(dir, 'conveyor.db'), options: { crossProcessPollMs?: number } = {}): Promise<SqliteStore> {
  const store = createSqliteStore({ path, ...options });
  opened.push(store);
  await store.migrate();
  return store;
}

/** A second, plain connection to look at the file the way another process would. */
function inspect<T>(path: string, fn: (db: Database.Database) => T): T {
  const db = new Database(path);
  try {
    return fn(db);
  } finally {
    db.close();
  }
}

async function elapsedMs(promise: Promise<unknown>): Promise<number> {
  const started = performance.now();
  await promise;
  return performance.now() - started;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function appliedVersions(db: Database.Database): { version: number; name: string; applied_at: number }[] {
  return db.prepare('SELECT version, name, applied_at FROM schema_migrations ORDER BY version').all() as {
    version: number;
    name: string;
    applied_at: number;
  }[];
}

describe('migrations', () => {
  it('are numbered 1, 2, 3, … in order, each with a name', () => {
    expect(MIGRATIONS.map((m) => m.version)).toEqual(MIGRATIONS.map((_, i) => i + 1));
    expect(LATEST_SCHEMA_VERSION).toBe(MIGRATIONS.length);
    for (const m of MIGRATIONS) expect(m.name).toMatch(/^[a-z0-9-]+$/);
    expect(new Set(MIGRATIONS.map((m) => m.name)).size).toBe(MIGRATIONS.length);
  });

  it('are idempotent: a second migrate, from this or another store, applies nothing', async () => {
    const path = join(dir, 'conveyor.db');
    const first = await open(path);
    const before = inspect(path, appliedVersions);
    expect(before.map((row) => row.version)).toEqual(MIGRATIONS.map((m) => m.version));

    await first.migrate();
    await (await open(path)).migrate();
    expect(inspect(path, appliedVersions)).toEqual(before);
  });

  it('apply only the versions a database lacks, each recorded with its name', () => {
    const db = new Database(':memory:');
    try {
      applyMigrations(db);
      const next: Migration = { version: MIGRATIONS.length + 1, name: 'add-probe', sql: 'CREATE TABLE probe (x INTEGER);' };
      applyMigrations(db, [...MIGRATIONS, next]);
      applyMigrations(db, [...MIGRATIONS, next]);
      expect(appliedVersions(db).map((row) => [row.version, row.name])).toEqual([
        ...MIGRATIONS.map((m) => [m.version, m.name]),
        [next.version, 'add-probe'],
      ]);
    } finally {
      db.close();
    }
  });

  it('refuse a list whose versions are not 1, 2, 3, …', () => {
    const db = new Database(':memory:');
    try {
      const gap: Migration = { version: MIGRATIONS.length + 2, name: 'gap', sql: 'SELECT 1;' };
      expect(() => applyMigrations(db, [...MIGRATIONS, gap])).toThrow(/expected/);
    } finally {
      db.close();
    }
  });

  it('refuse a database migrated by a newer Conveyor with CONVEYOR_STORE_SCHEMA_TOO_NEW', async () => {
    const path = join(dir, 'conveyor.db');
    await open(path);
    inspect(path, (db) =>
      db.prepare('INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)').run(LATEST_SCHEMA_VERSION + 1, 'future', Date.now()),
    );

    const newer = createSqliteStore({ path });
    opened.push(newer);
    const err = await newer.migrate().then(
      () => null,
      (rejection: unknown) => rejection,
    );
    expect(isConveyorError(err, 'CONVEYOR_STORE_SCHEMA_TOO_NEW'), String(err)).toBe(true);
    expect(isConveyorError(err) && err.details).toMatchObject({ found: LATEST_SCHEMA_VERSION + 1, supported: LATEST_SCHEMA_VERSION });
  });

  it('are safe when several processes migrate one new file at once', async () => {
    const path = join(dir, 'fresh', 'conveyor.db');
    const script = `
      import { createSqliteStore } from ${JSON.stringify(STORE_MODULE)};
      const store = createSqliteStore({ path: process.env.DB_PATH });
      await store.migrate();
      await store.close();`;
    await Promise.all(
      Array.from({ length: 4 }, () =>
        run(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { env: { ...process.env, DB_PATH: path } }),
      ),
    );
    expect(inspect(path, appliedVersions).map((row) => row.version)).toEqual(MIGRATIONS.map((m) => m.version));
  }, 60_000);
});

describe('the database file', () => {
  it('is created with its folders on first use, at the default path relative to the working directory', async () => {
    const cwd = process.cwd();
    process.chdir(dir);
    try {
      const store = await open(DEFAULT_SQLITE_PATH);
      await store.insertTasks({ tasks: [newTask()] });
      expect(existsSync(join(dir, '.conveyor', 'conveyor.db'))).toBe(true);
    } finally {
      process.chdir(cwd);
    }
  });

  it('gets nested folders created, WAL journaling, and keeps tasks across a reopen', async () => {
    const path = join(dir, 'a', 'b', 'c', 'tasks.db');
    const first = await open(path);
    const task = newTask({ payload: { kept: true } });
    await first.insertTasks({ tasks: [task] });
    await first.close();
    await first.close();

    expect(inspect(path, (db) => db.pragma('journal_mode', { simple: true }))).toBe('wal');
    const again = await open(path);
    expect((await again.getTasks({ ids: [task.id] }))[0]).toMatchObject({ id: task.id, payload: { kept: true }, state: 'pending' });
    expect(again.capabilities).toEqual({ crossProcess: true, blockingWait: false });
    expect(again.kind).toBe('sqlite');
  });

  it('refuses to be used once closed', async () => {
    const store = await open();
    await store.close();
    await expect(store.getTasks({ ids: [] })).rejects.toThrow(/closed/);
    await expect(store.waitForWork({ queues: ['default'], timeoutMs: 10_000 })).resolves.toBeUndefined();
  });

  it('drops the dependency edges of the tasks retention deletes', async () => {
    const path = join(dir, 'conveyor.db');
    const store = await open(path);
    const parent = newTask();
    const child = newTask({ dependsOn: [parent.id] });
    await store.insertTasks({ tasks: [parent, child] });
    for (let i = 0; i < 2; i++) {
      const claimed = await store.claimTasks({ queues: ['default'], workerId: 'w', limit: 1, leaseMs: 30_000 });
      await store.finishTasks({ items: claimed.map((t) => ({ id: t.id, queue: t.queue, token: t.leaseToken, outcome: 'complete' as const, result: null })) });
    }
    expect(inspect(path, (db) => db.prepare('SELECT COUNT(*) AS n FROM task_dependencies').get())).toEqual({ n: 1 });

    expect(await store.deleteFinishedTasks({ state: 'completed', olderThanMs: 0, limit: 10, now: Date.now() + 1 })).toBe(2);
    expect(inspect(path, (db) => db.prepare('SELECT COUNT(*) AS n FROM task_dependencies').get())).toEqual({ n: 0 });
  });
});

describe(':memory:', () => {
  it('works as a private store that only this process sees', async () => {
    const a = await open(':memory:');
    const b = await open(':memory:');
    expect(a.capabilities).toEqual({ crossProcess: false, blockingWait: false });

    const task = newTask();
    await a.insertTasks({ tasks: [task] });
    expect(await b.getTasks({ ids: [task.id] })).toEqual([null]);
    const claimed = await a.claimTasks({ queues: ['default'], workerId: 'w', limit: 10, leaseMs: 30_000 });
    expect(claimed.map((t) => t.id)).toEqual([task.id]);
  });
});

describe('several stores on one file', () => {
  it('see each other’s writes', async () => {
    const path = join(dir, 'shared.db');
    const a = await open(path);
    const b = await open(path);
    const task = newTask({ queue: 'shared' });
    await b.insertTasks({ tasks: [task] });

    expect((await a.getTasks({ ids: [task.id] }))[0]?.state).toBe('pending');
    expect((await a.claimTasks({ queues: ['shared'], workerId: 'a', limit: 5, leaseMs: 30_000 })).map((t) => t.id)).toEqual([task.id]);
    expect((await b.getTasks({ ids: [task.id] }))[0]).toMatchObject({ state: 'processing', workerId: 'a' });
  });

  it('wake a waiter in one store when another store inserts into its queue', async () => {
    const path = join(dir, 'shared.db');
    const waiter = await open(path);
    const writer = await open(path);

    const waiting = waiter.waitForWork({ queues: ['shared'], timeoutMs: 20_000 });
    await sleep(50);
    const elapsed = await elapsedMs(
      (async () => {
        await writer.insertTasks({ tasks: [newTask({ queue: 'shared' })] });
        await waiting;
      })(),
    );
    expect(elapsed).toBeLessThan(2_000);
  });

  it('do not wake a waiter for writes that bring its queues no work', async () => {
    const path = join(dir, 'shared.db');
    const waiter = await open(path, { crossProcessPollMs: 50 });
    const writer = await open(path);

    const elapsed = await elapsedMs(
      (async () => {
        const waiting = waiter.waitForWork({ queues: ['shared'], timeoutMs: 800 });
        await sleep(100);
        await writer.insertTasks({ tasks: [newTask({ queue: 'elsewhere' })] });
        await waiting;
      })(),
    );
    expect(elapsed).toBeGreaterThanOrEqual(750);
  });

  it('share the work of several processes claiming at once: each task exactly once', async () => {
    const path = join(dir, 'multi.db');
    const store = await open(path);
    const tasks = Array.from({ length: 300 }, () => newTask({ queue: 'multi' }));
    await store.insertTasks({ tasks });

    const script = `
      import { createSqliteStore } from ${JSON.stringify(STORE_MODULE)};
      const store = createSqliteStore({ path: process.env.DB_PATH });
      await store.migrate();
      const ids = [];
      for (;;) {
        const claimed = await store.claimTasks({ queues: ['multi'], workerId: process.env.WORKER, limit: 3, leaseMs: 60000 });
        if (claimed.length === 0) break;
        ids.push(...claimed.map((t) => t.id));
        const { items } = await store.finishTasks({
          items: claimed.map((t) => ({ id: t.id, queue: t.queue, token: t.leaseToken, outcome: 'complete', result: process.env.WORKER })),
        });
        if (items.some((item) => item.outcome !== 'completed')) throw new Error('a lease was lost');
      }
      await store.close();
      process.stdout.write(JSON.stringify(ids));`;
    const outputs = await Promise.all(
      ['w1', 'w2', 'w3'].map((worker) =>
        run(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { env: { ...process.env, DB_PATH: path, WORKER: worker } }),
      ),
    );
    const claimed = outputs.flatMap(({ stdout }) => JSON.parse(stdout) as string[]);
    expect(claimed).toHaveLength(tasks.length);
    expect(new Set(claimed).size).toBe(tasks.length);
    const counts = await store.countTasks({ queue: 'multi' });
    expect(counts[0]?.counts.completed).toBe(tasks.length);
  }, 60_000);
});

describe('waitForWork on in-process wake-ups', () => {
  it('resolves when the earliest scheduled task of its queues comes due', async () => {
    const store = await open(':memory:');
    await store.insertTasks({ tasks: [newTask({ runAt: Date.now() + 400 })] });
    const elapsed = await elapsedMs(store.waitForWork({ queues: ['default'], timeoutMs: 20_000 }));
    expect(elapsed).toBeGreaterThanOrEqual(300);
    expect(elapsed).toBeLessThan(2_000);
  });

  it('moves its wake-up earlier for a task inserted while it waits that comes due sooner', async () => {
    const store = await open(':memory:');
    await store.insertTasks({ tasks: [newTask({ runAt: Date.now() + 60_000 })] });
    const elapsed = await elapsedMs(
      (async () => {
        const waiting = store.waitForWork({ queues: ['default'], timeoutMs: 20_000 });
        await store.insertTasks({ tasks: [newTask({ runAt: Date.now() + 300 })] });
        await waiting;
      })(),
    );
    expect(elapsed).toBeGreaterThanOrEqual(200);
    expect(elapsed).toBeLessThan(2_000);
  });

  it('resolves at once when its queue already has claimable work', async () => {
    const store = await open(':memory:');
    await store.insertTasks({ tasks: [newTask()] });
    expect(await elapsedMs(store.waitForWork({ queues: ['default'], timeoutMs: 20_000 }))).toBeLessThan(500);
  });

  it('treats a paused queue as empty until it is resumed', async () => {
    const store = await open(':memory:');
    await store.insertTasks({ tasks: [newTask({ queue: 'held' })] });
    await store.setQueuePaused({ queue: 'held', paused: true });
    expect(await elapsedMs(store.waitForWork({ queues: ['held'], timeoutMs: 400 }))).toBeGreaterThanOrEqual(350);

    const elapsed = await elapsedMs(
      (async () => {
        const waiting = store.waitForWork({ queues: ['held'], timeoutMs: 20_000 });
        await store.setQueuePaused({ queue: 'held', paused: false });
        await waiting;
      })(),
    );
    expect(elapsed).toBeLessThan(500);
  });

  it('resolves every waiter when the store closes', async () => {
    const store = await open();
    const waiting = store.waitForWork({ queues: ['default'], timeoutMs: 20_000 });
    await store.close();
    expect(await elapsedMs(waiting)).toBeLessThan(500);
  });

  it('leaves no timer behind once a wait ends', async () => {
    // Track the timers this wait creates rather than counting the process's, which other tests'
    // timers make flaky.
    const created = new Set<unknown>();
    const cleared = new Set<unknown>();
    const spies = [
      vi.spyOn(globalThis, 'setTimeout'),
      vi.spyOn(globalThis, 'setInterval'),
      vi.spyOn(globalThis, 'clearTimeout'),
      vi.spyOn(globalThis, 'clearInterval'),
    ];
    try {
      const store = await open(join(dir, 'timers.db'), { crossProcessPollMs: 20 });
      const controller = new AbortController();
      const waiting = store.waitForWork({ queues: ['default'], timeoutMs: 20_000, signal: controller.signal });
      await sleep(60);
      controller.abort();
      await waiting;
      for (const spy of spies.slice(0, 2)) for (const result of spy.mock.results) created.add(result.value);
      for (const spy of spies.slice(2)) for (const call of spy.mock.calls) cleared.add(call[0]);
      // The wait's timeout and the data_version poll at least.
      expect(created.size).toBeGreaterThanOrEqual(2);
      const leftOver = [...created].filter((timer) => !cleared.has(timer) && (timer as { _destroyed?: boolean })._destroyed !== true);
      expect(leftOver).toEqual([]);
    } finally {
      for (const spy of spies) spy.mockRestore();
    }
  });
});
