import type Database from 'better-sqlite3';

export type Db = Database.Database;
export type Statement<P extends unknown[] | object = unknown[], R = unknown> = Database.Statement<P, R>;

/**
 * Prepared statements, compiled once per connection and keyed by their SQL text. Preparing costs
 * far more than running a statement, and the hot paths run the same few statements for every task.
 * A mode set on a statement (`pluck()`, `raw()`) stays with it, so each SQL text is used in one mode
 * only.
 *
 * Two SQLite habits turn a reused statement back into a prepared-per-call one, and the statements of
 * this store avoid both:
 * - A bound parameter in LIMIT (`LIMIT ?`) is read at prepare time, and binding a new value marks
 *   the statement expired, so the next step re-prepares it (measured: 12 µs for a small SELECT,
 *   far more for a claim). The statements write `LIMIT ? + 0`, an expression SQLite leaves alone.
 * - A bound parameter compared with a partial index's WHERE terms does the same; the partial index
 *   terms are matched by literals instead (`state = 'pending'`).
 *
 * Hot statements take positional parameters: better-sqlite3 binds named ones by looking each name up
 * on the object, which costs more than the statement itself for the small updates of the hot path.
 *
 * Multi-row writes that call no SQL function say `OR FAIL` (the plain insert, the batched
 * completion): a statement that may stop halfway through its rows otherwise keeps a statement
 * journal, a copy of every page it changes, to undo its own rows. OR FAIL keeps the rows written
 * before a failure, and the failure still rolls the whole transaction back (every method is one
 * transaction, and better-sqlite3 rolls it back when the method throws). A statement that calls a
 * function (a claim: its tokens, its JSON rows) keeps its journal whatever it says.
 */
const cache = new WeakMap<Db, Map<string, Statement<never[]>>>();

export function prepared<P extends unknown[] | object = unknown[], R = unknown>(db: Db, sql: string): Statement<P, R> {
  let statements = cache.get(db);
  if (statements === undefined) {
    statements = new Map();
    cache.set(db, statements);
  }
  let statement = statements.get(sql);
  if (statement === undefined) {
    statement = db.prepare(sql) as unknown as Statement<never[]>;
    statements.set(sql, statement);
  }
  return statement as unknown as Statement<P, R>;
}

const chunkSql = new Map<string, string[]>();

/**
 * The SQL text of a statement repeated over `rows` rows (`build(rows)`), built once per size. The
 * same string object comes back every time, so looking its statement up (`prepared`) hashes it once,
 * not the few kilobytes of a multi-row INSERT on every call.
 */
export function sqlForRows(kind: string, rows: number, build: (rows: number) => string): string {
  let bySize = chunkSql.get(kind);
  if (bySize === undefined) {
    bySize = [];
    chunkSql.set(kind, bySize);
  }
  let sql = bySize[rows];
  if (sql === undefined) {
    sql = build(rows);
    bySize[rows] = sql;
  }
  return sql;
}
