import type Database from 'better-sqlite3';

export type Db = Database.Database;
export type Statement<P extends unknown[] | object = unknown[], R = unknown> = Database.Statement<P, R>;

/**
 * Prepared statements, compiled once per connection and keyed by their SQL text. Preparing costs
 * far more than running a statement, and the hot paths run the same few statements for every task.
 * A mode set on a statement (`pluck()`) stays with it, so each SQL text is used in one mode only.
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
