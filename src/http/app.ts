/**
 * The HTTP API (Fastify): every route of the brief under `/api/v1`, the worker protocol for workers
 * in any language, `/health`, `/ready`, `/metrics`, and the OpenAPI document generated from the same zod
 * schemas that validate the requests.
 *
 * The routes are thin: the client (src/client) validates and does the work, so the library, the
 * CLI and the API share one behaviour; the worker protocol talks to the store (claim, finish, renew)
 * as the in-process worker does. Bodies are parsed by our own JSON parser (errors name the body;
 * `__proto__` and `constructor` keys are refused) and validated by zod, not by Fastify's schemas.
 *
 * Usage (the CLI): `const app = await buildHttpApp({ client, store }); await app.listen({ host, port })`.
 * The caller owns the store and the client; `app.close()` closes only the HTTP server.
 */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname, extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { z } from 'zod';
import type { Client } from '../client/client.js';
import {
  deadListOptionsSchema,
  deadRetryOptionsSchema,
  isPlainObject,
  listOptionsSchema,
  parseInput,
  taskIdSchema,
} from '../client/validation.js';
import { scheduleInputSchema } from '../coordinator/schedules.js';
import { ConveyorError, isConveyorError } from '../errors.js';
import { RecentActivity } from '../events/recent-activity.js';
import { silentLogger, type Logger } from '../logger.js';
import type { ConveyorMetrics } from '../observability/metrics.js';
import { withIncomingTraceContext } from '../observability/tracing.js';
import { retryDelayMs } from '../retry/retry-policy.js';
import { submitTaskSchema, type SubmitTaskOptions } from '../schemas.js';
import type { FinishItem, Store } from '../store/store.js';
import type { ClaimedTask, JsonValue, Task } from '../types.js';
import { VERSION } from '../version.js';
import { Authenticator, type AuthToken, type Scope } from './auth.js';
import { bodyError, createErrorHandler, HttpConveyorError, notFoundHandler } from './error-handler.js';
import {
  batchBodyDoc,
  batchResponseSchema,
  claimBodySchema,
  claimResponseSchema,
  clusterResponseSchema,
  completeBodySchema,
  countResponseSchema,
  DEFAULT_WAIT_TIMEOUT_MS,
  errorResponseSchema,
  extendBodySchema,
  dependentsResponseSchema,
  extendResponseSchema,
  failBodySchema,
  finishResponseSchema,
  healthResponseSchema,
  idParamsSchema,
  nameParamsSchema,
  queueSummarySchema,
  queuesResponseSchema,
  activityResponseSchema,
  scheduleSchema,
  schedulesResponseSchema,
  statsQuerySchema,
  statsResponseSchema,
  taskOutcomeSchema,
  taskPageSchema,
  taskSchema,
  waitQuerySchema,
  workersResponseSchema,
  deadPurgeQuerySchema,
  eventsQuerySchema,
} from './schemas.js';
import { streamEvents } from './event-stream.js';

export const API_PREFIX = '/api/v1';
/** Room around a payload for the other fields of one task. */
const BODY_OVERHEAD_BYTES = 64 * 1024;
/** A batch body may be this large (or one task's limit, when larger). */
const BATCH_BODY_LIMIT_BYTES = 16 * 1024 * 1024;
/** How long `/ready` waits for the store. */
const READY_TIMEOUT_MS = 2_000;
/** A claim long-poll never loops faster than this when the store's wake-up hint finds nothing. */
const CLAIM_MIN_LOOP_MS = 50;

export interface HttpAppOptions {
  client: Client;
  store: Store;
  /** This node's id: `self` in GET /cluster. */
  nodeId?: string;
  /** Tokens with scopes; none (or empty) = every route is open. */
  auth?: AuthToken[];
  /** Largest payload, in bytes of JSON (default: the client's limit, 1 MiB); larger → 413. */
  payloadLimit?: number;
  logger?: Logger;
  /**
   * The node's metrics, served at `GET /metrics` (Prometheus text format, no token: see
   * docs/reference/metrics.md). Absent: `/metrics` answers 404.
   */
  metrics?: Pick<ConveyorMetrics, 'metrics' | 'contentType'>;
  /**
   * The built web dashboard (`index.html` and `assets/`), served at `/`. Default: `dist/dashboard`
   * of this package (built by `npm run build`); when it is missing, `/` answers a page that says so.
   */
  dashboardDir?: string;
}

type Method = 'GET' | 'POST' | 'DELETE';

interface RouteDef {
  method: Method;
  /** Fastify form (`/api/v1/tasks/:id`). */
  url: string;
  /** Null: open even when tokens are configured. */
  scope: Scope | null;
  summary: string;
  tag: string;
  params?: z.ZodType;
  query?: z.ZodType;
  body?: z.ZodType;
  responses: Record<number, { description: string; schema?: z.ZodType }>;
  bodyLimit?: number;
  handler: (request: FastifyRequest, reply: FastifyReply) => Promise<unknown>;
}

/** Every route Fastify registered on an app built here (method and URL), for the OpenAPI test. */
const registered = new WeakMap<FastifyInstance, { method: string; url: string }[]>();
export function registeredRoutes(app: FastifyInstance): { method: string; url: string }[] {
  return [...(registered.get(app) ?? [])];
}

export async function buildHttpApp(options: HttpAppOptions): Promise<FastifyInstance> {
  const { client, store } = options;
  const logger = (options.logger ?? silentLogger).child({ component: 'http' });
  const auth = new Authenticator(options.auth ?? []);
  const payloadLimit = Math.min(options.payloadLimit ?? client.payloadLimits.maxBytes, client.payloadLimits.maxBytes);
  if (!Number.isInteger(payloadLimit) || payloadLimit < 1) {
    throw new ConveyorError('CONVEYOR_VALIDATION', 'invalid HTTP options: payloadLimit: must be a positive integer of bytes', {
      issues: [{ path: 'payloadLimit', message: 'must be a positive integer of bytes' }],
    });
  }
  const limits = { ...client.payloadLimits, maxBytes: payloadLimit };
  const singleBodyLimit = payloadLimit + BODY_OVERHEAD_BYTES;

  const app = Fastify({ logger: false, bodyLimit: singleBodyLimit, exposeHeadRoutes: false, return503OnClosing: true });
  const seen: { method: string; url: string }[] = [];
  registered.set(app, seen);
  app.addHook('onRoute', (route) => {
    for (const method of [route.method].flat()) seen.push({ method, url: route.url });
  });

  app.removeAllContentTypeParsers();
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (_request, body, done) => {
    try {
      done(null, parseJsonBody(body as string));
    } catch (err) {
      done(err as Error, undefined);
    }
  });
  app.setErrorHandler(createErrorHandler(logger));
  app.setNotFoundHandler(notFoundHandler);
  app.addHook('onResponse', async (request, reply) => {
    logger.debug({ method: request.method, url: request.url, status: reply.statusCode, ms: Math.round(reply.elapsedTime) }, 'HTTP request');
  });

  const routes: RouteDef[] = [];
  const route = (def: RouteDef): void => {
    routes.push(def);
    const scope = def.scope;
    app.route({
      method: def.method,
      url: def.url,
      ...(def.bodyLimit === undefined ? {} : { bodyLimit: def.bodyLimit }),
      ...(scope === null
        ? {}
        : {
            onRequest: async (request: FastifyRequest) => {
              auth.check(request.headers.authorization, scope);
            },
          }),
      handler: def.handler,
    });
  };

  const v1 = (path: string): string => `${API_PREFIX}${path}`;
  const idOf = (request: FastifyRequest): string => (request.params as { id: string }).id;
  const nameOf = (request: FastifyRequest): string => (request.params as { name: string }).name;
  const queryOf = (request: FastifyRequest): Record<string, unknown> => ({ ...(request.query as Record<string, unknown>) });
  const bodyObject = (request: FastifyRequest): unknown => (request.body === undefined || request.body === null ? {} : request.body);

  const checkPayload = (task: unknown, path: string): void => {
    if (!isPlainObject(task) || task.payload === undefined) return;
    const bytes = Buffer.byteLength(JSON.stringify(task.payload), 'utf8');
    if (bytes > payloadLimit) {
      const message = `is ${bytes} bytes as JSON; at most ${payloadLimit} bytes are allowed`;
      throw new HttpConveyorError(413, 'CONVEYOR_VALIDATION', `payload too large: ${path}: ${message}`, {
        limit: payloadLimit,
        issues: [{ path, message }],
      });
    }
  };

  const err = { 400: 'invalid input', 401: 'no or unknown token', 403: 'token lacks the scope', 404: 'not found' } as const;
  const errorResponses = (...statuses: (keyof typeof err)[]): RouteDef['responses'] =>
    Object.fromEntries(statuses.map((s) => [s, { description: err[s], schema: errorResponseSchema }]));

  // ---- tasks ------------------------------------------------------------------------------------

  route({
    method: 'POST',
    url: v1('/tasks'),
    scope: 'submit',
    tag: 'tasks',
    summary: 'Submit a task (201); a repeated key returns the existing task (200)',
    body: submitTaskSchema,
    responses: {
      201: { description: 'created', schema: taskSchema },
      200: { description: 'a task with this key exists: it is returned', schema: taskSchema },
      413: { description: 'payload over the limit', schema: errorResponseSchema },
      ...errorResponses(400, 401, 403),
    },
    handler: async (request, reply) => {
      checkPayload(request.body, 'payload');
      // A caller's `traceparent` header is the parent of the submit span (docs/tracing.md).
      const { task, created } = await withIncomingTraceContext(request.headers, () => client.submit(request.body as SubmitTaskOptions));
      void reply.code(created ? 201 : 200);
      return task;
    },
  });

  route({
    method: 'POST',
    url: v1('/tasks/batch'),
    scope: 'submit',
    tag: 'tasks',
    summary: 'Submit up to 1,000 tasks, all or nothing',
    body: batchBodyDoc(submitTaskSchema),
    bodyLimit: Math.max(BATCH_BODY_LIMIT_BYTES, singleBodyLimit),
    responses: {
      201: { description: 'at least one task created; items in input order', schema: batchResponseSchema },
      200: { description: 'every task existed (repeated keys)', schema: batchResponseSchema },
      413: { description: 'a payload over the limit', schema: errorResponseSchema },
      ...errorResponses(400, 401, 403),
    },
    handler: async (request, reply) => {
      const body = request.body;
      if (!isPlainObject(body)) throw bodyError(400, 'must be an object { "tasks": [...] }');
      const unknown = Object.keys(body).filter((key) => key !== 'tasks');
      if (unknown.length > 0) {
        const issues = unknown.map((key) => ({ path: key, message: 'unknown field; allowed: tasks' }));
        throw new ConveyorError('CONVEYOR_VALIDATION', `invalid batch: ${issues.map((i) => `${i.path}: ${i.message}`).join('; ')}`, { issues });
      }
      if (Array.isArray(body.tasks)) body.tasks.forEach((task: unknown, i) => checkPayload(task, `tasks[${i}].payload`));
      const items = await withIncomingTraceContext(request.headers, () => client.submitBatch(body.tasks as SubmitTaskOptions[]));
      void reply.code(items.some((item) => item.created) || items.length === 0 ? 201 : 200);
      return { items };
    },
  });

  route({
    method: 'GET',
    url: v1('/tasks'),
    scope: 'admin',
    tag: 'tasks',
    summary: 'List tasks, newest first, filtered by queue, state and type; follow nextCursor. With queue and key: the task holding that idempotency key (0 or 1)',
    query: listOptionsSchema,
    responses: { 200: { description: 'a page', schema: taskPageSchema }, ...errorResponses(400, 401, 403) },
    handler: async (request) => client.list(queryOf(request)),
  });

  route({
    method: 'GET',
    url: v1('/tasks/:id'),
    scope: 'submit',
    tag: 'tasks',
    summary: 'One task',
    params: idParamsSchema,
    responses: { 200: { description: 'the task', schema: taskSchema }, ...errorResponses(400, 401, 403, 404) },
    handler: async (request) => client.get(idOf(request)),
  });

  route({
    method: 'GET',
    url: v1('/tasks/:id/dependents'),
    scope: 'admin',
    tag: 'tasks',
    summary: 'The tasks still waiting on this one (blocked, naming it in dependsOn), oldest first; empty once it finished',
    params: idParamsSchema,
    responses: { 200: { description: 'the waiting tasks', schema: dependentsResponseSchema }, ...errorResponses(400, 401, 403, 404) },
    handler: async (request) => ({ tasks: await client.dependents(idOf(request)) }),
  });

  route({
    method: 'POST',
    url: v1('/tasks/:id/cancel'),
    scope: 'admin',
    tag: 'tasks',
    summary: 'Cancel a task (a running one is asked to stop)',
    params: idParamsSchema,
    responses: { 200: { description: 'outcome: cancelled, cancel_requested or already_finished', schema: taskOutcomeSchema }, ...errorResponses(400, 401, 403, 404) },
    handler: async (request) => client.cancel(idOf(request)),
  });

  route({
    method: 'POST',
    url: v1('/tasks/:id/retry'),
    scope: 'admin',
    tag: 'tasks',
    summary: 'Send a dead or cancelled task back to pending with fresh attempts',
    params: idParamsSchema,
    responses: {
      200: { description: 'retried', schema: taskOutcomeSchema },
      409: { description: 'CONVEYOR_TASK_NOT_RETRYABLE', schema: errorResponseSchema },
      ...errorResponses(400, 401, 403, 404),
    },
    handler: async (request) => client.retry(idOf(request)),
  });

  route({
    method: 'GET',
    url: v1('/tasks/:id/wait'),
    scope: 'submit',
    tag: 'tasks',
    summary: 'Long poll until the task finishes (completed, dead or cancelled); 408 after the timeout',
    params: idParamsSchema,
    query: waitQuerySchema,
    responses: {
      200: { description: 'the finished task (check its state)', schema: taskSchema },
      408: { description: 'CONVEYOR_WAIT_TIMEOUT: not finished in time (it goes on)', schema: errorResponseSchema },
      ...errorResponses(400, 401, 403, 404),
    },
    handler: async (request, reply) => {
      const id = parseInput(taskIdSchema, idOf(request), 'invalid task id', 'id');
      const { timeout } = parseInput(waitQuerySchema, queryOf(request), 'invalid wait options');
      const signal = disconnectSignal(reply);
      try {
        return await client.waitFor(id, { timeoutMs: timeout ?? DEFAULT_WAIT_TIMEOUT_MS, signal });
      } catch (error) {
        if (isConveyorError(error, 'CONVEYOR_TASK_FAILED')) return client.get(id);
        throw error;
      }
    },
  });

  // ---- events -------------------------------------------------------------------------------------

  // Open event streams end when the server closes; otherwise close() would wait for them forever.
  const closing = new AbortController();
  app.addHook('preClose', async () => closing.abort());

  route({
    method: 'GET',
    url: v1('/events'),
    scope: 'admin',
    tag: 'events',
    summary: 'Task events as Server-Sent Events, filtered by queue, task type and event; resumes after Last-Event-ID',
    query: eventsQuerySchema,
    responses: {
      200: { description: 'text/event-stream: `ready`, then one message per task event (id = resumable position, event = its name, data = the event as JSON)' },
      ...errorResponses(400, 401, 403),
    },
    handler: async (request, reply) => {
      const query = parseInput(eventsQuerySchema, queryOf(request), 'invalid event stream options');
      const lastEventId = request.headers['last-event-id'];
      const after = (typeof lastEventId === 'string' && lastEventId !== '' ? lastEventId : undefined) ?? query.after ?? null;
      const filter = {
        ...(query.queue ? { queues: query.queue } : {}),
        ...(query.type ? { types: query.type } : {}),
        ...(query.event ? { names: query.event } : {}),
      };
      // The first read happens before the stream opens, so a bad position is a plain 400.
      const first = await store.readEvents({ ...filter, after, limit: 500 });
      const startedAt = first.events.length > 0 ? (after ?? first.cursor) : first.cursor;
      const signal = AbortSignal.any([disconnectSignal(reply), closing.signal]);
      reply.hijack();
      await streamEvents(reply, { store, filter, first: { ...first, startedAt }, signal, logger });
    },
  });

  // ---- queues, stats, dead letters, workers, cluster ----------------------------------------------

  route({
    method: 'GET',
    url: v1('/stats'),
    scope: 'admin',
    tag: 'queues',
    summary: 'Task counts per queue and state',
    query: statsQuerySchema,
    responses: { 200: { description: 'counts', schema: statsResponseSchema }, ...errorResponses(400, 401, 403) },
    handler: async (request) => ({ queues: await client.stats(queryOf(request)) }),
  });

  // Counted from the event feed only while somebody asks (the dashboard polls it).
  const activity = new RecentActivity({ store, logger });
  app.addHook('onClose', async () => activity.close());

  route({
    method: 'GET',
    url: v1('/activity'),
    scope: 'admin',
    tag: 'queues',
    summary: 'The last 15 minutes of the cluster, per second: attempts completed and failed; per queue, the mean wait before a claim',
    responses: { 200: { description: 'recent activity', schema: activityResponseSchema }, ...errorResponses(401, 403) },
    handler: async () => activity.snapshot(),
  });

  route({
    method: 'GET',
    url: v1('/queues'),
    scope: 'admin',
    tag: 'queues',
    summary: 'Every queue with its pause flag and counts',
    responses: { 200: { description: 'queues by name', schema: queuesResponseSchema }, ...errorResponses(401, 403) },
    handler: async () => ({ queues: await client.queues() }),
  });

  for (const action of ['pause', 'resume'] as const) {
    route({
      method: 'POST',
      url: v1(`/queues/:name/${action}`),
      scope: 'admin',
      tag: 'queues',
      summary: action === 'pause' ? 'Pause a queue (created paused if unknown): workers stop claiming from it' : 'Resume a paused queue',
      params: nameParamsSchema,
      responses: { 200: { description: 'the queue', schema: queueSummarySchema }, ...errorResponses(400, 401, 403, ...(action === 'resume' ? ([404] as const) : [])) },
      handler: async (request) => (action === 'pause' ? client.pauseQueue(nameOf(request)) : client.resumeQueue(nameOf(request))),
    });
  }

  route({
    method: 'GET',
    url: v1('/dead'),
    scope: 'admin',
    tag: 'dead letters',
    summary: 'Dead tasks, newest first',
    query: deadListOptionsSchema,
    responses: { 200: { description: 'a page', schema: taskPageSchema }, ...errorResponses(400, 401, 403) },
    handler: async (request) => client.dead.list(queryOf(request)),
  });

  route({
    method: 'POST',
    url: v1('/dead/retry'),
    scope: 'admin',
    tag: 'dead letters',
    summary: 'Retry dead tasks: the given ids, or every dead task (of a queue)',
    body: deadRetryOptionsSchema,
    responses: { 200: { description: 'how many were retried', schema: countResponseSchema('retried') }, ...errorResponses(400, 401, 403, 404) },
    handler: async (request) => ({ retried: await client.dead.retry(bodyObject(request) as object) }),
  });

  route({
    method: 'DELETE',
    url: v1('/dead'),
    scope: 'admin',
    tag: 'dead letters',
    summary: 'Delete every dead task (of a queue)',
    query: deadPurgeQuerySchema,
    responses: { 200: { description: 'how many were deleted', schema: countResponseSchema('purged') }, ...errorResponses(400, 401, 403) },
    handler: async (request) => ({ purged: await client.dead.purge(queryOf(request)) }),
  });

  route({
    method: 'GET',
    url: v1('/workers'),
    scope: 'admin',
    tag: 'cluster',
    summary: 'Workers and server nodes whose heartbeat has not expired',
    responses: { 200: { description: 'workers by id', schema: workersResponseSchema }, ...errorResponses(401, 403) },
    handler: async () => ({ workers: await client.workers() }),
  });

  route({
    method: 'GET',
    url: v1('/cluster'),
    scope: 'admin',
    tag: 'cluster',
    summary: 'This node (self), the leader and every node',
    responses: { 200: { description: 'the cluster view', schema: clusterResponseSchema }, ...errorResponses(401, 403) },
    handler: async () => client.cluster(options.nodeId ?? null),
  });

  // ---- schedules ------------------------------------------------------------------------------------

  route({
    method: 'GET',
    url: v1('/schedules'),
    scope: 'admin',
    tag: 'schedules',
    summary: 'Every schedule, by name',
    responses: { 200: { description: 'schedules', schema: schedulesResponseSchema }, ...errorResponses(401, 403) },
    handler: async () => ({ schedules: await client.schedules.list() }),
  });

  route({
    method: 'POST',
    url: v1('/schedules'),
    scope: 'admin',
    tag: 'schedules',
    summary: 'Create (201) or replace (200) a schedule: cron or every, and a task template',
    body: scheduleInputSchema,
    responses: {
      201: { description: 'created', schema: scheduleSchema },
      200: { description: 'replaced', schema: scheduleSchema },
      ...errorResponses(400, 401, 403),
    },
    handler: async (request, reply) => {
      const body = request.body;
      if (!isPlainObject(body)) throw bodyError(400, 'must be a schedule object { name, cron | every, task, … }');
      const existed = typeof body.name === 'string' && (await client.schedules.list()).some((s) => s.name === body.name);
      const [saved] = await client.schedules.save(body as never);
      void reply.code(existed ? 200 : 201);
      return saved;
    },
  });

  route({
    method: 'GET',
    url: v1('/schedules/:name'),
    scope: 'admin',
    tag: 'schedules',
    summary: 'One schedule',
    params: nameParamsSchema,
    responses: { 200: { description: 'the schedule', schema: scheduleSchema }, ...errorResponses(400, 401, 403, 404) },
    handler: async (request) => client.schedules.get(nameOf(request)),
  });

  route({
    method: 'DELETE',
    url: v1('/schedules/:name'),
    scope: 'admin',
    tag: 'schedules',
    summary: 'Delete a schedule',
    params: nameParamsSchema,
    responses: { 200: { description: 'deleted', schema: z.object({ name: z.string(), deleted: z.literal(true) }) }, ...errorResponses(400, 401, 403, 404) },
    handler: async (request) => {
      const name = nameOf(request);
      const removed = await client.schedules.remove(name);
      if (removed === 0) throw new ConveyorError('CONVEYOR_SCHEDULE_NOT_FOUND', `schedule ${JSON.stringify(name)} not found`, { name });
      return { name, deleted: true };
    },
  });

  // ---- the worker protocol ----------------------------------------------------------------------------

  const completeSchema = completeBodySchema(limits);
  const extendSchema = extendBodySchema(limits);

  /** The queue of a task (from the body, else from the store); CONVEYOR_TASK_NOT_FOUND when none. */
  const taskFor = async (id: string): Promise<Task> => {
    const [task] = await store.getTasks({ ids: [id] });
    if (!task) throw new ConveyorError('CONVEYOR_TASK_NOT_FOUND', `task ${id} not found: no task has this id`, { id });
    return task;
  };

  const finish = async (item: FinishItem): Promise<{ id: string; state: string }> => {
    const { items } = await store.finishTasks({ items: [item] });
    const outcome = items[0]?.outcome ?? 'lease_lost';
    if (outcome === 'lease_lost') {
      throw new ConveyorError(
        'CONVEYOR_LEASE_LOST',
        `task ${item.id}: the lease token was refused (the lease expired and the task was reclaimed, stolen or finished); nothing was written: stop working on it`,
        { id: item.id },
      );
    }
    return { id: item.id, state: outcome };
  };

  route({
    method: 'POST',
    url: v1('/claim'),
    scope: 'work',
    tag: 'worker protocol',
    summary: 'Lease up to `limit` due tasks from `queues`; `waitMs` long-polls when none is due',
    body: claimBodySchema,
    responses: { 200: { description: 'the claimed tasks, each with its leaseToken (possibly none)', schema: claimResponseSchema }, ...errorResponses(400, 401, 403) },
    handler: async (request, reply) => {
      const { queues, workerId, limit, leaseMs, waitMs } = parseInput(claimBodySchema, request.body, 'invalid claim');
      const signal = disconnectSignal(reply);
      const deadline = Date.now() + waitMs;
      let tasks: ClaimedTask[] = [];
      for (;;) {
        tasks = await store.claimTasks({ queues, workerId, limit, leaseMs });
        const remaining = deadline - Date.now();
        if (tasks.length > 0 || remaining <= 0 || signal.aborted) break;
        const started = Date.now();
        await store.waitForWork({ queues, timeoutMs: remaining, signal });
        // The wake-up is a hint (a paused queue may keep signalling): never spin.
        const spent = Date.now() - started;
        if (spent < CLAIM_MIN_LOOP_MS && !signal.aborted) await delay(Math.min(CLAIM_MIN_LOOP_MS - spent, Math.max(0, deadline - Date.now())));
      }
      if (signal.aborted && tasks.length > 0) {
        // Nobody will receive them: give them back without spending the attempt.
        await store.finishTasks({ items: tasks.map((t) => ({ id: t.id, queue: t.queue, token: t.leaseToken, outcome: 'release' as const })) });
        tasks = [];
      }
      return { tasks };
    },
  });

  route({
    method: 'POST',
    url: v1('/tasks/:id/complete'),
    scope: 'work',
    tag: 'worker protocol',
    summary: 'Complete a claimed task with its result, fenced by the lease token',
    params: idParamsSchema,
    body: completeSchema,
    responses: {
      200: { description: 'the state the task went to', schema: finishResponseSchema },
      409: { description: 'CONVEYOR_LEASE_LOST: the token was refused; nothing was written', schema: errorResponseSchema },
      ...errorResponses(400, 401, 403, 404),
    },
    handler: async (request) => {
      const id = parseInput(taskIdSchema, idOf(request), 'invalid task id', 'id');
      const body = parseInput(completeSchema, request.body, 'invalid completion');
      const queue = body.queue ?? (await taskFor(id)).queue;
      return finish({ id, queue, token: body.token, outcome: 'complete', result: (body.result ?? null) as JsonValue | null });
    },
  });

  route({
    method: 'POST',
    url: v1('/tasks/:id/fail'),
    scope: 'work',
    tag: 'worker protocol',
    summary: "Fail a claimed task's attempt: retried after its backoff (or retryDelayMs) while attempts are left, else dead",
    params: idParamsSchema,
    body: failBodySchema,
    responses: {
      200: { description: 'the state the task went to (scheduled for a retry, or dead)', schema: finishResponseSchema },
      409: { description: 'CONVEYOR_LEASE_LOST: the token was refused; nothing was written', schema: errorResponseSchema },
      ...errorResponses(400, 401, 403, 404),
    },
    handler: async (request) => {
      const id = parseInput(taskIdSchema, idOf(request), 'invalid task id', 'id');
      const body = parseInput(failBodySchema, request.body, 'invalid failure');
      let queue = body.queue;
      let delayMs = body.retryDelayMs;
      if (queue === undefined || delayMs === undefined) {
        const task = await taskFor(id);
        queue ??= task.queue;
        delayMs ??= retryDelayMs(task.backoff, Math.max(1, task.attempt));
      }
      return finish({
        id,
        queue,
        token: body.token,
        outcome: 'fail',
        error: {
          reason: 'error',
          message: body.error.message,
          ...(body.error.name === undefined ? {} : { name: body.error.name }),
          ...(body.error.stack === undefined ? {} : { stack: body.error.stack }),
        },
        retryDelayMs: delayMs,
        ...(body.permanent === undefined ? {} : { permanent: body.permanent }),
      });
    },
  });

  route({
    method: 'POST',
    url: v1('/leases/extend'),
    scope: 'work',
    tag: 'worker protocol',
    summary: 'Renew leases in a batch; `lost` ones must be abandoned, `cancelRequested` ones aborted',
    body: extendSchema,
    responses: { 200: { description: 'renewed, lost and cancel-requested ids', schema: extendResponseSchema }, ...errorResponses(400, 401, 403) },
    handler: async (request) => {
      const body = parseInput(extendSchema, request.body, 'invalid lease extension');
      const missingQueue = body.leases.filter((l) => l.queue === undefined).map((l) => l.id);
      const found = missingQueue.length > 0 ? await store.getTasks({ ids: missingQueue }) : [];
      const queueOf = new Map(found.filter((t): t is Task => t !== null).map((t) => [t.id, t.queue]));
      const lostUnknown: string[] = [];
      const leases = body.leases.flatMap((l) => {
        const queue = l.queue ?? queueOf.get(l.id);
        if (queue === undefined) {
          lostUnknown.push(l.id);
          return [];
        }
        return [{ id: l.id, queue, token: l.token, ...(l.progress === undefined ? {} : { progress: l.progress }) }];
      });
      const result = leases.length > 0 ? await store.renewLeases({ leases, leaseMs: body.leaseMs }) : { renewed: [], lost: [], cancelRequested: [] };
      return { renewed: result.renewed, lost: [...result.lost, ...lostUnknown], cancelRequested: result.cancelRequested };
    },
  });

  // ---- outside /api/v1 ---------------------------------------------------------------------------------

  route({
    method: 'GET',
    url: '/health',
    scope: null,
    tag: 'operations',
    summary: 'Liveness: 200 while the process serves requests',
    responses: { 200: { description: 'alive', schema: healthResponseSchema } },
    handler: async () => ({ status: 'ok' }),
  });

  route({
    method: 'GET',
    url: '/ready',
    scope: null,
    tag: 'operations',
    summary: 'Readiness: 200 when the store answers, else 503',
    responses: {
      200: { description: 'the store answers', schema: healthResponseSchema },
      503: { description: 'CONVEYOR_STORE_UNAVAILABLE', schema: errorResponseSchema },
    },
    handler: async () => {
      try {
        const answered = await Promise.race([store.listQueues().then(() => true), delay(READY_TIMEOUT_MS).then(() => false)]);
        if (!answered) throw new Error(`no answer within ${READY_TIMEOUT_MS} ms`);
      } catch (error) {
        throw new ConveyorError('CONVEYOR_STORE_UNAVAILABLE', `not ready: the ${store.kind} store did not answer: ${(error as Error).message}`, { store: store.kind });
      }
      return { status: 'ready' };
    },
  });

  // Open like /health and /ready, even with tokens configured: Prometheus scrapes without one, and
  // the exposition holds counts and queue and type names only, never a payload, id or token
  // (docs/reference/metrics.md). Restrict who can reach it by network, as for any scrape target.
  route({
    method: 'GET',
    url: '/metrics',
    scope: null,
    tag: 'operations',
    summary: 'Prometheus metrics of this node (text exposition format); the cluster gauges only on the leader',
    responses: {
      200: { description: 'text/plain; version=0.0.4: every metric of docs/reference/metrics.md' },
      404: { description: 'CONVEYOR_ROUTE_NOT_FOUND: this app was built without metrics', schema: errorResponseSchema },
    },
    handler: async (request, reply) => {
      const metrics = options.metrics;
      if (metrics === undefined) {
        throw new ConveyorError('CONVEYOR_ROUTE_NOT_FOUND', 'GET /metrics: metrics are not enabled on this server (buildHttpApp without `metrics`)', {
          method: request.method,
          url: request.url,
        });
      }
      const text = await metrics.metrics();
      void reply.type(metrics.contentType);
      return text;
    },
  });

  // ---- the web dashboard (docs/dashboard.md) --------------------------------------------------------

  const dashboard = new DashboardFiles(options.dashboardDir ?? defaultDashboardDir());
  route({
    method: 'GET',
    url: '/',
    scope: null,
    tag: 'dashboard',
    summary: "The web dashboard's page (it asks for a token itself when auth is on; the API routes it calls keep their scopes)",
    responses: { 200: { description: 'text/html' }, 503: { description: 'text/html: the dashboard was not built (`npm run build`)' } },
    handler: async (_request, reply) => {
      const html = await dashboard.index();
      void reply.headers(DASHBOARD_HEADERS).header('cache-control', 'no-cache').type('text/html; charset=utf-8');
      if (html === null) {
        void reply.code(503);
        return NOT_BUILT_PAGE;
      }
      return html;
    },
  });
  route({
    method: 'GET',
    url: '/assets/:file',
    scope: null,
    tag: 'dashboard',
    summary: "The dashboard's scripts and styles (content-hashed names, cached for a year)",
    params: z.object({ file: z.string() }),
    responses: { 200: { description: 'the file' }, 404: { description: 'CONVEYOR_ROUTE_NOT_FOUND', schema: errorResponseSchema } },
    handler: async (request, reply) => {
      const name = (request.params as { file: string }).file;
      const asset = await dashboard.asset(name);
      if (asset === null) {
        throw new ConveyorError('CONVEYOR_ROUTE_NOT_FOUND', `no dashboard asset ${JSON.stringify(name)}`, { method: request.method, url: request.url });
      }
      void reply.headers(DASHBOARD_HEADERS).header('cache-control', 'public, max-age=31536000, immutable').type(asset.type);
      return asset.body;
    },
  });

  let document: object | undefined;
  route({
    method: 'GET',
    url: v1('/openapi.json'),
    scope: null,
    tag: 'operations',
    summary: 'This OpenAPI 3.1 document',
    responses: { 200: { description: 'the document' } },
    handler: async () => (document ??= buildOpenApi(routes)),
  });

  return app;
}

// ---- the dashboard's files ----------------------------------------------------------------------------------

const DASHBOARD_HEADERS = {
  'content-security-policy': "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
};

const ASSET_TYPES: Record<string, string> = {
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.woff2': 'font/woff2',
};

const NOT_BUILT_PAGE = `<!doctype html><meta charset="utf-8"><title>Conveyor</title>
<h1>The Conveyor dashboard is not built</h1>
<p>This server runs from sources without <code>dist/dashboard/</code>. Run <code>npm run build</code>, then reload.
The HTTP API is at <a href="/api/v1/openapi.json">/api/v1</a>.</p>
`;

/** `dist/dashboard` of this package, from the compiled file (dist/http/) or the source (src/http/). */
function defaultDashboardDir(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  const compiled = join(here, '..', 'dashboard');
  return existsSync(join(compiled, 'index.html')) ? compiled : join(here, '..', '..', 'dist', 'dashboard');
}

/**
 * Reads the built dashboard from disk, once per file (the build does not change under a running
 * server; a missing build is looked for again on each request, so building while it runs works).
 * Only names of `assets/` made of letters, digits, `-`, `_` and `.` are served: no path walks.
 */
class DashboardFiles {
  readonly #dir: string;
  readonly #cache = new Map<string, Buffer>();

  constructor(dir: string) {
    this.#dir = dir;
  }

  async #read(path: string): Promise<Buffer | null> {
    const cached = this.#cache.get(path);
    if (cached) return cached;
    try {
      const body = await readFile(join(this.#dir, path));
      this.#cache.set(path, body);
      return body;
    } catch {
      return null;
    }
  }

  async index(): Promise<Buffer | null> {
    return this.#read('index.html');
  }

  async asset(name: string): Promise<{ body: Buffer; type: string } | null> {
    if (!/^[\w-][\w.-]*$/.test(name) || name.includes('..')) return null;
    const type = ASSET_TYPES[extname(name)];
    if (type === undefined) return null;
    const body = await this.#read(join('assets', name));
    return body === null ? null : { body, type };
  }
}

// ---- helpers ----------------------------------------------------------------------------------------------

const delay = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Aborts when the client goes away before the response was written (long polls stop early). */
function disconnectSignal(reply: FastifyReply): AbortSignal {
  const controller = new AbortController();
  reply.raw.once('close', () => {
    if (!reply.raw.writableFinished) controller.abort(new Error('the client disconnected'));
  });
  return controller.signal;
}

const FORBIDDEN_KEYS = new Set(['__proto__', 'constructor', 'prototype']);

/** JSON bodies: a syntax error names the body and the position; prototype keys are refused. */
export function parseJsonBody(text: string): unknown {
  if (text.trim() === '') return undefined;
  let forbidden: string | undefined;
  let value: unknown;
  try {
    value = JSON.parse(text, function reviver(key, v: unknown) {
      if (FORBIDDEN_KEYS.has(key)) forbidden ??= key;
      return v;
    });
  } catch (error) {
    throw bodyError(400, `is not valid JSON: ${(error as Error).message}`);
  }
  if (forbidden !== undefined) throw bodyError(400, `holds a ${JSON.stringify(forbidden)} key; such keys are refused anywhere in a body`);
  return value;
}

// ---- the OpenAPI document ---------------------------------------------------------------------------------

function jsonSchema(schema: z.ZodType, io: 'input' | 'output'): Record<string, unknown> {
  const { $schema: _ignored, ...rest } = z.toJSONSchema(schema, { io, unrepresentable: 'any' }) as Record<string, unknown>;
  return rest;
}

function parameters(schema: z.ZodType | undefined, where: 'path' | 'query'): object[] {
  if (!schema) return [];
  const object = jsonSchema(schema, 'input') as { properties?: Record<string, Record<string, unknown>>; required?: string[] };
  return Object.entries(object.properties ?? {}).map(([name, property]) => {
    const { description, ...rest } = property;
    return {
      name,
      in: where,
      required: where === 'path' || (object.required ?? []).includes(name),
      ...(description === undefined ? {} : { description }),
      schema: rest,
    };
  });
}

/** OpenAPI 3.1 from the routes' zod schemas (`z.toJSONSchema`, request bodies as input). */
export function buildOpenApi(routes: readonly RouteDef[]): object {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const r of routes) {
    const path = r.url.replace(/:([A-Za-z_]\w*)/g, '{$1}');
    const operation: Record<string, unknown> = {
      operationId: `${r.method.toLowerCase()}${path.replace(/[{}]/g, '').replace(/[^A-Za-z0-9]+(.)?/g, (_m, c: string | undefined) => (c ?? '').toUpperCase())}`,
      summary: r.summary,
      tags: [r.tag],
      security: r.scope === null ? [] : [{ bearer: [] }],
      'x-conveyor-scope': r.scope,
      parameters: [...parameters(r.params, 'path'), ...parameters(r.query, 'query')],
      responses: Object.fromEntries(
        Object.entries(r.responses).map(([status, res]) => [
          status,
          { description: res.description, ...(res.schema ? { content: { 'application/json': { schema: jsonSchema(res.schema, 'output') } } } : {}) },
        ]),
      ),
    };
    if (r.body) operation.requestBody = { required: !r.url.endsWith('/dead/retry'), content: { 'application/json': { schema: jsonSchema(r.body, 'input') } } };
    (paths[path] ??= {})[r.method.toLowerCase()] = operation;
  }
  return {
    openapi: '3.1.0',
    info: {
      title: 'Conveyor HTTP API',
      version: VERSION,
      description: 'Errors are {"error": {"code", "message", "details"}}; see docs/reference/http-api.md and docs/reference/errors.md.',
    },
    components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer', description: 'a configured token; scopes: submit, work, admin' } } },
    paths,
  };
}
