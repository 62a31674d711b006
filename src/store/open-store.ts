import { ConveyorError } from '../errors.js';
import { createRedisStore } from './redis/redis-store.js';
import { createSqliteStore, DEFAULT_SQLITE_PATH } from './sqlite/sqlite-store.js';
import { DEFAULT_EVENTS_RETAIN, type Store } from './store.js';

export const DEFAULT_STORE_URL = `sqlite:${DEFAULT_SQLITE_PATH}`;
export { DEFAULT_EVENTS_RETAIN };

export interface OpenStoreOptions {
  /** Redis key namespace. */
  prefix?: string;
  /** Task event entries kept (per queue on Redis, rows on SQLite); 0 = no events. */
  eventsRetain?: number;
}

const FORMS = '`sqlite:PATH`, `sqlite::memory:`, `redis://[user:pass@]host:port[/db]` or `rediss://…` (TLS)';

/**
 * Opens a store from its URL (`--store`, `CONVEYOR_STORE`) and migrates it:
 * `sqlite:PATH` (default `sqlite:./.conveyor/conveyor.db`), `sqlite::memory:`, `redis://…`, `rediss://…`.
 * Redis Cluster is not supported yet; its URL form will be added with it.
 */
export async function openStore(url: string = DEFAULT_STORE_URL, options: OpenStoreOptions = {}): Promise<Store> {
  const events = options.eventsRetain === undefined ? {} : { eventsRetain: options.eventsRetain };
  let store: Store;
  if (url.startsWith('sqlite:')) {
    const path = url.slice('sqlite:'.length);
    if (path === '') throw invalid(url, 'the path is empty');
    store = createSqliteStore({ path, ...events });
  } else if (url.startsWith('redis://') || url.startsWith('rediss://')) {
    store = createRedisStore({ url, ...(options.prefix ? { prefix: options.prefix } : {}), ...events });
  } else {
    throw invalid(url, 'unknown scheme');
  }
  try {
    await store.migrate();
  } catch (err) {
    await store.close().catch(() => undefined);
    throw err;
  }
  return store;
}

function invalid(url: string, why: string): ConveyorError {
  return new ConveyorError('CONVEYOR_STORE_URL_INVALID', `store URL ${JSON.stringify(url)} is invalid (${why}): use ${FORMS}`, {
    field: 'store',
    value: url,
  });
}
