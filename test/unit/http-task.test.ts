/**
 * The built-in `http` task type, called directly against a local node:http server. The server is on
 * 127.0.0.1, so most tests allow private networks; the SSRF guard's tests do not, and check that the
 * server never saw the refused request.
 */
import { once } from 'node:events';
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import {
  createHttpHandler,
  HTTP_MAX_RETRY_AFTER_MS,
  HTTP_TASK_TYPE,
  isPrivateAddress,
  parseRetryAfter,
  type HttpHandlerOptions,
} from '../../src/builtin/http-task.js';
import type { JsonValue } from '../../src/types.js';
import { PermanentError, RetryAfterError, silentLogger, type HandlerContext } from '../../src/worker/handlers.js';
import { taskOf } from '../fixtures/run-context.js';

// The guard resolves names with node:dns/promises; one test makes a name look public to it.
const dns = vi.hoisted(() => ({ fakeLookup: undefined as undefined | ((host: string) => { address: string; family: number }[] | undefined) }));
vi.mock('node:dns/promises', async (importOriginal) => {
  const actual = await importOriginal<typeof import('node:dns/promises')>();
  const lookup = (async (host: string, options: object) => dns.fakeLookup?.(host) ?? actual.lookup(host, options as never)) as typeof actual.lookup;
  return { ...actual, default: { ...actual, lookup }, lookup };
});

interface Received {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  body: string;
}

type Route = (req: IncomingMessage, res: ServerResponse, body: string) => void;

let server: Server;
let base: string;
let port: number;
const received: Received[] = [];
const routes = new Map<string, Route>();

beforeAll(async () => {
  server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      const path = new URL(req.url ?? '/', 'http://x').pathname;
      received.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body });
      const route = routes.get(path);
      if (route) route(req, res, body);
      else res.writeHead(404, { 'content-type': 'text/plain' }).end(`no route for ${path}`);
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  port = (server.address() as AddressInfo).port;
  base = `http://127.0.0.1:${port}`;
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});
afterEach(() => {
  received.length = 0;
  routes.clear();
  dns.fakeLookup = undefined;
});

function route(path: string, handle: Route): void {
  routes.set(path, handle);
}

function context(signal: AbortSignal = new AbortController().signal): HandlerContext {
  return { signal, attempt: 1, progress: () => undefined, logger: silentLogger, dependencies: {} };
}

const local = createHttpHandler({ allowPrivateNetworks: true });
const guarded = createHttpHandler();

function call(payload: JsonValue, handler = local, ctx = context()): Promise<unknown> {
  return Promise.resolve(handler(taskOf(HTTP_TASK_TYPE, payload), ctx));
}

/** The error `call` rejects with (fails the test when it resolves). */
async function failure(payload: JsonValue, handler = local, ctx = context()): Promise<Error> {
  try {
    const result = await call(payload, handler, ctx);
    throw new Error(`expected the call to fail, it returned ${JSON.stringify(result)}`);
  } catch (err) {
    return err as Error;
  }
}

describe('http task: responses', () => {
  it('the type is "http"', () => {
    expect(HTTP_TASK_TYPE).toBe('http');
  });

  it('2xx with a JSON body completes with status, content-type and the parsed body', async () => {
    route('/json', (_req, res) => res.writeHead(200, { 'content-type': 'application/json; charset=utf-8' }).end('{"ok":true,"n":[1,2]}'));
    expect(await call({ url: `${base}/json` })).toEqual({
      status: 200,
      headers: { 'content-type': 'application/json; charset=utf-8' },
      body: { ok: true, n: [1, 2] },
    });
    expect(received).toMatchObject([{ method: 'GET', url: '/json', headers: { 'user-agent': expect.stringMatching(/^conveyor\//) } }]);
  });

  it('2xx with a text body completes with the text; a +json type is parsed too', async () => {
    route('/text', (_req, res) => res.writeHead(201, { 'content-type': 'text/plain' }).end('hello, world'));
    route('/problem', (_req, res) => res.writeHead(200, { 'content-type': 'application/problem+json' }).end('{"title":"x"}'));
    expect(await call({ url: `${base}/text` })).toMatchObject({ status: 201, headers: { 'content-type': 'text/plain' }, body: 'hello, world' });
    expect(await call({ url: `${base}/problem` })).toMatchObject({ body: { title: 'x' } });
  });

  it('a body longer than maxResponseBytes is cut there, with truncated: true (and kept as text)', async () => {
    route('/big', (_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ data: 'x'.repeat(5_000) })));
    const small = createHttpHandler({ allowPrivateNetworks: true, maxResponseBytes: 100 });
    const result = (await call({ url: `${base}/big` }, small)) as { body: string; truncated?: boolean };
    expect(result.truncated).toBe(true);
    expect(result.body).toBe(`{"data":"${'x'.repeat(91)}`);
    expect(await call({ url: `${base}/big` })).not.toHaveProperty('truncated');
  });

  it('POST with a JSON body and headers: the server receives them, with content-type application/json', async () => {
    route('/hook', (_req, res, body) => res.writeHead(202, { 'content-type': 'application/json' }).end(JSON.stringify({ echoed: JSON.parse(body) as JsonValue })));
    const result = await call({
      url: `${base}/hook?source=test`,
      method: 'post',
      headers: { 'X-Signature': 'abc123', Authorization: 'Bearer t' },
      body: { event: 'order.created', id: 42 },
    });
    expect(result).toMatchObject({ status: 202, body: { echoed: { event: 'order.created', id: 42 } } });
    expect(received).toHaveLength(1);
    expect(received[0]).toMatchObject({
      method: 'POST',
      url: '/hook?source=test',
      body: '{"event":"order.created","id":42}',
      headers: { 'content-type': 'application/json', 'x-signature': 'abc123', authorization: 'Bearer t' },
    });
  });

  it('a string body is sent as is, with the content-type the payload gives', async () => {
    route('/form', (_req, res) => res.writeHead(204).end());
    expect(await call({ url: `${base}/form`, method: 'PUT', headers: { 'content-type': 'text/csv' }, body: 'a,b\n1,2' })).toEqual({
      status: 204,
      headers: {},
      body: null,
    });
    expect(received[0]).toMatchObject({ method: 'PUT', body: 'a,b\n1,2', headers: { 'content-type': 'text/csv' } });
  });

  it('HEAD completes with a null body', async () => {
    route('/head', (_req, res) => res.writeHead(200, { 'content-type': 'text/plain', etag: '"v1"' }).end());
    expect(await call({ url: `${base}/head`, method: 'HEAD' })).toMatchObject({ status: 200, headers: { etag: '"v1"' }, body: null });
  });
});

describe('http task: failures', () => {
  it('503 with Retry-After: 2 → RetryAfterError of 2000 ms, naming method, URL and status', async () => {
    route('/busy', (_req, res) => res.writeHead(503, { 'retry-after': '2', 'content-type': 'text/plain' }).end('down for maintenance'));
    const err = await failure({ url: `${base}/busy`, method: 'POST', body: 'x' });
    expect(err).toBeInstanceOf(RetryAfterError);
    expect((err as RetryAfterError).retryAfterMs).toBe(2_000);
    expect(err.message).toBe(`POST ${base}/busy failed: 503 Service Unavailable; retrying after 2000 ms (Retry-After): down for maintenance`);
  });

  it('503 without Retry-After → a plain error (the task’s backoff applies); so do 500 and 408', async () => {
    for (const status of [503, 500, 408]) {
      route('/fail', (_req, res) => res.writeHead(status).end());
      const err = await failure({ url: `${base}/fail` });
      expect(err).not.toBeInstanceOf(RetryAfterError);
      expect(err).not.toBeInstanceOf(PermanentError);
      expect(err).not.toHaveProperty('permanent');
      expect(err.message).toMatch(new RegExp(`^GET ${base}/fail failed: ${status} `));
    }
  });

  it('429 with an HTTP date in Retry-After → RetryAfterError until that date', async () => {
    const at = new Date(Date.now() + 30_000);
    route('/limited', (_req, res) => res.writeHead(429, { 'retry-after': at.toUTCString() }).end());
    const err = await failure({ url: `${base}/limited` });
    expect(err).toBeInstanceOf(RetryAfterError);
    // toUTCString drops the milliseconds.
    expect((err as RetryAfterError).retryAfterMs).toBeGreaterThan(28_000);
    expect((err as RetryAfterError).retryAfterMs).toBeLessThanOrEqual(30_000);
    expect(err.message).toContain('429 Too Many Requests');
  });

  it('Retry-After is capped at an hour; one in the past is 0; an unreadable one is ignored', () => {
    const now = Date.parse('2030-01-01T00:00:00Z');
    expect(parseRetryAfter('7200', now)).toBe(HTTP_MAX_RETRY_AFTER_MS);
    expect(parseRetryAfter('Tue, 31 Dec 2029 23:00:00 GMT', now)).toBe(0);
    expect(parseRetryAfter('Wed, 01 Jan 2030 00:00:10 GMT', now)).toBe(10_000);
    expect(parseRetryAfter(' 0 ', now)).toBe(0);
    expect(parseRetryAfter('soon', now)).toBeUndefined();
    expect(parseRetryAfter('-5', now)).toBeUndefined();
    expect(parseRetryAfter(null, now)).toBeUndefined();
  });

  it('404 → PermanentError naming the status, with the start of the body', async () => {
    const err = await failure({ url: `${base}/missing`, method: 'DELETE' });
    expect(err).toBeInstanceOf(PermanentError);
    expect(err.message).toBe(`DELETE ${base}/missing failed: 404 Not Found (a 4xx other than 408 and 429 is not retried): no route for /missing`);
  });

  it('credentials in the URL are sent as Basic auth; the message never shows them, nor the query', async () => {
    const err = await failure({ url: `http://user:secret@127.0.0.1:${port}/missing?token=s3cr3t#frag` });
    expect(err.message).toMatch(new RegExp(`^GET http://127.0.0.1:${port}/missing\\?… failed: 404`));
    expect(err.message).not.toMatch(/secret|s3cr3t|user|frag/);
    // The server did get them (the fragment never leaves the client).
    expect(received[0]).toMatchObject({ url: '/missing?token=s3cr3t', headers: { authorization: `Basic ${Buffer.from('user:secret').toString('base64')}` } });
  });

  it('a request that outlives its timeout fails (retried), saying so', async () => {
    route('/slow', (_req, res) => {
      setTimeout(() => res.writeHead(200).end('late'), 2_000).unref();
    });
    const started = Date.now();
    const err = await failure({ url: `${base}/slow`, timeout: '200ms' });
    expect(Date.now() - started).toBeLessThan(1_500);
    expect(err).not.toHaveProperty('permanent');
    expect(err.message).toBe(`GET ${base}/slow failed: no response: timed out after 200 ms`);
  });

  it('the default timeout comes from the options', async () => {
    route('/slow', (_req, res) => {
      setTimeout(() => res.writeHead(200).end('late'), 2_000).unref();
    });
    const err = await failure({ url: `${base}/slow` }, createHttpHandler({ allowPrivateNetworks: true, defaultTimeoutMs: 150 }));
    expect(err.message).toContain('timed out after 150 ms');
  });

  it('the task’s signal aborts the request', async () => {
    route('/slow', (_req, res) => {
      setTimeout(() => res.writeHead(200).end('late'), 2_000).unref();
    });
    const controller = new AbortController();
    setTimeout(() => controller.abort('cancelled'), 100);
    const err = await failure({ url: `${base}/slow` }, local, context(controller.signal));
    expect(err.message).toBe(`GET ${base}/slow failed: no response: aborted (cancelled)`);
  });

  it('a connection refused fails (retried), naming the cause', async () => {
    const closed = createServer();
    closed.listen(0, '127.0.0.1');
    await once(closed, 'listening');
    const deadPort = (closed.address() as AddressInfo).port;
    await new Promise((resolve) => closed.close(resolve));
    const err = await failure({ url: `http://127.0.0.1:${deadPort}/x`, method: 'PATCH', body: {} });
    expect(err).not.toHaveProperty('permanent');
    expect(err.message).toMatch(new RegExp(`^PATCH http://127.0.0.1:${deadPort}/x failed: no response: .*ECONNREFUSED`));
    const secret = await failure({ url: `http://me:pa55word@127.0.0.1:${deadPort}/x?key=k3y` });
    expect(secret.message).toMatch(new RegExp(`^GET http://127.0.0.1:${deadPort}/x\\?… failed: no response: `));
    expect(secret.message).not.toMatch(/pa55word|k3y/);
  });
});

describe('http task: redirects', () => {
  it('follows redirects (relative and absolute) to the final response', async () => {
    route('/a', (_req, res) => res.writeHead(301, { location: '/b' }).end());
    route('/b', (_req, res) => res.writeHead(302, { location: `${base}/c?x=1` }).end());
    route('/c', (_req, res) => res.writeHead(200, { 'content-type': 'text/plain' }).end('arrived'));
    expect(await call({ url: `${base}/a` })).toMatchObject({ status: 200, body: 'arrived' });
    expect(received.map((r) => `${r.method} ${r.url}`)).toEqual(['GET /a', 'GET /b', 'GET /c?x=1']);
  });

  it('307 keeps the method and body; 303 turns them into a GET', async () => {
    route('/keep', (_req, res) => res.writeHead(307, { location: '/landing' }).end());
    route('/see-other', (_req, res) => res.writeHead(303, { location: '/landing' }).end());
    route('/landing', (_req, res, body) => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ body })));
    expect(await call({ url: `${base}/keep`, method: 'POST', body: { n: 1 } })).toMatchObject({ body: { body: '{"n":1}' } });
    expect(received.map((r) => [r.method, r.url, r.body])).toEqual([
      ['POST', '/keep', '{"n":1}'],
      ['POST', '/landing', '{"n":1}'],
    ]);
    received.length = 0;
    expect(await call({ url: `${base}/see-other`, method: 'PUT', body: 'data' })).toMatchObject({ body: { body: '' } });
    expect(received.map((r) => [r.method, r.url, r.body])).toEqual([
      ['PUT', '/see-other', 'data'],
      ['GET', '/landing', ''],
    ]);
  });

  it('more than 5 redirects fail permanently', async () => {
    route('/loop', (_req, res) => res.writeHead(302, { location: '/loop' }).end());
    const err = await failure({ url: `${base}/loop` });
    expect(err).toBeInstanceOf(PermanentError);
    expect(err.message).toBe(`GET ${base}/loop failed: 302 Found after 5 redirects; not following more`);
    expect(received).toHaveLength(6);
  });

  it('a redirect to a scheme other than http(s) fails permanently', async () => {
    route('/ftp', (_req, res) => res.writeHead(302, { location: 'ftp://example.com/file' }).end());
    const err = await failure({ url: `${base}/ftp` });
    expect(err).toBeInstanceOf(PermanentError);
    expect(err.message).toContain('redirects to a location that is not an absolute http:// or https:// URL');
  });
});

describe('http task: private networks refused unless allowed', () => {
  const HOW_TO_ALLOW = 'set `http.allowPrivateNetworks: true` in the configuration';

  it('refuses 127.0.0.1 before sending anything, naming the address and how to allow it', async () => {
    route('/secret', (_req, res) => res.writeHead(200).end('internal'));
    const err = await failure({ url: `${base}/secret` }, guarded);
    expect(err).toBeInstanceOf(PermanentError);
    expect(err.message).toBe(`GET ${base}/secret refused: 127.0.0.1, a loopback, private or link-local address; ${HOW_TO_ALLOW} to allow such destinations`);
    expect(received).toEqual([]);
  });

  it('refuses localhost (it resolves to loopback), and IPv6 and IPv4-mapped loopback', async () => {
    const err = await failure({ url: `http://localhost:${port}/secret` }, guarded);
    expect(err).toBeInstanceOf(PermanentError);
    expect(err.message).toMatch(new RegExp(`^GET http://localhost:${port}/secret refused: localhost resolves to (127\\.0\\.0\\.1|::1), `));
    expect(err.message).toContain(HOW_TO_ALLOW);
    for (const url of [`http://[::1]:${port}/`, `http://[::ffff:127.0.0.1]:${port}/`, `http://2130706433:${port}/`, `http://0.0.0.0:${port}/`]) {
      expect(await failure({ url }, guarded)).toBeInstanceOf(PermanentError);
    }
    expect(received).toEqual([]);
  });

  it('refuses a redirect to 127.0.0.1 without the server seeing the redirected request', async () => {
    // To the guard, `localhost` is a public address here; fetch still reaches the local server.
    dns.fakeLookup = (host) => (host === 'localhost' ? [{ address: '93.184.216.34', family: 4 }] : undefined);
    route('/out', (_req, res) => res.writeHead(302, { location: `${base}/secret` }).end());
    route('/secret', (_req, res) => res.writeHead(200).end('internal'));
    const err = await failure({ url: `http://localhost:${port}/out` }, guarded);
    expect(err).toBeInstanceOf(PermanentError);
    expect(err.message).toBe(`GET ${base}/secret refused: 127.0.0.1, a loopback, private or link-local address; ${HOW_TO_ALLOW} to allow such destinations`);
    expect(received.map((r) => r.url)).toEqual(['/out']);
  });

  it('a name that resolves to a public address and a private one is refused', async () => {
    dns.fakeLookup = (host) =>
      host === 'mixed.example'
        ? [
            { address: '93.184.216.34', family: 4 },
            { address: '10.0.0.7', family: 4 },
          ]
        : undefined;
    const err = await failure({ url: 'https://mixed.example/hook' }, guarded);
    expect(err).toBeInstanceOf(PermanentError);
    expect(err.message).toContain('refused: mixed.example resolves to 10.0.0.7');
  });

  it('classifies addresses: loopback, private, link-local, CGNAT, unspecified, and IPv6 forms embedding them', () => {
    const refused = [
      '127.0.0.1', '127.255.0.9', '10.1.2.3', '172.16.0.1', '172.31.255.255', '192.168.1.1', '100.64.0.1', '100.127.255.255',
      '169.254.169.254', '0.0.0.0', '::1', '::', 'fc00::1', 'fd12:3456::1', 'fe80::1', 'fe80::1%eth0',
      '::ffff:127.0.0.1', '::ffff:7f00:1', '::ffff:10.0.0.1', '::ffff:169.254.169.254', '64:ff9b::a00:1', '2002:c0a8:101::1',
    ];
    const allowed = ['8.8.8.8', '93.184.216.34', '172.32.0.1', '100.128.0.1', '192.169.0.1', '2001:4860:4860::8888', '::ffff:8.8.8.8', '2606:4700::1111'];
    for (const address of refused) expect([address, isPrivateAddress(address)]).toEqual([address, true]);
    for (const address of allowed) expect([address, isPrivateAddress(address)]).toEqual([address, false]);
  });
});

describe('http task: invalid payloads fail permanently, naming the field', () => {
  const cases: [string, JsonValue, string][] = [
    ['no url', { method: 'GET' }, 'url: is required: an absolute http:// or https:// URL'],
    ['an ftp:// url', { url: 'ftp://example.com/file' }, 'url: must be an absolute http:// or https:// URL (got a ftp: URL)'],
    ['a url that is not one', { url: 'not a url' }, 'url: must be an absolute http:// or https:// URL (got a string that is not a URL)'],
    ['a bad method', { url: 'https://example.com', method: 'FETCH' }, 'method: must be one of GET, POST, PUT, PATCH, DELETE, HEAD (got "FETCH")'],
    ['a header that is not a string', { url: 'https://example.com', headers: { 'x-n': 1 } }, 'headers["x-n"]: must be a string (got 1)'],
    ['a bad header name', { url: 'https://example.com', headers: { 'bad name': 'x' } }, 'headers["bad name"]: is not a valid header name'],
    ['a body on a GET', { url: 'https://example.com', body: 'x' }, 'body: a GET request cannot have a body'],
    ['a bad timeout', { url: 'https://example.com', timeout: 'soon' }, 'timeout: must be a non-negative integer of milliseconds'],
    ['an unknown field', { url: 'https://example.com', header: {} }, 'header: unknown field (did you mean "headers"?)'],
    ['not an object', 'https://example.com', 'the payload of an http task must be an object with a `url` (got "https://example.com")'],
  ];
  it.each(cases)('%s', async (_name, payload, message) => {
    const err = await failure(payload, guarded);
    expect(err).toBeInstanceOf(PermanentError);
    expect(err.message).toContain(`invalid http task payload: ${message}`);
  });
});

describe('createHttpHandler options', () => {
  it('rejects options that cannot work, naming them', () => {
    expect(() => createHttpHandler({ maxResponseBytes: 0 })).toThrow(/`maxResponseBytes` must be a positive integer, got 0/);
    expect(() => createHttpHandler({ defaultTimeoutMs: -1 })).toThrow(/`defaultTimeoutMs` must be an integer from 1/);
    expect(() => createHttpHandler({ allowPrivateNetworks: 'yes' } as unknown as HttpHandlerOptions)).toThrow(/`allowPrivateNetworks` must be a boolean/);
  });
});
