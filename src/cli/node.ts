/**
 * The long-running commands (`start`, `server`, `worker`) share this: read the configuration, open
 * the store, start the parts this node runs (HTTP API, coordinator, worker pool), print where it
 * listens, and on SIGTERM/SIGINT stop them in order and exit 0.
 */
import { randomBytes } from 'node:crypto';
import { isIP } from 'node:net';
import { hostname } from 'node:os';
import { pathToFileURL } from 'node:url';
import type { FastifyInstance } from 'fastify';
import { createHttpHandler, HTTP_TASK_TYPE } from '../builtin/http-task.js';
import { createClient } from '../client/client.js';
import type { Config } from '../config/schema.js';
import { createCoordinator, type Coordinator } from '../coordinator/coordinator.js';
import type { Logger } from '../logger.js';
import { instrumentStore } from '../observability/instrumented-store.js';
import { createLogger, type LogLevel } from '../observability/logger.js';
import { serveMetrics, type MetricsServer } from '../observability/metrics-server.js';
import { ConveyorMetrics } from '../observability/metrics.js';
import type { TracingSdk } from '../observability/otel-sdk.js';
import { openStore } from '../store/open-store.js';
import { loadHandlersModule } from '../worker/in-process-runner.js';
import type { Handlers } from '../worker/handlers.js';
import { createWorker, type Worker, type WorkerOptions } from '../worker/worker.js';
import { commandConfig } from './connection.js';
import { stdio } from './format.js';

export interface NodeParts {
  api: boolean;
  coordinator: boolean;
  worker: boolean;
}

/** Flags of the long-running commands, as commander gives them (strings and booleans). */
export type NodeFlags = Record<string, string | boolean | undefined> & { config?: string };

/** Beyond the grace given to running tasks, how long the rest of the shutdown may take. */
const SHUTDOWN_SLACK_MS = 10_000;

export function nodeId(): string {
  return `${hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`;
}

export function isLoopbackHost(host: string): boolean {
  if (host === 'localhost' || host.endsWith('.localhost')) return true;
  if (isIP(host) === 4) return host.startsWith('127.');
  if (isIP(host) === 6) return host === '::1' || host === '0:0:0:0:0:0:0:1';
  return false;
}

/** Runs a node until a signal stops it. Resolves once it is running (the signal handlers exit). */
export async function runNode(name: string, parts: NodeParts, flags: NodeFlags): Promise<void> {
  const { config: file, ...rest } = flags;
  const config = commandConfig(rest, file);
  const logger = createLogger({ level: config.log.level as LogLevel, ...(config.log.pretty === undefined ? {} : { pretty: config.log.pretty }) });
  const id = nodeId();

  // Prometheus metrics (docs/reference/metrics.md): one registry per node, and every store call of
  // the node (API, worker, coordinator) timed by the one wrapper.
  const metrics = new ConveyorMetrics({ logger });
  const store = instrumentStore(await openStore(config.store, { prefix: config.prefix, eventsRetain: config.eventsRetain }), metrics);
  // OpenTelemetry: the SDK is loaded only when an OTLP endpoint is configured (docs/tracing.md).
  const tracing = await startTracing(name, id, logger);
  let coordinator: Coordinator | undefined;
  let worker: Worker | undefined;
  let app: FastifyInstance | undefined;
  let metricsServer: MetricsServer | undefined;
  let stopping: Promise<void> | undefined;

  const stop = (): Promise<void> =>
    (stopping ??= (async () => {
      // Stop taking work first; then the duties, the API, the store.
      await worker?.stop().catch((err: unknown) => logger.error({ err }, 'worker did not stop cleanly'));
      await coordinator?.stop().catch((err: unknown) => logger.error({ err }, 'coordinator did not stop cleanly'));
      await app?.close().catch((err: unknown) => logger.error({ err }, 'HTTP API did not close cleanly'));
      await metricsServer?.close();
      await store.close().catch((err: unknown) => logger.error({ err }, 'store did not close cleanly'));
      // Last: the spans of the stop above are exported too (never rejects; bounded).
      await tracing?.shutdown();
    })());

  try {
    // The handlers first: a module that does not load stops start-up before anything runs.
    const options = parts.worker ? await workerOptions(config, logger) : undefined;
    if (parts.coordinator) {
      coordinator = createCoordinator({ store, nodeId: id, leaseMs: config.leaderLeaseMs, retention: config.retention, logger, metrics });
      await coordinator.start();
    }
    if (options) {
      worker = createWorker({ ...options, store, logger, id: parts.api ? `${id}-worker` : id, metrics });
      await worker.start();
    }
    if (parts.api) {
      const b = config.defaults.backoff;
      const client = createClient({
        store,
        defaults: { retries: config.defaults.retries, backoff: { type: b.kind, delay: b.delayMs, maxDelay: b.maxDelayMs, jitter: b.jitter } },
        payloadLimits: { maxBytes: config.payloadLimit },
        logger,
        metrics,
      });
      if (!isLoopbackHost(config.host) && config.auth.tokens.length === 0) {
        logger.warn(
          { host: config.host, port: config.port },
          `SECURITY WARNING: the HTTP API binds to ${config.host}, reachable from other machines, and no auth tokens are configured: ` +
            'anyone who can reach it can submit, cancel and purge tasks. Configure auth.tokens, or bind to 127.0.0.1.',
        );
      }
      // Loaded only by the commands that serve it: the client commands and `worker` never load fastify.
      const { buildHttpApp } = await import('../http/app.js');
      app = await buildHttpApp({ client, store, nodeId: id, auth: config.auth.tokens.map((t) => ({ token: t.token, scopes: [...t.scopes] })), payloadLimit: config.payloadLimit, logger, metrics });
      await app.listen({ host: config.host, port: config.port });
    }
    if (config.metricsPort !== undefined) metricsServer = await serveMetrics(metrics, { host: config.host, port: config.metricsPort, logger });
  } catch (err) {
    await stop();
    throw err;
  }

  const listening = app ? describeAddress(app, config.host) : undefined;
  const what = [
    parts.api ? `API on ${listening}` : undefined,
    parts.coordinator ? 'coordinator' : undefined,
    worker ? `worker (queues ${worker.queues.join(',')}; types ${worker.types.join(', ') || '(none)'}; concurrency ${config.concurrency})` : undefined,
    metricsServer ? `metrics on ${metricsServer.url}` : undefined,
  ].filter(Boolean);
  stdio.out(`conveyor ${name}: ${listening ? `listening on ${listening}` : 'running'} — ${what.join(', ')}; store ${hidePassword(config.store)}; node ${id}`);
  logger.info({ nodeId: id, url: listening, store: hidePassword(config.store), parts }, `conveyor ${name} started`);

  let signals = 0;
  const onSignal = (signal: NodeJS.Signals): void => {
    signals += 1;
    if (signals > 1) {
      logger.warn({ signal }, 'second signal: exiting now');
      process.exit(1);
    }
    logger.info({ signal }, `conveyor ${name} stopping`);
    const force = setTimeout(() => {
      logger.error({}, 'shutdown took too long: exiting');
      process.exit(1);
    }, config.shutdownGraceMs + SHUTDOWN_SLACK_MS);
    force.unref();
    void stop().then(() => {
      logger.info({}, `conveyor ${name} stopped`);
      process.exit(0);
    });
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
}

function describeAddress(app: FastifyInstance, host: string): string {
  const address = app.server.address();
  if (address === null || typeof address === 'string') return String(address);
  const shown = isIP(host) === 6 ? `[${host}]` : host;
  return `http://${shown}:${address.port}`;
}

/**
 * The OpenTelemetry SDK (observability/otel-sdk.ts) when OTEL_EXPORTER_OTLP_ENDPOINT or
 * OTEL_EXPORTER_OTLP_TRACES_ENDPOINT is set; its module and the SDK packages are loaded only then.
 * A failure to load is a warning: the node runs without tracing.
 */
async function startTracing(role: string, instanceId: string, logger: Logger): Promise<TracingSdk | undefined> {
  if (!process.env.OTEL_EXPORTER_OTLP_ENDPOINT?.trim() && !process.env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT?.trim()) return undefined;
  try {
    const { startTracingSdk } = await import('../observability/otel-sdk.js');
    return await startTracingSdk({ role, instanceId, logger });
  } catch (err) {
    logger.warn({ err }, 'OpenTelemetry SDK could not be loaded: tracing stays off');
    return undefined;
  }
}

function hidePassword(url: string): string {
  return url.replace(/^([A-Za-z][A-Za-z0-9+.-]*:\/\/[^:@/]*:)[^@/]*@/, '$1***@');
}

/**
 * The worker's options from the configuration: the handlers module plus the built-in `http` type
 * (a type of the module's own with that name wins). Sandboxed, the threads load a small wrapper
 * module that adds `http` to the user's handlers (sandbox-handlers.ts).
 */
async function workerOptions(config: Config, logger: Logger): Promise<Omit<WorkerOptions, 'store'>> {
  const base: Omit<WorkerOptions, 'store'> = {
    queues: [...config.queues],
    concurrency: config.concurrency,
    prefetch: config.prefetch,
    steal: config.steal,
    leaseMs: config.leaseMs,
    shutdownGraceMs: config.shutdownGraceMs,
  };
  const allowPrivateNetworks = config.http.allowPrivateNetworks;
  if (config.sandbox) {
    const wrapper = new URL(import.meta.url.endsWith('.ts') ? './sandbox-handlers.ts' : './sandbox-handlers.js', import.meta.url);
    if (config.handlers !== undefined) wrapper.searchParams.set('handlers', toHref(config.handlers));
    if (allowPrivateNetworks) wrapper.searchParams.set('allowPrivateNetworks', '1');
    return { ...base, sandbox: true, handlersModule: wrapper };
  }
  // No prototype: a task type such as "__proto__" is a key like any other.
  const handlers = Object.create(null) as Handlers;
  handlers[HTTP_TASK_TYPE] = createHttpHandler({ allowPrivateNetworks });
  if (config.handlers !== undefined) {
    const table = await loadHandlersModule(config.handlers);
    if (table.has(HTTP_TASK_TYPE)) logger.warn({ module: config.handlers }, 'the handlers module defines "http": it replaces the built-in http task type');
    for (const [type, handler] of table) handlers[type] = handler;
  }
  return { ...base, handlers };
}

function toHref(path: string): string {
  return path.startsWith('file:') ? path : pathToFileURL(path).href;
}
