/**
 * The built-in `http` task type: calls a URL with the method, headers, body and timeout of its
 * payload, so that webhooks need no handler of their own.
 *
 *   2xx                     → completes with `{ status, headers, body }` (JSON parsed when the
 *                             response says JSON; cut at `maxResponseBytes` with `truncated: true`)
 *   408, 429, 5xx           → fails and retries: after `Retry-After` when the response has one
 *                             (RetryAfterError, at most an hour), else after the task's backoff
 *   other 4xx, other 3xx    → fails permanently
 *   no response, timeout    → fails and retries at the task's backoff
 *   a payload that is wrong → fails permanently, naming the field
 *
 * The SSRF guard: unless `allowPrivateNetworks`, every hop (the URL and each redirect, followed here
 * rather than by fetch) is refused when its host resolves to a loopback, private, link-local,
 * CGNAT or unspecified address, before any request is sent.
 */
import { lookup } from 'node:dns/promises';
import { STATUS_CODES } from 'node:http';
import { BlockList, isIP } from 'node:net';
import { TextDecoder } from 'node:util';
import { z } from 'zod';
import { describeValue, durationSchema } from '../duration.js';
import { validationError } from '../schemas.js';
import { VERSION } from '../version.js';
import { PermanentError, RetryAfterError, type Handler } from '../worker/handlers.js';
import { rejectOnAbort } from '../lifecycle/abortable.js';

export const HTTP_TASK_TYPE = 'http';

export interface HttpHandlerOptions {
  /**
   * Allow loopback, private, link-local and CGNAT destinations (config: `http.allowPrivateNetworks`).
   * Off by default: a task's payload must not reach the machine's own services or the private network.
   */
  allowPrivateNetworks?: boolean;
  /** The timeout of a request whose payload gives none, in ms (default 30 s). */
  defaultTimeoutMs?: number;
  /** Bytes of a response body kept in the result; the rest is dropped and `truncated` set (default 1 MiB). */
  maxResponseBytes?: number;
}

export const HTTP_DEFAULT_TIMEOUT_MS = 30_000;
export const HTTP_MAX_RESPONSE_BYTES = 1024 * 1024;
/** Redirects followed before the task fails (permanently: a loop does not mend itself). */
export const HTTP_MAX_REDIRECTS = 5;
/** The longest `Retry-After` honoured; a later one is cut to this. */
export const HTTP_MAX_RETRY_AFTER_MS = 60 * 60 * 1000;
/** The longest request timeout: AbortSignal.timeout cannot wait past 2^31-1 ms, and a day is plenty. */
const MAX_TIMEOUT_MS = 24 * 60 * 60 * 1000;
/** How much of an error response's body goes into the failure's message. */
const ERROR_EXCERPT_CHARS = 200;

export const HTTP_METHODS = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'HEAD'] as const;
export type HttpMethod = (typeof HTTP_METHODS)[number];
const HTTP_PAYLOAD_FIELDS = ['url', 'method', 'headers', 'body', 'timeout'] as const;
/** Response headers copied into the result. */
const RESULT_HEADERS = ['content-type', 'content-length', 'etag', 'last-modified', 'location'] as const;
/** Request headers dropped when a redirect leaves the origin (as fetch itself does). */
const CREDENTIAL_HEADERS = ['authorization', 'cookie', 'proxy-authorization'];
const REDIRECT_STATUSES = new Set([301, 302, 303, 307, 308]);
/** An RFC 9110 token: what a header name may be. */
const HEADER_NAME = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const JSON_CONTENT_TYPE = /^\s*application\/(?:[\w.-]+\+)?json\s*(?:;|$)/i;

// ---- the payload ----------------------------------------------------------------------------------

const URL_RULE = 'an absolute http:// or https:// URL';

/** What the task's payload says, normalised. */
export interface HttpRequestSpec {
  url: URL;
  method: HttpMethod;
  headers: Record<string, string>;
  /** Undefined: no body. A string is sent as is; any other JSON as JSON. */
  body: unknown;
  timeoutMs: number | undefined;
}

const httpPayloadSchema = z
  .strictObject(
    {
      url: z
        .string({ error: (iss) => (iss.input === undefined ? `is required: ${URL_RULE}` : `must be ${URL_RULE} (got ${describeValue(iss.input)})`) })
        .transform((value, ctx) => {
          // The value is not echoed: a URL may carry credentials or a token.
          if (!URL.canParse(value)) {
            ctx.addIssue({ code: 'custom', input: value, message: `must be ${URL_RULE} (got a string that is not a URL)` });
            return z.NEVER;
          }
          const url = new URL(value);
          if (url.protocol !== 'http:' && url.protocol !== 'https:') {
            ctx.addIssue({ code: 'custom', input: value, message: `must be ${URL_RULE} (got a ${url.protocol} URL)` });
            return z.NEVER;
          }
          return url;
        }),
      method: z
        .string({ error: (iss) => `must be one of ${HTTP_METHODS.join(', ')} (got ${describeValue(iss.input)})` })
        .transform((value, ctx) => {
          const method = value.toUpperCase();
          if ((HTTP_METHODS as readonly string[]).includes(method)) return method as HttpMethod;
          ctx.addIssue({ code: 'custom', input: value, message: `must be one of ${HTTP_METHODS.join(', ')} (got ${describeValue(value)})` });
          return z.NEVER;
        })
        .optional(),
      headers: z
        .record(z.string(), z.string({ error: (iss) => `must be a string (got ${describeValue(iss.input)})` }), {
          error: (iss) => (iss.code === 'invalid_type' ? `must be an object of header names to string values (got ${describeValue(iss.input)})` : undefined),
        })
        .superRefine((headers, ctx) => {
          for (const [name, value] of Object.entries(headers)) {
            if (!HEADER_NAME.test(name)) {
              ctx.addIssue({ code: 'custom', path: [name], input: name, message: 'is not a valid header name (letters, digits and !#$%&\'*+-.^_`|~ only)' });
            } else if (/[\r\n\0]/.test(value)) {
              ctx.addIssue({ code: 'custom', path: [name], input: value, message: 'must not contain CR, LF or NUL' });
            }
          }
        })
        .optional(),
      body: z.unknown().optional(),
      timeout: durationSchema
        .refine((ms) => ms > 0, { error: 'must be more than 0 ms' })
        .refine((ms) => ms <= MAX_TIMEOUT_MS, { error: 'must be at most 1 day' })
        .optional(),
    },
    {
      error: (iss) =>
        iss.code === 'invalid_type' ? `the payload of an http task must be an object with a \`url\` (got ${describeValue(iss.input)})` : undefined,
    },
  )
  .superRefine((payload, ctx) => {
    const method = payload.method ?? 'GET';
    if (payload.body !== undefined && (method === 'GET' || method === 'HEAD')) {
      ctx.addIssue({ code: 'custom', path: ['body'], input: payload.body, message: `a ${method} request cannot have a body; use POST, PUT, PATCH or DELETE` });
    }
  });

/**
 * The request an http task's payload describes.
 * @throws PermanentError naming each wrong field (retrying cannot mend a payload).
 */
export function parseHttpPayload(payload: unknown): HttpRequestSpec {
  const parsed = httpPayloadSchema.safeParse(payload);
  if (!parsed.success) {
    const err = validationError('invalid http task payload', parsed.error, { allowedFields: { '': HTTP_PAYLOAD_FIELDS } });
    throw new PermanentError(err.message, { cause: err });
  }
  const { url, method = 'GET', headers = {}, body, timeout } = parsed.data;
  return { url, method, headers, body, timeoutMs: timeout };
}

// ---- the handler ----------------------------------------------------------------------------------

export function createHttpHandler(options: HttpHandlerOptions = {}): Handler {
  const allowPrivateNetworks = options.allowPrivateNetworks ?? false;
  const defaultTimeoutMs = options.defaultTimeoutMs ?? HTTP_DEFAULT_TIMEOUT_MS;
  const maxResponseBytes = options.maxResponseBytes ?? HTTP_MAX_RESPONSE_BYTES;
  if (typeof allowPrivateNetworks !== 'boolean') {
    throw new TypeError(`createHttpHandler option \`allowPrivateNetworks\` must be a boolean, got ${describeValue(allowPrivateNetworks)}`);
  }
  if (!Number.isInteger(defaultTimeoutMs) || defaultTimeoutMs <= 0 || defaultTimeoutMs > MAX_TIMEOUT_MS) {
    throw new RangeError(`createHttpHandler option \`defaultTimeoutMs\` must be an integer from 1 to ${MAX_TIMEOUT_MS} ms, got ${describeValue(defaultTimeoutMs)}`);
  }
  if (!Number.isInteger(maxResponseBytes) || maxResponseBytes <= 0) {
    throw new RangeError(`createHttpHandler option \`maxResponseBytes\` must be a positive integer, got ${describeValue(maxResponseBytes)}`);
  }

  return async (task, ctx) => {
    const spec = parseHttpPayload(task.payload);
    const timeoutMs = spec.timeoutMs ?? defaultTimeoutMs;
    const timeout = AbortSignal.timeout(timeoutMs);
    const signal = AbortSignal.any([ctx.signal, timeout]);
    const stopped = (): string => (timeout.aborted ? `timed out after ${timeoutMs} ms` : `aborted (${String(ctx.signal.reason)})`);

    let { method } = spec;
    const headers = new Headers(spec.headers);
    if (!headers.has('user-agent')) headers.set('user-agent', `conveyor/${VERSION}`);
    // fetch refuses a URL with credentials: send them as Basic auth, as curl does.
    let url = new URL(spec.url.href);
    if (url.username !== '' || url.password !== '') {
      if (!headers.has('authorization')) {
        const userinfo = `${safeDecode(url.username)}:${safeDecode(url.password)}`;
        headers.set('authorization', `Basic ${Buffer.from(userinfo, 'utf8').toString('base64')}`);
      }
      url.username = '';
      url.password = '';
    }
    let body: string | undefined;
    if (typeof spec.body === 'string') body = spec.body;
    else if (spec.body !== undefined) {
      body = JSON.stringify(spec.body);
      if (!headers.has('content-type')) headers.set('content-type', 'application/json');
    }

    for (let redirects = 0; ; redirects++) {
      const target = `${method} ${redactUrl(url)}`;
      if (!allowPrivateNetworks) await refusePrivateDestination(url, target, signal, stopped);

      let response: Response;
      try {
        response = await fetch(url, { method, headers, body, redirect: 'manual', signal });
      } catch (err) {
        throw new Error(`${target} failed: no response: ${signal.aborted ? stopped() : scrub(networkCause(err), spec.url, url)}`, { cause: err });
      }

      const location = response.headers.get('location');
      if (REDIRECT_STATUSES.has(response.status) && location !== null) {
        await discard(response);
        if (redirects >= HTTP_MAX_REDIRECTS) {
          throw new PermanentError(`${target} failed: ${describeStatus(response)} after ${HTTP_MAX_REDIRECTS} redirects; not following more`);
        }
        const next = URL.canParse(location, url.href) ? new URL(location, url) : undefined;
        if (next === undefined || (next.protocol !== 'http:' && next.protocol !== 'https:')) {
          throw new PermanentError(`${target} failed: ${describeStatus(response)} redirects to a location that is not ${URL_RULE}`);
        }
        // Credentials a redirect puts in its URL are not used (fetch would refuse the URL).
        next.username = '';
        next.password = '';
        if (next.origin !== url.origin) for (const name of CREDENTIAL_HEADERS) headers.delete(name);
        // As fetch does: 303 turns any method but HEAD into GET; 301 and 302 turn POST into GET.
        if ((response.status === 303 && method !== 'HEAD') || ((response.status === 301 || response.status === 302) && method === 'POST')) {
          method = 'GET';
          body = undefined;
          headers.delete('content-type');
          headers.delete('content-length');
        }
        url = next;
        continue;
      }

      if (response.ok) {
        let read: BodyRead | null;
        try {
          read = await readBody(response, maxResponseBytes);
        } catch (err) {
          throw new Error(`${target} failed: ${describeStatus(response)}, then the body broke off: ${signal.aborted ? stopped() : scrub(networkCause(err), spec.url, url)}`, {
            cause: err,
          });
        }
        return {
          status: response.status,
          headers: resultHeaders(response.headers),
          body: read === null ? null : decodeBody(read, response.headers.get('content-type')),
          ...(read?.truncated ? { truncated: true } : {}),
        };
      }

      const excerpt = await errorExcerpt(response);
      const status = describeStatus(response);
      if (response.status === 408 || response.status === 429 || response.status >= 500) {
        const retryAfterMs = parseRetryAfter(response.headers.get('retry-after'));
        if (retryAfterMs !== undefined) {
          throw new RetryAfterError(`${target} failed: ${status}; retrying after ${retryAfterMs} ms (Retry-After)${excerpt}`, retryAfterMs);
        }
        throw new Error(`${target} failed: ${status}${excerpt}`);
      }
      const why = response.status >= 400 ? 'a 4xx other than 408 and 429 is not retried' : 'a redirect without a Location, or one that is not followed';
      throw new PermanentError(`${target} failed: ${status} (${why})${excerpt}`);
    }
  };
}

// ---- the SSRF guard -------------------------------------------------------------------------------

const privateNetworks = new BlockList();
for (const [network, prefix] of [
  ['0.0.0.0', 8], // "this network"; 0.0.0.0 reaches the local host
  ['10.0.0.0', 8],
  ['100.64.0.0', 10], // CGNAT
  ['127.0.0.0', 8],
  ['169.254.0.0', 16], // link-local, cloud metadata services
  ['172.16.0.0', 12],
  ['192.168.0.0', 16],
  ['255.255.255.255', 32],
] as const) {
  privateNetworks.addSubnet(network, prefix, 'ipv4');
}
for (const [network, prefix] of [
  ['::', 128], // unspecified: reaches the local host
  ['::1', 128],
  ['fc00::', 7], // unique local
  ['fe80::', 10], // link-local
  ['fec0::', 10], // site-local (deprecated, still routed by some)
] as const) {
  privateNetworks.addSubnet(network, prefix, 'ipv6');
}

/**
 * True for a loopback, private, link-local, CGNAT or unspecified address, also when an IPv6
 * address embeds one (IPv4-mapped ::ffff:a.b.c.d, IPv4-compatible ::a.b.c.d, NAT64 64:ff9b::/96,
 * 6to4 2002::/16). Anything that is not an IP address counts as private: refuse what is not understood.
 */
export function isPrivateAddress(address: string): boolean {
  const bare = address.replace(/%.*$/, ''); // a zone index: fe80::1%eth0
  const family = isIP(bare);
  if (family === 4) return privateNetworks.check(bare, 'ipv4');
  if (family !== 6) return true;
  if (privateNetworks.check(bare, 'ipv6')) return true;
  const embedded = embeddedIpv4(bare);
  return embedded !== undefined && privateNetworks.check(embedded, 'ipv4');
}

/** The IPv4 address an IPv6 address carries (mapped, compatible, NAT64, 6to4), if any. */
function embeddedIpv4(address: string): string | undefined {
  const words = ipv6Words(address);
  if (words === undefined) return undefined;
  const zeros = (from: number, to: number) => words.slice(from, to).every((word) => word === 0);
  const v4 = (high: number, low: number) => `${high >> 8}.${high & 0xff}.${low >> 8}.${low & 0xff}`;
  if (zeros(0, 5) && (words[5] === 0xffff || words[5] === 0)) return v4(words[6]!, words[7]!);
  if (words[0] === 0x64 && words[1] === 0xff9b && zeros(2, 6)) return v4(words[6]!, words[7]!);
  if (words[0] === 0x2002) return v4(words[1]!, words[2]!);
  return undefined;
}

/** The eight 16-bit words of an IPv6 address (isIP said it is one). */
function ipv6Words(address: string): number[] | undefined {
  let text = address.toLowerCase();
  const dotted = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(text);
  if (dotted) {
    const [a, b, c, d] = dotted.slice(1).map(Number) as [number, number, number, number];
    text = `${text.slice(0, dotted.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head = '', tail] = text.split('::');
  const part = (s: string) => (s === '' ? [] : s.split(':').map((word) => parseInt(word, 16)));
  const front = part(head);
  const back = tail === undefined ? [] : part(tail);
  const missing = 8 - front.length - back.length;
  if (missing < 0 || (tail === undefined && missing !== 0)) return undefined;
  return [...front, ...Array<number>(missing).fill(0), ...back];
}

/** Resolves the URL's host; throws PermanentError when any of its addresses is private. */
async function refusePrivateDestination(url: URL, target: string, signal: AbortSignal, stopped: () => string): Promise<void> {
  const host = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
  let addresses: string[];
  if (isIP(host) !== 0) {
    addresses = [host];
  } else {
    try {
      addresses = (await rejectOnAbort(lookup(host, { all: true, verbatim: true }), signal)).map((found) => found.address);
    } catch (err) {
      // Not permanent: a name that does not resolve now may resolve later (DNS is down, not yet propagated).
      throw new Error(`${target} failed: no response: cannot resolve ${host}: ${signal.aborted ? stopped() : networkCause(err)}`, { cause: err });
    }
  }
  const refused = addresses.find(isPrivateAddress);
  if (refused === undefined) return;
  const via = refused === host ? '' : `${host} resolves to `;
  throw new PermanentError(
    `${target} refused: ${via}${refused}, a loopback, private or link-local address; ` +
      'set `http.allowPrivateNetworks: true` in the configuration to allow such destinations',
  );
}


// ---- responses ------------------------------------------------------------------------------------

interface BodyRead {
  bytes: Uint8Array;
  truncated: boolean;
}

/** The body, up to `max` bytes (after content decoding); null when the response has none (HEAD, 204). */
async function readBody(response: Response, max: number): Promise<BodyRead | null> {
  if (response.body === null) return null;
  const reader = response.body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  let truncated = false;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    if (total + value.byteLength > max) {
      chunks.push(value.subarray(0, max - total));
      total = max;
      truncated = true;
      await reader.cancel().catch(() => undefined);
      break;
    }
    chunks.push(value);
    total += value.byteLength;
  }
  return { bytes: Buffer.concat(chunks, total), truncated };
}

/** JSON when the response says so and the whole body parses; else text (UTF-8 unless another charset is given). */
function decodeBody(read: BodyRead, contentType: string | null): unknown {
  const text = decodeText(read.bytes, contentType);
  if (!read.truncated && contentType !== null && JSON_CONTENT_TYPE.test(contentType) && text.trim() !== '') {
    try {
      return JSON.parse(text) as unknown;
    } catch {
      // Says JSON, is not: the text is more use than a failure.
    }
  }
  return text;
}

function decodeText(bytes: Uint8Array, contentType: string | null): string {
  const charset = /;\s*charset="?([^";\s]+)"?/i.exec(contentType ?? '')?.[1];
  let decoder: TextDecoder;
  try {
    decoder = new TextDecoder(charset ?? 'utf-8');
  } catch {
    decoder = new TextDecoder('utf-8');
  }
  // `stream: true` leaves out a character cut in half by truncation instead of a replacement mark.
  return decoder.decode(bytes, { stream: true });
}

function resultHeaders(headers: Headers): Record<string, string> {
  const kept: Record<string, string> = {};
  for (const name of RESULT_HEADERS) {
    const value = headers.get(name);
    if (value !== null) kept[name] = value;
  }
  return kept;
}

/** `: <the start of the body>` for a failure's message, or '' (never throws). */
async function errorExcerpt(response: Response): Promise<string> {
  try {
    const read = await readBody(response, ERROR_EXCERPT_CHARS * 4);
    if (read === null) return '';
    const text = decodeText(read.bytes, response.headers.get('content-type')).replace(/\s+/g, ' ').trim();
    if (text === '') return '';
    return `: ${text.length > ERROR_EXCERPT_CHARS || read.truncated ? `${text.slice(0, ERROR_EXCERPT_CHARS)}…` : text}`;
  } catch {
    return '';
  }
}

/** Lets the connection go back to the pool without reading a body nobody wants. */
async function discard(response: Response): Promise<void> {
  await response.body?.cancel().catch(() => undefined);
}

function describeStatus(response: Response): string {
  const text = response.statusText || STATUS_CODES[response.status] || '';
  return text === '' ? `${response.status}` : `${response.status} ${text}`;
}

/**
 * Milliseconds from a `Retry-After` header: delay-seconds or an HTTP date; at most an hour. Undefined
 * when absent or unreadable (the task's backoff applies).
 */
export function parseRetryAfter(value: string | null, now: number = Date.now()): number | undefined {
  if (value === null) return undefined;
  const text = value.trim();
  let ms: number;
  if (/^\d+$/.test(text)) ms = Number(text) * 1000;
  else {
    // An HTTP date names its day and month; Date.parse alone would read "-5" as a year.
    if (!/[a-z]/i.test(text)) return undefined;
    const at = Date.parse(text);
    if (Number.isNaN(at)) return undefined;
    ms = Math.max(0, at - now);
  }
  return Math.min(ms, HTTP_MAX_RETRY_AFTER_MS);
}

/** A URL fit for an error message: no user or password, no query values, no fragment. */
export function redactUrl(url: URL): string {
  const shown = new URL(url.href);
  shown.username = '';
  shown.password = '';
  shown.hash = '';
  const query = shown.search === '' ? '' : '?…';
  shown.search = '';
  return `${shown.href}${query}`;
}

/** A lower-level error's message without the URLs it may quote (their credentials and query). */
function scrub(text: string, ...urls: URL[]): string {
  let out = text;
  for (const url of urls) {
    out = out.split(url.href).join(redactUrl(url));
    if (url.password !== '') out = out.split(url.password).join('***');
    if (url.search !== '') out = out.split(url.search).join('?…');
  }
  return out;
}

function safeDecode(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

/** What fetch's "fetch failed" TypeError hides in its cause: ECONNREFUSED, a TLS error, … */
function networkCause(err: unknown): string {
  const parts: string[] = [];
  let current: unknown = err;
  for (let depth = 0; depth < 4 && typeof current === 'object' && current !== null; depth++) {
    const { message, code } = current as { message?: unknown; code?: unknown };
    if (typeof message === 'string' && message !== '' && message !== 'fetch failed') parts.push(message);
    else if (typeof code === 'string') parts.push(code);
    current = (current as { cause?: unknown }).cause;
  }
  return parts.length > 0 ? parts.join(': ') : String(err);
}
