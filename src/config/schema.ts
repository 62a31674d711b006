/**
 * The one schema of Conveyor's configuration: every key, its type, its default and what is allowed.
 * `loadConfig` (load.ts) merges the file, the environment and the flags and parses the result here,
 * once; docs/reference/config.md documents each key.
 *
 * What a user writes (`ConfigInput`) uses durations such as "30s"; what the program reads (`Config`)
 * is normalised and frozen: durations in milliseconds under names ending in `Ms` (`lease` →
 * `leaseMs`), the backoff as a complete BackoffPolicy, retention as the coordinator's RetentionConfig.
 */
import { z } from 'zod';
import { DEFAULT_LEADER_LEASE_MS } from '../coordinator/leader-elector.js';
import { DEFAULT_RETENTION, type RetentionConfig, type RetentionPolicy } from '../coordinator/services/retention-cleaner.js';
import { describeValue, durationSchema } from '../duration.js';
import { QUEUE_NAME_PATTERN, QUEUE_NAME_RULE } from '../names.js';
import { DEFAULT_BACKOFF, DEFAULT_RETRIES } from '../retry/retry-policy.js';
import { MAX_RETRIES, PAYLOAD_MAX_BYTES } from '../schemas.js';
import { DEFAULT_EVENTS_RETAIN, DEFAULT_STORE_URL } from '../store/open-store.js';
import { DEFAULT_REDIS_PREFIX } from '../store/redis/redis-store.js';
import type { BackoffKind, BackoffPolicy } from '../types.js';
import { CONCURRENCY_LIMIT, parseConcurrency } from '../worker/concurrency.js';
import { DEFAULT_LEASE_MS, DEFAULT_SHUTDOWN_GRACE_MS } from '../worker/worker.js';

// ---- defaults and limits ------------------------------------------------------------------------

export const DEFAULT_HOST = '127.0.0.1';
export const DEFAULT_PORT = 8080;
export const DEFAULT_CONCURRENCY = 10;
/** The largest `payloadLimit`: payloads live in Redis values and SQLite rows, read whole. */
export const MAX_PAYLOAD_LIMIT = 64 * 1024 * 1024;
export const MAX_PREFETCH = 10_000;
/** Shortest worker or leader lease: renewals run every third of it. */
export const MIN_LEASE_MS = 100;
export const AUTH_TOKEN_MIN_LENGTH = 16;
export const AUTH_TOKEN_MAX_LENGTH = 1024;

export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const;
export type ConfigLogLevel = (typeof LOG_LEVELS)[number];
export const AUTH_SCOPES = ['submit', 'work', 'admin'] as const;
export type AuthScope = (typeof AUTH_SCOPES)[number];
const BACKOFF_KINDS = ['fixed', 'exponential', 'linear'] as const satisfies readonly BackoffKind[];

// Same forms as openStore; checked here so a typo stops start-up before anything opens.
const STORE_URL_PATTERN = /^(sqlite:.+|rediss?:\/\/.+)$/;
const STORE_URL_RULE =
  'a store URL: "sqlite:PATH", "sqlite::memory:", "redis://[user:pass@]host:port[/db]" or "rediss://…" (TLS)';
// The Redis store's own prefix rule (src/store/redis/keys.ts).
const PREFIX_PATTERN = /^[A-Za-z0-9_.:-]{1,64}$/;
const PREFIX_RULE = 'a Redis key prefix of 1–64 letters, digits, "_", ".", ":" or "-" (no braces)';
// Tokens travel in an Authorization header: visible ASCII, no spaces.
const TOKEN_PATTERN = /^[\x21-\x7e]+$/;

// ---- messages -----------------------------------------------------------------------------------

/** An error map: "is required: …" when missing, else "must be … (got …)". */
function allowed(rule: string, show: (value: unknown) => string = describeValue) {
  return (iss: { input?: unknown }): string =>
    iss.input === undefined ? `is required: ${rule}` : `must be ${rule} (got ${show(iss.input)})`;
}

/** A secret as it may appear in a message: its length only. */
export function maskSecret(value: unknown): string {
  if (typeof value === 'string') return `a secret of ${value.length} characters, masked`;
  return `${value === null ? 'null' : Array.isArray(value) ? 'a list' : `a ${typeof value}`}, masked`;
}

/** A URL with its password hidden: `redis://:secret@host` → `redis://:***@host`. */
export function maskStoreUrl(value: unknown): string {
  if (typeof value !== 'string') return describeValue(value);
  return describeValue(value.replace(/^([A-Za-z][A-Za-z0-9+.-]*:\/\/[^:@/]*:)[^@/]*@/, '$1***@'));
}

/** A strict object's error map for a value that is not an object. Unknown keys are named by load.ts. */
function objectOf(keys: string, show: (value: unknown) => string = describeValue) {
  return (iss: { code?: string; input?: unknown }): string | undefined =>
    iss.code === 'invalid_type' ? `must be an object with any of the keys ${keys} (got ${show(iss.input)})` : undefined;
}

// ---- field schemas ------------------------------------------------------------------------------

const QUEUE_RULE = `a queue name of ${QUEUE_NAME_RULE}`;
const queueNameSchema = z.string({ error: allowed(QUEUE_RULE) }).regex(QUEUE_NAME_PATTERN);

const CONCURRENCY_RULE = `a whole number from 1 to ${CONCURRENCY_LIMIT}, or "MIN:MAX" with 0 < MIN <= MAX (e.g. "2:20")`;
/** Validated by the worker's own parser; output is what WorkerOptions.concurrency takes: 10 or "2:20". */
const concurrencySchema = z
  .union([z.number(), z.string()], { error: allowed(CONCURRENCY_RULE) })
  .transform((value, ctx): number | string => {
    try {
      const { min, max } = parseConcurrency(value);
      return min === max ? min : `${min}:${max}`;
    } catch {
      ctx.addIssue({ code: 'custom', input: value, message: `must be ${CONCURRENCY_RULE} (got ${describeValue(value)})` });
      return z.NEVER;
    }
  });

/** A duration of at least `minMs` (durations are checked by the shared durationSchema first). */
function durationAtLeast(minMs: number) {
  return durationSchema.refine((ms) => ms >= minMs, {
    error: (iss) => `must be a duration of at least ${minMs}ms (got ${describeValue(iss.input)}ms)`,
  });
}

const JITTER_RULE = 'a number from 0 (none) to 1 (±100 %)';
const backoffSchema = z
  .strictObject(
    {
      /** How the delay grows between attempts: fixed, exponential (default) or linear. */
      type: z.enum(BACKOFF_KINDS, { error: allowed(BACKOFF_KINDS.map((k) => `"${k}"`).join(', ')) }).default(DEFAULT_BACKOFF.kind),
      /** The first delay (default 1 s). */
      delay: durationSchema.default(DEFAULT_BACKOFF.delayMs),
      /** The longest delay (default 1 h). */
      maxDelay: durationSchema.default(DEFAULT_BACKOFF.maxDelayMs),
      /** Random spread of each delay, 0–1 (default 0.1). */
      jitter: z.number({ error: allowed(JITTER_RULE) }).min(0).max(1).default(DEFAULT_BACKOFF.jitter),
    },
    { error: objectOf('type, delay, maxDelay, jitter') },
  )
  .superRefine((b, ctx) => {
    if (b.delay > b.maxDelay) {
      ctx.addIssue({ code: 'custom', path: ['maxDelay'], input: b.maxDelay, message: `must be at least defaults.backoff.delay (${b.delay}ms); got ${b.maxDelay}ms` });
    }
  })
  .transform((b): BackoffPolicy => ({ kind: b.type, delayMs: b.delay, maxDelayMs: b.maxDelay, jitter: b.jitter }));

const RETENTION_KEYS = 'completed, dead, cancelled';
/** How long one queue keeps finished tasks; unset states fall back to the top-level retention. */
const queueRetentionSchema = z
  .strictObject(
    {
      /** How long this queue keeps completed tasks. */
      completed: durationSchema.optional(),
      /** How long this queue keeps dead tasks. */
      dead: durationSchema.optional(),
      /** How long this queue keeps cancelled tasks. */
      cancelled: durationSchema.optional(),
    },
    { error: objectOf(RETENTION_KEYS) },
  )
  .transform((r): Partial<RetentionPolicy> => {
    const policy: Partial<RetentionPolicy> = {};
    if (r.completed !== undefined) policy.completedMs = r.completed;
    if (r.dead !== undefined) policy.deadMs = r.dead;
    if (r.cancelled !== undefined) policy.cancelledMs = r.cancelled;
    return policy;
  });

const retentionSchema = z
  .strictObject(
    {
      /** Completed tasks are deleted this long after they finish (default 1 d). */
      completed: durationSchema.default(DEFAULT_RETENTION.completedMs),
      /** Dead tasks (the dead-letter queue) are kept this long (default 7 d). */
      dead: durationSchema.default(DEFAULT_RETENTION.deadMs),
      /** Cancelled tasks are kept this long (default 7 d). */
      cancelled: durationSchema.default(DEFAULT_RETENTION.cancelledMs),
      /** Per queue: `{ <queue>: { completed?, dead?, cancelled? } }`. */
      queues: z
        .record(z.string(), queueRetentionSchema, { error: allowed('an object mapping queue names to { completed, dead, cancelled }') })
        .superRefine((queues, ctx) => {
          for (const name of Object.keys(queues)) {
            if (!QUEUE_NAME_PATTERN.test(name)) {
              ctx.addIssue({ code: 'custom', path: [name], input: name, message: `must be keyed by ${QUEUE_RULE} (got ${describeValue(name)})` });
            }
          }
        })
        .default({}),
    },
    { error: objectOf(`${RETENTION_KEYS}, queues`) },
  )
  .transform(
    (r): Required<RetentionConfig> => ({
      default: { completedMs: r.completed, deadMs: r.dead, cancelledMs: r.cancelled },
      queues: r.queues,
    }),
  );

const TOKEN_RULE = `a token of ${AUTH_TOKEN_MIN_LENGTH}–${AUTH_TOKEN_MAX_LENGTH} visible ASCII characters, no spaces`;
const SCOPES_RULE = `a non-empty list of scopes from ${AUTH_SCOPES.map((s) => `"${s}"`).join(', ')}`;
const authTokenSchema = z.strictObject(
  {
    /** The secret a client sends as `Authorization: Bearer <token>`; never printed. */
    token: z
      .string({ error: allowed(TOKEN_RULE, maskSecret) })
      .min(AUTH_TOKEN_MIN_LENGTH)
      .max(AUTH_TOKEN_MAX_LENGTH)
      .regex(TOKEN_PATTERN),
    /** What the token may do: submit tasks, work (the worker protocol), admin (everything else). */
    scopes: z
      .array(z.enum(AUTH_SCOPES, { error: allowed(SCOPES_RULE) }), { error: allowed(SCOPES_RULE) })
      .min(1, { error: `must be ${SCOPES_RULE} (got an empty list)` })
      .transform((scopes) => [...new Set(scopes)]),
  },
  { error: objectOf('token, scopes', maskSecret) },
);

// ---- the configuration --------------------------------------------------------------------------

const configObjectSchema = z.strictObject(
  {
    /** Where tasks live: `sqlite:PATH`, `sqlite::memory:`, `redis://…`, `rediss://…`. */
    store: z.string({ error: allowed(STORE_URL_RULE, maskStoreUrl) }).regex(STORE_URL_PATTERN).default(DEFAULT_STORE_URL),
    /** Namespace of every Redis key, so several Conveyors can share one Redis. */
    prefix: z.string({ error: allowed(PREFIX_RULE) }).regex(PREFIX_PATTERN).default(DEFAULT_REDIS_PREFIX),
    /** Address the HTTP API binds to; anything but loopback without auth tokens logs a warning. */
    host: z.string({ error: allowed('a host name or IP address') }).min(1).default(DEFAULT_HOST),
    /** Port of the HTTP API (0 picks a free one). */
    port: z.number({ error: allowed('an integer from 0 to 65535') }).int().min(0).max(65535).default(DEFAULT_PORT),
    /**
     * Serve Prometheus `GET /metrics` on this port too (0 picks a free one), bound to `host`: for
     * `conveyor worker`, which has no API. Unset: only the API's `/metrics` (start, server).
     */
    metricsPort: z.number({ error: allowed('an integer from 0 to 65535') }).int().min(0).max(65535).optional(),
    /**
     * Task event entries the store keeps (per queue on Redis, where an entry is one call's events;
     * rows on SQLite): how far behind an event reader may fall. 0 = write no events.
     */
    eventsRetain: z.number({ error: allowed('an integer from 0 to 10000000') }).int().min(0).max(10_000_000).default(DEFAULT_EVENTS_RETAIN),
    /** The handlers module (an ES module path); load.ts makes it absolute. */
    handlers: z.string({ error: allowed('a path to an ES module') }).min(1).optional(),
    /** Queues this node's workers take tasks from, in order of preference. */
    queues: z
      .array(queueNameSchema, { error: allowed(`a non-empty list of queue names (${QUEUE_NAME_RULE})`) })
      .min(1, { error: 'must be a non-empty list of queue names (got an empty list)' })
      .transform((queues) => [...new Set(queues)])
      .default(['default']),
    /** Tasks run at once per worker process: N, or "MIN:MAX" to scale with the backlog. */
    concurrency: concurrencySchema.default(DEFAULT_CONCURRENCY),
    /** Tasks claimed beyond the free slots and held ready. */
    prefetch: z.number({ error: allowed(`an integer from 0 to ${MAX_PREFETCH}`) }).int().min(0).max(MAX_PREFETCH).default(0),
    /** When idle, take prefetched tasks from busy workers. */
    steal: z.boolean({ error: allowed('true or false') }).default(false),
    /** Run handlers in worker threads, so CPU-bound handlers cannot block lease renewal. */
    sandbox: z.boolean({ error: allowed('true or false') }).default(false),
    /** A claimed task's lease; renewed while the handler runs, reclaimed when it lapses. */
    lease: durationAtLeast(MIN_LEASE_MS).default(DEFAULT_LEASE_MS),
    /** On SIGTERM, how long running tasks may finish before they are aborted. */
    shutdownGrace: durationSchema.default(DEFAULT_SHUTDOWN_GRACE_MS),
    /** The coordinator's leader lease: a dead leader is replaced within about this long. */
    leaderLease: durationAtLeast(MIN_LEASE_MS).default(DEFAULT_LEADER_LEASE_MS),
    /** Defaults for submitted tasks that leave `retries` or `backoff` out. */
    defaults: z
      .strictObject(
        {
          /** Retries after the first attempt (default 3). */
          retries: z.number({ error: allowed(`an integer from 0 to ${MAX_RETRIES}`) }).int().min(0).max(MAX_RETRIES).default(DEFAULT_RETRIES),
          /** The backoff between attempts. */
          backoff: backoffSchema.prefault({}),
        },
        { error: objectOf('retries, backoff') },
      )
      .prefault({}),
    /** How long finished tasks are kept, by state, with overrides per queue. */
    retention: retentionSchema.prefault({}),
    /** Largest payload accepted, in bytes of JSON (larger submissions get 413). */
    payloadLimit: z
      .number({ error: allowed(`a whole number of bytes from 1 to ${MAX_PAYLOAD_LIMIT}`) })
      .int()
      .min(1)
      .max(MAX_PAYLOAD_LIMIT)
      .default(PAYLOAD_MAX_BYTES),
    /** Logging: JSON lines, or human-readable ones. */
    log: z
      .strictObject(
        {
          /** The least severe level written. */
          level: z.enum(LOG_LEVELS, { error: allowed(`one of ${LOG_LEVELS.map((l) => `"${l}"`).join(', ')}`) }).default('info'),
          /** Human-readable lines; unset: when stdout is a terminal. */
          pretty: z.boolean({ error: allowed('true or false') }).optional(),
        },
        { error: objectOf('level, pretty') },
      )
      .prefault({}),
    /** API tokens; with none configured, the API is open. */
    auth: z
      .strictObject(
        {
          /** Each token with its scopes. */
          tokens: z.array(authTokenSchema, { error: allowed('a list of { token, scopes }', maskSecret) }).default([]),
        },
        { error: objectOf('tokens', maskSecret) },
      )
      .prefault({}),
    /** The built-in `http` task type. */
    http: z
      .strictObject(
        {
          /** Let `http` tasks call loopback, link-local and private addresses (refused by default). */
          allowPrivateNetworks: z.boolean({ error: allowed('true or false') }).default(false),
        },
        { error: objectOf('allowPrivateNetworks') },
      )
      .prefault({}),
  },
  { error: objectOf('store, port, log, … (docs/reference/config.md lists them)') },
);

type ParsedConfig = z.output<typeof configObjectSchema>;

type DeepReadonly<T> = T extends (infer U)[]
  ? readonly DeepReadonly<U>[]
  : T extends object
    ? { readonly [K in keyof T]: DeepReadonly<T[K]> }
    : T;

function deepFreeze<T>(value: T): DeepReadonly<T> {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value)) {
    for (const inner of Object.values(value)) deepFreeze(inner);
    Object.freeze(value);
  }
  return value as DeepReadonly<T>;
}

/** The whole configuration: parse the merged sources with it; the output is frozen. */
export const configSchema = configObjectSchema.transform(
  ({ lease, shutdownGrace, leaderLease, ...rest }): Config =>
    deepFreeze({ ...rest, leaseMs: lease, shutdownGraceMs: shutdownGrace, leaderLeaseMs: leaderLease }),
);

/** What a user writes (file, environment, flags): every key optional, durations as "30s" or ms. */
export type ConfigInput = z.input<typeof configObjectSchema>;

/** The configuration as the program reads it: complete, normalised, milliseconds, frozen. */
export type Config = DeepReadonly<
  Omit<ParsedConfig, 'lease' | 'shutdownGrace' | 'leaderLease'> & {
    /** Worker lease, ms. */
    leaseMs: number;
    /** Shutdown grace, ms. */
    shutdownGraceMs: number;
    /** Leader lease, ms. */
    leaderLeaseMs: number;
  }
>;
