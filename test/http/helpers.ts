/**
 * HTTP API tests' harness: a fresh store of each kind (test/worker/harness.ts), a client on it, and
 * the app listening on a free loopback port; requests go over real HTTP with `fetch`.
 */
import type { FastifyInstance } from 'fastify';
import { expect, onTestFinished } from 'vitest';
import { createClient, type Client } from '../../src/client/client.js';
import type { ErrorCode } from '../../src/errors.js';
import { buildHttpApp, type HttpAppOptions } from '../../src/http/app.js';
import type { Store } from '../../src/store/store.js';
import type { WorkerTest } from '../worker/harness.js';

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
  app: FastifyInstance;
  base: string;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- response bodies are read as loose JSON in tests
  request<T = any>(method: string, path: string, options?: RequestOptions): Promise<HttpResponse<T>>;
}

export async function openHttpTest(setup: () => Promise<WorkerTest>, options: Partial<HttpAppOptions> & { clientPayloadBytes?: number } = {}): Promise<HttpTest> {
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
  return {
    t,
    store,
    client,
    app,
    base,
    async request(method, path, { body, raw, token, headers = {} } = {}) {
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
    },
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
