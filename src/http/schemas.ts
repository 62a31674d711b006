/**
 * The HTTP API's own zod schemas: the worker protocol's bodies, the query of the wait route, and the
 * response shapes the OpenAPI document shows. Submitted tasks, list options, the dead-letter options
 * and schedules are validated by the client with its own schemas (src/schemas.ts,
 * src/client/validation.ts, src/coordinator/schedules.ts); the document is generated from those too.
 */
import { z } from 'zod';
import { durationSchema } from '../duration.js';
import { taskIdSchema, queueNameSchema, rule } from '../client/validation.js';
import { jsonValueSchema, type PayloadLimits } from '../schemas.js';
import { TASK_TYPE_PATTERN, TASK_TYPE_RULE } from '../names.js';
import { TASK_EVENT_NAMES, TASK_STATES } from '../types.js';

/** Longest `waitMs` of a claim and `timeout` of a wait: a long poll, not a parked connection. */
export const MAX_LONG_POLL_MS = 5 * 60_000;
export const DEFAULT_WAIT_TIMEOUT_MS = 30_000;
export const DEFAULT_CLAIM_LEASE_MS = 30_000;
export const MIN_LEASE_MS = 100;
export const MAX_LEASE_MS = 24 * 60 * 60_000;
export const MAX_CLAIM_LIMIT = 1_000;
export const MAX_RETRY_DELAY_MS = 30 * 24 * 60 * 60_000;

const WORKER_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.:@-]{0,199}$/;
const TOKEN_PATTERN = /^[\x21-\x7e]{1,200}$/;

const workerIdSchema = z
  .string({ error: rule('a worker id of 1–200 letters, digits, "_", ".", ":", "@" or "-"') })
  .regex(WORKER_ID_PATTERN, { error: rule('a worker id of 1–200 letters, digits, "_", ".", ":", "@" or "-"') });
const leaseTokenSchema = z
  .string({ error: rule('the leaseToken the claim returned') })
  .regex(TOKEN_PATTERN, { error: rule('the leaseToken the claim returned') });
const intIn = (min: number, max: number, what: string) =>
  z.number({ error: rule(`${what}: an integer ${min}–${max}`) }).int({ error: rule(`${what}: an integer ${min}–${max}`) }).min(min, { error: rule(`${what}: an integer ${min}–${max}`) }).max(max, { error: rule(`${what}: an integer ${min}–${max}`) });

export const claimBodySchema = z.strictObject({
  /** Queues to take from, in order of preference. */
  queues: z.array(queueNameSchema, { error: rule('a non-empty array of queue names') }).min(1, { error: 'must name at least one queue' }).max(100),
  workerId: workerIdSchema,
  limit: intIn(1, MAX_CLAIM_LIMIT, 'the most tasks to claim').default(1),
  leaseMs: intIn(MIN_LEASE_MS, MAX_LEASE_MS, 'the lease length in ms').default(DEFAULT_CLAIM_LEASE_MS),
  /** Long poll: when nothing is due, wait up to this long for work before answering with none. */
  waitMs: intIn(0, MAX_LONG_POLL_MS, 'how long to wait for work in ms').default(0),
});

export function completeBodySchema(limits: PayloadLimits) {
  return z.strictObject({
    token: leaseTokenSchema,
    result: jsonValueSchema(limits).optional(),
    /** The task's queue; looked up from the task when left out. */
    queue: queueNameSchema.optional(),
  });
}

export const failBodySchema = z.strictObject({
  token: leaseTokenSchema,
  error: z.strictObject(
    {
      message: z.string({ error: rule('a string') }).max(10_000),
      name: z.string({ error: rule('a string') }).max(200).optional(),
      stack: z.string({ error: rule('a string') }).max(50_000).optional(),
    },
    { error: rule('an object { message, name?, stack? }') },
  ),
  /** Wait before the retry; left out: the task's own backoff policy decides. */
  retryDelayMs: intIn(0, MAX_RETRY_DELAY_MS, 'the retry delay in ms').optional(),
  /** Skip the remaining retries: the task goes dead. */
  permanent: z.boolean({ error: rule('true or false') }).optional(),
  queue: queueNameSchema.optional(),
});

export function extendBodySchema(limits: PayloadLimits) {
  return z.strictObject({
    leases: z
      .array(
        z.strictObject({
          id: taskIdSchema,
          token: leaseTokenSchema,
          queue: queueNameSchema.optional(),
          /** Stored on the task (fenced like the renewal). */
          progress: jsonValueSchema(limits).optional(),
        }),
        { error: rule('an array of { id, token }') },
      )
      .min(1, { error: 'must hold at least one lease' })
      .max(MAX_CLAIM_LIMIT),
    leaseMs: intIn(MIN_LEASE_MS, MAX_LEASE_MS, 'the lease length in ms').default(DEFAULT_CLAIM_LEASE_MS),
  });
}

export const waitQuerySchema = z.strictObject({
  /** Milliseconds or a duration such as "30s"; default 30 s, at most 5 min. */
  timeout: durationSchema
    .refine((ms) => ms >= 0 && ms <= MAX_LONG_POLL_MS, { error: `must be a duration of at most ${MAX_LONG_POLL_MS / 60_000} minutes` })
    .optional(),
});

export const statsQuerySchema = z.strictObject({ queue: queueNameSchema.optional() });

/** A comma-separated list (`a,b`) or the parameter repeated (`?queue=a&queue=b`). */
const listParam = <O extends string>(item: z.ZodType<O, string>, what: string) =>
  z
    .union([z.string(), z.array(z.string())], { error: rule(what) })
    .transform((value) => [value].flat().flatMap((part) => part.split(',')).map((part) => part.trim()).filter((part) => part !== ''))
    .pipe(z.array(item).max(100, { error: 'at most 100 values' }));

export const eventsQuerySchema = z.strictObject({
  /** Only these queues. */
  queue: listParam(queueNameSchema, 'queue names, comma-separated').optional(),
  /** Only tasks of these types. */
  type: listParam(z.string().regex(TASK_TYPE_PATTERN, { error: rule(`a task type: ${TASK_TYPE_RULE}`) }), 'task types, comma-separated').optional(),
  /** Only these events. */
  event: listParam(z.enum(TASK_EVENT_NAMES, { error: rule(`one of ${TASK_EVENT_NAMES.join(', ')}`) }), 'event names, comma-separated').optional(),
  /** Start after this event id (the `Last-Event-ID` header wins); `0` = the oldest retained; absent = from now. */
  after: z.string().max(65_536).optional(),
});
export const deadPurgeQuerySchema = z.strictObject({ queue: queueNameSchema.optional() });
export const idParamsSchema = z.object({ id: z.string().describe('a task id (26 characters of Crockford base32)') });
export const nameParamsSchema = z.object({ name: z.string().describe('a queue or schedule name') });

// ---- response shapes (documentation) ------------------------------------------------------------

const stateSchema = z.enum(TASK_STATES);
const taskErrorSchema = z.object({
  reason: z.string(),
  message: z.string(),
  name: z.string().optional(),
  stack: z.string().optional(),
  attempt: z.number().int(),
  at: z.number().int(),
});

export const taskSchema = z.object({
  id: z.string(),
  queue: z.string(),
  type: z.string(),
  payload: z.unknown(),
  priority: z.number().int(),
  state: stateSchema,
  attempt: z.number().int(),
  maxAttempts: z.number().int(),
  backoff: z.object({ kind: z.enum(['fixed', 'exponential', 'linear']), delayMs: z.number(), maxDelayMs: z.number(), jitter: z.number() }),
  timeoutMs: z.number().nullable(),
  deadline: z.number().nullable(),
  runAt: z.number(),
  dependsOn: z.array(z.string()),
  key: z.string().nullable(),
  result: z.unknown(),
  error: taskErrorSchema.nullable(),
  errors: z.array(taskErrorSchema),
  progress: z.unknown(),
  createdAt: z.number(),
  startedAt: z.number().nullable(),
  finishedAt: z.number().nullable(),
  workerId: z.string().nullable(),
  leaseExpiresAt: z.number().nullable(),
  cancelRequested: z.boolean(),
  traceContext: z.record(z.string(), z.string()).optional().describe('W3C trace context of the submit span (traceparent, tracestate); absent when nothing traced the submit'),
});
export const claimedTaskSchema = taskSchema.extend({ leaseToken: z.string(), leaseExpiresAt: z.number() });

export const errorResponseSchema = z.object({
  error: z.object({ code: z.string(), message: z.string(), details: z.record(z.string(), z.unknown()) }),
});

const countsSchema = z.record(stateSchema, z.number().int());
export const taskPageSchema = z.object({ tasks: z.array(taskSchema), nextCursor: z.string().nullable() });
export const batchResponseSchema = z.object({ items: z.array(z.object({ task: taskSchema, created: z.boolean() })) });
export const taskOutcomeSchema = z.object({ task: taskSchema, outcome: z.string() });
export const statsResponseSchema = z.object({ queues: z.array(z.object({ queue: z.string(), counts: countsSchema })) });
export const queueSummarySchema = z.object({
  name: z.string(),
  paused: z.boolean(),
  counts: countsSchema,
  oldestPendingAt: z.number().nullable().describe('due time (epoch ms) of the pending task that has waited longest; null when none is pending'),
});
export const dependentsResponseSchema = z.object({ tasks: z.array(taskSchema) });
export const queuesResponseSchema = z.object({ queues: z.array(queueSummarySchema) });
export const activityResponseSchema = z.object({
  windowSeconds: z.number().int().describe('the window: the last 15 minutes'),
  now: z.number().describe("the server's clock (epoch ms)"),
  countedSince: z
    .number()
    .describe("counts are complete from this time (epoch ms): the window's start, or later when a queue's retained events begin later"),
  series: z
    .object({
      seconds: z.array(z.number().int()).describe('epoch seconds, one per second of the window, oldest first'),
      completed: z.array(z.number().int()).describe('attempts that completed in that second'),
      failed: z.array(z.number().int()).describe('task:failed and task:dead events in that second'),
    })
    .describe('the whole cluster, per second'),
  queues: z.array(
    z.object({
      queue: z.string(),
      completed: z.number().int(),
      failed: z.number().int(),
      claimed: z.number().int(),
      waitMsAvg: z.number().nullable().describe('mean time the claimed tasks waited since they were due; null when none was claimed'),
    }),
  ),
});
export const countResponseSchema = (field: string) => z.object({ [field]: z.number().int() });
export const workersResponseSchema = z.object({ workers: z.array(z.record(z.string(), z.unknown())) });
export const clusterResponseSchema = z.object({
  self: z.string().nullable(),
  leader: z.string().nullable(),
  nodes: z.array(
    z.object({
      id: z.string(),
      role: z.enum(['worker', 'server']),
      leader: z.boolean(),
      host: z.string(),
      pid: z.number().int(),
      version: z.string().nullable(),
      startedAt: z.number(),
      uptimeMs: z.number(),
      lastHeartbeatAt: z.number(),
    }),
  ),
});
export const scheduleSchema = z.object({
  name: z.string(),
  cron: z.string().nullable(),
  timezone: z.string().nullable(),
  everyMs: z.number().nullable(),
  task: z.record(z.string(), z.unknown()),
  missedRuns: z.enum(['skip', 'once']),
  paused: z.boolean(),
  lastRunAt: z.number().nullable(),
  nextRunAt: z.number().nullable(),
  createdAt: z.number(),
  updatedAt: z.number(),
});
export const schedulesResponseSchema = z.object({ schedules: z.array(scheduleSchema) });
export const claimResponseSchema = z.object({ tasks: z.array(claimedTaskSchema) });
export const finishResponseSchema = z.object({ id: z.string(), state: z.enum(['completed', 'scheduled', 'pending', 'dead', 'cancelled']) });
export const extendResponseSchema = z.object({
  renewed: z.array(z.object({ id: z.string(), leaseExpiresAt: z.number() })),
  lost: z.array(z.string()),
  cancelRequested: z.array(z.string()),
});
export const healthResponseSchema = z.object({ status: z.string() });
export const deadRetryBodyDoc = z.strictObject({ queue: queueNameSchema.optional(), ids: z.array(taskIdSchema).optional() });
export const batchBodyDoc = (task: z.ZodType) => z.strictObject({ tasks: z.array(task).max(1_000) });
