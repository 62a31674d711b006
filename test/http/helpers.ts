/**
 * HTTP API tests' harness. `openHttpTest(kind)` spawns a real `conveyor server` process
 * (`node bin/conveyor.js server --store … --port 0`, from the sources, see test/cli/cli-process.ts)
 * on a fresh store of that kind (a SQLite file in a fresh folder; a fresh key prefix on the
 * redis-server of the global setup), and keeps the test process's own handle on the same store
 * (same file / same prefix) for direct reads and writes and the "nothing was created" snapshots;
 * requests go over real HTTP with `fetch`. The process is stopped with SIGTERM after the test.
 *
 * `openInProcessHttpTest(setup, options)` builds the app inside the test process instead, for the
 * few tests that need options the CLI cannot set (an injected failing store, an extra route).
 */
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { expect, inject, onTestFinished } from 'vitest';
import { createClient, type Client } from '../../src/client/client.js';
import type { ErrorCode } from '../../src/errors.js';
import { buildHttpApp, type HttpAppOptions } from '../../src/http/app.js';
import { createRedisStore } from '../../src/store/redis/redis-store.js';
import { createSqliteStore } from '../../src/store/sqlite/sqlite-store.js';
import type { Store, StoreKind } from '../../src/store/store.js';
import { spawnCli, type CliProcess } from '../cli/cli-process.js';
import { deleteKeysWithPrefix } from '../helpers/redis-server.js';
import { WorkerTest } from '../worker/harness.js';

export interface HttpResponse<T = unknown> {
  status: number;
  headers: Headers;
  body: T;
}

export interface RequestOptions {
  body?: unknown;
  /** Sent as is (no JSON.stringify). */
  raw?: string;
  token?: string;
  headers?: Record<string, string>;
}

export interface HttpTest {
  t: WorkerTest;
  store: Store;
  client: Client;
  /** Only for in-process tests. */
  app?: FastifyInstance;
  /** The server process (process tests only). */
  process?: CliProcess;
  /** The server's node id (process tests: read from its listening line). */
  nodeId?: string;
  base: string;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- response bodies are read as loose JSON in tests
  request<T = any>(method: string, path: string, options?: RequestOptions): Promise<HttpResponse<T>>;
}

export interface ServerProcessOptions {
  /** `server` (API + coordinator, the default) or `start` (also a worker). */
  command?: 'server' | 'start';
  /** Extra flags, e.g. `['--queues', 'hooks']`. */
  args?: string[];
  /** Extra environment (CONVEYOR_AUTH__TOKENS, CONVEYOR_PAYLOAD_LIMIT, …). */
  env?: Record<string, string>;
}

interface StoreLocation {
  store: Store;
  url: string;
  cwd: string;
  env: Record<string, string>;
  cleanup(): Promise<void>;
}

async function openStoreLocation(kind: StoreKind): Promise<StoreLocation> {
  const cwd = await mkdtemp(join(tmpdir(), 'conveyor-http-'));
  if (kind === 'sqlite') {
    const path = join(cwd, 'conveyor.db');
    const store = createSqliteStore({ path });
    await store.migrate();
    return {
      store,
      url: `sqlite:${path}`,
      cwd,
      env: {},
      cleanup: async () => {
        await store.close();
        await rm(cwd, { recursive: true, force: true });
      },
    };
  }
  const url = inject('redisUrl');
  const prefix = `h${randomUUID().slice(0, 8)}`;
  const store = createRedisStore({ url, prefix });
  await store.migrate();
  return {
    store,
    url,
    cwd,
    env: { CONVEYOR_PREFIX: prefix },
    cleanup: async () => {
      await store.close();
      await deleteKeysWithPrefix(url, prefix);
      await rm(cwd, { recursive: true, force: true });
    },
  };
}

async function stopProcess(proc: CliProcess): Promise<void> {
  const { child } = proc;
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
  try {
    await proc.exit;
  } finally {
    clearTimeout(timer);
  }
}

/** A real `conveyor server` (or `start`) process on a fresh store of `kind`; stopped after the test. */
export async function openHttpTest(kind: StoreKind, options: ServerProcessOptions = {}): Promise<HttpTest> {
  const location = await openStoreLocation(kind);
  const t = new WorkerTest(kind, location.store);
  const proc = spawnCli([options.command ?? 'server', '--store', location.url, '--port', '0', ...(options.args ?? [])], {
    cwd: location.cwd,
    env: { ...location.env, ...options.env },
  });
  onTestFinished(async () => {
    try {
      await stopProcess(proc);
      await t.cleanup();
    } finally {
      await location.cleanup();
    }
  });
  proc.child.stdin.end();
  const [, base, nodeId] = (await proc.waitFor(/listening on (http:\/\/127\.0\.0\.1:\d+) .*; node (\S+)/)) as unknown as [string, string, string];
  const client = createClient({ store: location.store });
  return { t, store: location.store, client, process: proc, nodeId, base, request: requester(base) };
}

/**
 * The app built in the test process (not a separate process), listening on a free loopback port:
 * for tests that need options the CLI cannot set (an injected store, extra routes).
 */
export async function openInProcessHttpTest(setup: () => Promise<WorkerTest>, options: Partial<HttpAppOptions> & { clientPayloadBytes?: number } = {}): Promise<HttpTest> {
  const t = await setup();
  const store = options.store ?? t.store;
  const client = createClient({ store, ...(options.clientPayloadBytes === undefined ? {} : { payloadLimits: { maxBytes: options.clientPayloadBytes } }) });
  const app = await buildHttpApp({ client, store, ...options });
  await app.listen({ port: 0, host: '127.0.0.1' });
  onTestFinished(async () => {
    await app.close();
  });
  const address = app.server.address();
  if (address === null || typeof address === 'string') throw new Error('no port');
  const base = `http://127.0.0.1:${address.port}`;
  return { t, store, client, app, base, request: requester(base) };
}

function requester(base: string): HttpTest['request'] {
  return async (method, path, { body, raw, token, headers = {} } = {}) => {
    const init: RequestInit = { method, headers: { ...headers } };
    const h = init.headers as Record<string, string>;
    if (raw !== undefined) {
      init.body = raw;
      h['content-type'] ??= 'application/json';
    } else if (body !== undefined) {
      init.body = JSON.stringify(body);
      h['content-type'] = 'application/json';
    }
    if (token !== undefined) h.authorization = `Bearer ${token}`;
    const res = await fetch(`${base}${path}`, init);
    const text = await res.text();
    let parsed: unknown = text;
    try {
      parsed = text === '' ? undefined : JSON.parse(text);
    } catch {
      // not JSON: keep the text
    }
    return { status: res.status, headers: res.headers, body: parsed as never };
  };
}

/** Asserts the error envelope: status, code, and (when given) a field named in details.issues. */
export function expectError(res: HttpResponse, status: number, code: ErrorCode, path?: string): void {
  expect({ status: res.status, code: (res.body as { error?: { code?: string } })?.error?.code }).toEqual({ status, code });
  const error = (res.body as { error: { message: unknown; details: unknown } }).error;
  expect(typeof error.message).toBe('string');
  expect(typeof error.details).toBe('object');
  expect(JSON.stringify(res.body)).not.toMatch(/\n\s+at /);
  if (path !== undefined) {
    const issues = ((error.details as { issues?: { path: string }[] }).issues ?? []).map((i) => i.path);
    expect(issues).toContain(path);
  }
}

/** Everything a request could have written. */
export async function snapshot(store: Store): Promise<unknown> {
  const [counts, queues, schedules, tasks] = await Promise.all([store.countTasks({}), store.listQueues(), store.listSchedules(), store.listTasks({ limit: 1000 })]);
  return { counts, queues, schedules, tasks: tasks.tasks.map((t) => [t.id, t.state, t.attempt]) };
}
