/**
 * The built-in `http` task type end to end: a `conveyor start` process (API, coordinator and a
 * worker) with `http.allowPrivateNetworks` on, `http` tasks submitted through the API, calling a
 * local node:http test server: 200 completes with the status and body in the result; 503 with
 * `Retry-After: 1` then 200 completes on attempt 2, about a second later; 404 is dead after one
 * attempt (permanent).
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { expect, it, onTestFinished } from 'vitest';
import type { Task } from '../../src/types.js';
import { describeForEachStore } from '../worker/harness.js';
import { openHttpTest, type HttpTest } from './helpers.js';

interface Hit {
  path: string;
  at: number;
}

/** A local server whose routes answer from a script per path; records every request. */
async function openTargetServer(routes: Record<string, (n: number, res: ServerResponse) => void>): Promise<{ url: string; hits: Hit[] }> {
  const hits: Hit[] = [];
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const path = req.url ?? '/';
    hits.push({ path, at: Date.now() });
    const route = routes[path];
    if (!route) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('no such page');
      return;
    }
    route(hits.filter((h) => h.path === path).length, res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  onTestFinished(
    () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  );
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, hits };
}

async function submitAndWait(h: HttpTest, url: string): Promise<Task> {
  const created = await h.request<Task>('POST', '/api/v1/tasks', { body: { type: 'http', payload: { url, method: 'GET' }, retries: 2, backoff: { type: 'fixed', delay: '30s', jitter: 0 } } });
  expect(created.status).toBe(201);
  const done = await h.request<Task>('GET', `/api/v1/tasks/${created.body.id}/wait?timeout=15s`);
  expect(done.status).toBe(200);
  return done.body;
}

describeForEachStore('http tasks against a local server, through a conveyor start process', (_setup, kind) => {
  it('200 completes; 503 with Retry-After: 1 then 200 completes on attempt 2 about 1 s later; 404 is dead after one attempt', async () => {
    const target = await openTargetServer({
      '/ok': (_n, res) => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ hello: 'world' })),
      '/busy': (n, res) => {
        if (n === 1) res.writeHead(503, { 'retry-after': '1', 'content-type': 'text/plain' }).end('busy');
        else res.writeHead(200, { 'content-type': 'text/plain' }).end('done at last');
      },
    });
    const h = await openHttpTest(kind, { command: 'start', env: { CONVEYOR_HTTP__ALLOW_PRIVATE_NETWORKS: 'true' } });

    const [ok, busy, missing] = await Promise.all([submitAndWait(h, `${target.url}/ok`), submitAndWait(h, `${target.url}/busy`), submitAndWait(h, `${target.url}/missing`)]);

    expect(ok).toMatchObject({ state: 'completed', attempt: 1, result: { status: 200, body: { hello: 'world' } } });

    // The task's backoff is 30 s: the retry came after the Retry-After second, not the backoff.
    expect(busy).toMatchObject({ state: 'completed', attempt: 2, result: { status: 200, body: 'done at last' } });
    expect(busy.errors).toHaveLength(1);
    expect(busy.errors[0]!.message).toMatch(/503/);
    const busyHits = target.hits.filter((hit) => hit.path === '/busy');
    expect(busyHits).toHaveLength(2);
    const spacing = busyHits[1]!.at - busyHits[0]!.at;
    expect(spacing).toBeGreaterThanOrEqual(900);
    expect(spacing).toBeLessThan(5_000);

    expect(missing).toMatchObject({ state: 'dead', attempt: 1 });
    expect(missing.errors[0]!.message).toMatch(/404/);
    expect(target.hits.filter((hit) => hit.path === '/missing')).toHaveLength(1);
  });
});
