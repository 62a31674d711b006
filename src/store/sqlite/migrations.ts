import type Database from 'better-sqlite3';
import { ConveyorError } from '../../errors.js';

/**
 * Schema migrations, embedded as strings so that the build has nothing to copy into dist/.
 *
 * A migration is never edited once released: a schema change is a new entry with the next version.
 * Each one runs in its own IMMEDIATE transaction together with its row in `schema_migrations`, so a
 * crash leaves the schema at a version boundary and two processes migrating one file at once queue
 * on the write lock; the second finds the version recorded and skips it.
 */
export interface Migration {
  version: number;
  name: string;
  sql: string;
}

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'initial',
    // Column order matters: small, hot columns come first and the large JSON ones last, so that reading
    // `state` or `run_at` of a task with a big payload never has to follow overflow pages.
    //
    // `tasks` keeps its rowid (no WITHOUT ROWID): rows carry payloads of up to 1 MiB, far above the
    // ~1/20 of a page where the SQLite docs stop recommending WITHOUT ROWID, and the secondary
    // indexes then hold an 8-byte rowid rather than the text id.
    //
    // The partial indexes keep each claim and maintenance scan proportional to the rows it acts on.
    // Queries that want one repeat its WHERE terms (SQLite only uses a partial index when the query's
    // WHERE visibly implies the index's) and name it with INDEXED BY: without statistics the planner
    // prefers the equalities on tasks_list, which scan every task of a queue in a state, and INDEXED BY
    // turns such a regression into an error at prepare time instead of a slow query.
    sql: `
CREATE TABLE tasks (
  id               TEXT    NOT NULL UNIQUE,
  queue            TEXT    NOT NULL,
  type             TEXT    NOT NULL,
  state            TEXT    NOT NULL CHECK (state IN ('blocked','scheduled','pending','processing','completed','dead','cancelled')),
  priority         INTEGER NOT NULL,
  run_at           INTEGER NOT NULL,
  attempt          INTEGER NOT NULL DEFAULT 0,
  max_attempts     INTEGER NOT NULL,
  timeout_ms       INTEGER,
  deadline         INTEGER,
  -- How many dependencies have not completed yet; the task leaves 'blocked' when it reaches 0.
  waiting_on       INTEGER NOT NULL DEFAULT 0,
  cancel_requested INTEGER NOT NULL DEFAULT 0,
  created_at       INTEGER NOT NULL,
  started_at       INTEGER,
  finished_at      INTEGER,
  worker_id        TEXT,
  lease_token      TEXT,
  lease_expires_at INTEGER,
  idempotency_key  TEXT,
  backoff          TEXT    NOT NULL,
  depends_on       TEXT    NOT NULL DEFAULT '[]',
  error            TEXT,
  errors           TEXT    NOT NULL DEFAULT '[]',
  progress         TEXT,
  result           TEXT,
  payload          TEXT    NOT NULL
);

-- Idempotency: unique within a queue while the task exists (retention frees the key).
CREATE UNIQUE INDEX tasks_queue_key ON tasks (queue, idempotency_key) WHERE idempotency_key IS NOT NULL;
-- Claim order within a queue: priority first, then FIFO by due time, then id.
CREATE INDEX tasks_claim ON tasks (queue, priority DESC, run_at, id) WHERE state = 'pending';
-- Due scheduled tasks (promotion, claim, the next wake-up of a waiter).
CREATE INDEX tasks_scheduled ON tasks (run_at) WHERE state = 'scheduled';
-- Expired leases.
CREATE INDEX tasks_lease ON tasks (lease_expires_at) WHERE state = 'processing';
-- Passed deadlines of unfinished tasks.
CREATE INDEX tasks_deadline ON tasks (deadline)
  WHERE deadline IS NOT NULL AND state IN ('blocked','scheduled','pending','processing');
-- Retention.
CREATE INDEX tasks_finished ON tasks (state, finished_at) WHERE finished_at IS NOT NULL;
-- Listing (newest first) and counting per queue and state.
CREATE INDEX tasks_list ON tasks (queue, state, id);

-- One row per edge: "task_id waits for depends_on_id". Deleting either task drops the edge.
CREATE TABLE task_dependencies (
  task_id       TEXT NOT NULL REFERENCES tasks (id) ON DELETE CASCADE,
  depends_on_id TEXT NOT NULL REFERENCES tasks (id) ON DELETE CASCADE,
  PRIMARY KEY (depends_on_id, task_id)
) WITHOUT ROWID;
-- The foreign key from task_id needs it: deleting a task looks up the edges it is the dependent of.
CREATE INDEX task_dependencies_task ON task_dependencies (task_id);

-- Every queue that ever held a task or was paused.
CREATE TABLE queues (
  name   TEXT    NOT NULL PRIMARY KEY,
  paused INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;

CREATE TABLE leaders (
  name       TEXT    NOT NULL PRIMARY KEY,
  node_id    TEXT    NOT NULL,
  token      TEXT    NOT NULL,
  expires_at INTEGER NOT NULL
) WITHOUT ROWID;
`,
  },
  {
    version: 2,
    name: 'prefetch-and-workers',
    // `claimed_at` is when the current attempt was claimed (stealing takes the oldest claims first).
    // ADD COLUMN appends it after the large JSON columns, but it is only ever read through
    // `tasks_prefetched`, which holds it. Attempts claimed before this version keep it NULL: they all
    // started at their claim, so no steal ever looks for them.
    //
    // A prefetched task is `processing` with `started_at IS NULL`; the partial index holds just those,
    // per queue in claim order (oldest claim, then the claim's own order), so a steal reads only the
    // rows it may take. Like the indexes of version 1, queries repeat its WHERE terms and name it.
    //
    // `workers` is the registry: one row per worker, `info` the rest of its WorkerInfo as JSON; an
    // entry is listed while `expires_at > now` and `workers_expiry` finds the stale ones.
    sql: `
ALTER TABLE tasks ADD COLUMN claimed_at INTEGER;

CREATE INDEX tasks_prefetched ON tasks (queue, claimed_at, priority DESC, run_at, id)
  WHERE state = 'processing' AND started_at IS NULL;

CREATE TABLE workers (
  id                TEXT    NOT NULL PRIMARY KEY,
  last_heartbeat_at INTEGER NOT NULL,
  expires_at        INTEGER NOT NULL,
  info              TEXT    NOT NULL
) WITHOUT ROWID;
CREATE INDEX workers_expiry ON workers (expires_at);
`,
  },
  {
    version: 3,
    name: 'schedules',
    // Recurring tasks: one row per schedule. The definition (cron or interval, time zone, the task
    // template, missed-run policy, paused) is JSON in `definition`, like a worker's `info`: the
    // scheduler always reads whole schedules, and a field added to the definition needs no migration.
    // The columns are what the store itself reads and writes: `next_run_at` is the compare-and-set
    // value of `advanceSchedule`; `last_run_at` and `created_at` survive an upsert of the same name.
    // Small columns first, the JSON last; a rowid table (no WITHOUT ROWID) for the reason `tasks` has
    // one: the template carries a task payload, which may be large. The scheduler lists every schedule,
    // so no index beyond the primary key.
    sql: `
CREATE TABLE schedules (
  name        TEXT    NOT NULL PRIMARY KEY,
  next_run_at INTEGER,
  last_run_at INTEGER,
  created_at  INTEGER NOT NULL,
  updated_at  INTEGER NOT NULL,
  definition  TEXT    NOT NULL
);
`,
  },
  {
    version: 4,
    name: 'hot-path-indexes',
    // Two indexes the hot path (insert, claim, finish) maintains, made cheaper to maintain.
    //
    // `tasks_list` (queue, state, id) moved an entry on every state change: three text columns,
    // measured at about a sixth of a claim and of a completion. It now leaves `processing` tasks
    // out: a claim only removes the pending entry and a completion only adds the completed one.
    // Processing tasks are listed and counted through `tasks_lease`, which holds exactly them
    // (as many as the workers run or prefetch). Queries on the index repeat its WHERE term.
    //
    // `tasks_deadline` tested `state IN (…)`. In an index's WHERE (as in a CHECK) SQLite builds an
    // IN list into a temporary b-tree anew for every row it writes, so every write of a task with a
    // deadline paid for it; the same condition is now spelled as inequalities, and the queries on
    // the index spell it the same way (`UNFINISHED_SQL` in statements/rows.ts).
    sql: `
DROP INDEX tasks_list;
CREATE INDEX tasks_list ON tasks (queue, state, id) WHERE state <> 'processing';

DROP INDEX tasks_deadline;
CREATE INDEX tasks_deadline ON tasks (deadline)
  WHERE deadline IS NOT NULL AND state <> 'completed' AND state <> 'dead' AND state <> 'cancelled';
`,
  },
  {
    version: 5,
    name: 'task-counts',
    // How many tasks each queue holds in each state, kept by the store's writes (statements/counts.ts)
    // so that countTasks reads these rows instead of counting a queue's index range (16 ms at 100,000
    // tasks). Started from the tasks already there. Every statement that inserts, deletes or changes
    // the state of a task must record it through counts.ts: a conformance test compares the counts
    // with the tasks after every kind of transition.
    sql: `
CREATE TABLE task_counts (
  queue TEXT    NOT NULL,
  state TEXT    NOT NULL,
  n     INTEGER NOT NULL,
  PRIMARY KEY (queue, state)
) WITHOUT ROWID;

INSERT INTO task_counts (queue, state, n) SELECT queue, state, COUNT(*) FROM tasks GROUP BY queue, state;
`,
  },
  {
    version: 6,
    name: 'events-and-trace-context',
    // The task event feed (statements/events.ts): one row per store call that changed tasks, `body`
    // the JSON array of that call's events (compact entries), `at` the store's now for all of them.
    // Readers resume from a position `<row id>.<events consumed in that row>`, so ids must never go
    // back. A rowid table gives max(id) + 1, and the store never deletes the newest row (trimming
    // deletes `id <= newest - retain`, retain >= 1, a range from the start of the table, a seek and
    // not a scan), so ids only grow. Not AUTOINCREMENT: it rewrites sqlite_sequence's page in every
    // transaction that writes events, measured at a WAL frame per store call.
    //
    // `trace_context` is the submitter's W3C trace context (JSON text), NULL when it sent none;
    // ADD COLUMN appends it after the large columns, and it is only read with whole tasks.
    //
    // No index for `oldestPending`: `tasks_claim` (queue, priority DESC, run_at, id) already gives
    // the earliest due time per priority level, and a query seeks once per level present
    // (statements/oldest-pending.ts), so the hot path maintains nothing more.
    sql: `
CREATE TABLE events (
  id   INTEGER PRIMARY KEY,
  at   INTEGER NOT NULL,
  body TEXT    NOT NULL
);

ALTER TABLE tasks ADD COLUMN trace_context TEXT;
`,
  },
];

/** The highest schema version this code knows. */
export const LATEST_SCHEMA_VERSION = MIGRATIONS.reduce((max, m) => Math.max(max, m.version), 0);

const CREATE_MIGRATIONS_TABLE = `
CREATE TABLE IF NOT EXISTS schema_migrations (
  version    INTEGER NOT NULL PRIMARY KEY,
  name       TEXT    NOT NULL,
  applied_at INTEGER NOT NULL
)`;

function assertOrdered(migrations: readonly Migration[]): void {
  migrations.forEach((m, i) => {
    if (m.version !== i + 1) {
      throw new Error(`migration ${m.name} has version ${m.version}; expected ${i + 1} (versions are 1, 2, 3, … in order)`);
    }
  });
}

/** Applies the migrations the database lacks. Idempotent; safe against a concurrent migrator. */
export function applyMigrations(db: Database.Database, migrations: readonly Migration[] = MIGRATIONS): void {
  assertOrdered(migrations);
  const latest = migrations.length;

  db.transaction(() => db.exec(CREATE_MIGRATIONS_TABLE)).immediate();

  const highest = db.prepare<[], number | null>('SELECT MAX(version) FROM schema_migrations').pluck();
  const isApplied = db.prepare<[number], number>('SELECT 1 FROM schema_migrations WHERE version = ?').pluck();
  const record = db.prepare<[number, string, number]>(
    'INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)',
  );

  const assertNotTooNew = (): void => {
    const found = highest.get() ?? 0;
    if (found > latest) {
      throw new ConveyorError(
        'CONVEYOR_STORE_SCHEMA_TOO_NEW',
        `the SQLite database ${db.name} has schema version ${found}, but this Conveyor knows versions up to ${latest}: ` +
          'upgrade Conveyor, or point it at another database file',
        { found, supported: latest, path: db.name },
      );
    }
  };

  const applyOne = db.transaction((m: Migration) => {
    // Checked again inside the write lock: another process may have applied it meanwhile.
    assertNotTooNew();
    if (isApplied.get(m.version) !== undefined) return;
    db.exec(m.sql);
    record.run(m.version, m.name, Date.now());
  });

  assertNotTooNew();
  for (const m of migrations) {
    if (isApplied.get(m.version) !== undefined) continue;
    applyOne.immediate(m);
  }
}
