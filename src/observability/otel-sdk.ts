/**
 * The OpenTelemetry SDK set up by the long-running CLI commands (`start`, `server`, `worker`) when
 * an OTLP endpoint is configured (`OTEL_EXPORTER_OTLP_ENDPOINT` or
 * `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`); the CLI imports this module only then (src/cli/node.ts), and
 * this module imports the SDK packages only when called. The library never loads it: an application
 * that embeds Conveyor registers the SDK of its choice (docs/tracing.md).
 *
 * What it registers, globally:
 *
 * - a TracerProvider with a BatchSpanProcessor and an OTLPTraceExporter (OTLP over HTTP with JSON
 *   bodies: `@opentelemetry/exporter-trace-otlp-http`). The exporter reads the standard
 *   `OTEL_EXPORTER_OTLP_*` variables itself (endpoint, headers, timeout, compression, certificates);
 * - the sampler of `OTEL_TRACES_SAMPLER` / `OTEL_TRACES_SAMPLER_ARG` (default parentbased_always_on),
 *   and the batch settings of `OTEL_BSP_*`, read here (the SDK package does not read them);
 * - an AsyncLocalStorageContextManager, and the W3C trace-context and baggage propagators;
 * - a resource: the SDK's defaults, `service.name` = `conveyor-<role>`, `service.version` = Conveyor's
 *   version, `service.instance.id` = the node id; `OTEL_RESOURCE_ATTRIBUTES` and `OTEL_SERVICE_NAME`
 *   override them;
 * - a diagnostic logger that sends the SDK's warnings and errors (an unreachable collector, for one)
 *   to the node's logger.
 *
 * `OTEL_SDK_DISABLED=true` or `OTEL_TRACES_EXPORTER=none` leave tracing off. When the SDK packages
 * cannot be loaded, or another SDK registered first (e.g. `node --import` of an auto-instrumentation
 * package), it logs a warning and returns undefined: the node runs on, with that SDK or without one.
 */
import type { Logger } from '../logger.js';
import { VERSION } from '../version.js';

/** The environment variables whose presence makes the CLI set up the SDK. */
export const OTLP_ENDPOINT_VARIABLES = ['OTEL_EXPORTER_OTLP_ENDPOINT', 'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT'] as const;

/** True when the environment names an OTLP endpoint (`startTracingSdk` still honours OTEL_SDK_DISABLED). */
export function tracingRequested(env: NodeJS.ProcessEnv = process.env): boolean {
  return OTLP_ENDPOINT_VARIABLES.some((name) => (env[name] ?? '').trim() !== '');
}

export interface TracingSdkOptions {
  /** The node's role: `start`, `server` or `worker`; the default service name is `conveyor-<role>`. */
  role: string;
  /** `service.instance.id`. */
  instanceId?: string;
  logger: Logger;
}

export interface TracingSdk {
  /** The service name spans are exported under. */
  readonly serviceName: string;
  /** Exports what is buffered. */
  flush(): Promise<void>;
  /** Flushes, shuts the exporter down and unregisters the globals; never rejects, at most `timeoutMs`. */
  shutdown(timeoutMs?: number): Promise<void>;
}

/** How long `shutdown` waits for the last export by default. */
export const SDK_SHUTDOWN_TIMEOUT_MS = 5_000;

/**
 * Registers the SDK (see the module comment). Resolves to undefined, with a warning logged, when it
 * cannot; never rejects.
 */
export async function startTracingSdk(options: TracingSdkOptions): Promise<TracingSdk | undefined> {
  // Read from the process's environment, as the exporter and the resource detector read theirs.
  const env = process.env;
  const logger = options.logger.child({ component: 'tracing' });
  if ((env.OTEL_SDK_DISABLED ?? '').trim().toLowerCase() === 'true' || (env.OTEL_TRACES_EXPORTER ?? '').trim().toLowerCase() === 'none') {
    logger.info({}, 'OpenTelemetry tracing disabled by OTEL_SDK_DISABLED or OTEL_TRACES_EXPORTER');
    return undefined;
  }
  let modules: SdkModules;
  try {
    modules = await loadSdk();
  } catch (err) {
    logger.warn({ err }, 'OpenTelemetry SDK could not be loaded: tracing stays off');
    return undefined;
  }
  try {
    return register(modules, options, env, logger);
  } catch (err) {
    logger.warn({ err }, 'OpenTelemetry SDK could not be set up: tracing stays off');
    return undefined;
  }
}

type SdkModules = Awaited<ReturnType<typeof loadSdk>>;

async function loadSdk() {
  const [api, sdk, contextManager, core, resources, exporter] = await Promise.all([
    import('@opentelemetry/api'),
    import('@opentelemetry/sdk-trace'),
    import('@opentelemetry/context-async-hooks'),
    import('@opentelemetry/core'),
    import('@opentelemetry/resources'),
    import('@opentelemetry/exporter-trace-otlp-http'),
  ]);
  return { api, sdk, contextManager, core, resources, exporter };
}

function register(m: SdkModules, options: TracingSdkOptions, env: NodeJS.ProcessEnv, logger: Logger): TracingSdk | undefined {
  const { api } = m;
  const protocol = (env.OTEL_EXPORTER_OTLP_TRACES_PROTOCOL ?? env.OTEL_EXPORTER_OTLP_PROTOCOL ?? '').trim();
  if (protocol === 'grpc') {
    logger.warn({ protocol }, 'OTLP over gRPC is not available here: spans are sent as OTLP/HTTP with JSON bodies, so the endpoint must be an OTLP/HTTP one (port 4318 on a collector)');
  }

  // The SDK's own warnings (failed exports, bad settings) go to the node's log.
  const diagLevel = m.core.diagLogLevelFromString(env.OTEL_LOG_LEVEL) ?? api.DiagLogLevel.WARN;
  const diagLogger = {
    error: (message: string, ...args: unknown[]) => logger.warn({ args }, `OpenTelemetry: ${message}`),
    warn: (message: string, ...args: unknown[]) => logger.warn({ args }, `OpenTelemetry: ${message}`),
    info: (message: string, ...args: unknown[]) => logger.info({ args }, `OpenTelemetry: ${message}`),
    debug: (message: string, ...args: unknown[]) => logger.debug({ args }, `OpenTelemetry: ${message}`),
    verbose: (message: string, ...args: unknown[]) => logger.debug({ args }, `OpenTelemetry: ${message}`),
  };
  api.diag.setLogger(diagLogger, { logLevel: diagLevel, suppressOverrideMessage: true });

  const { resources } = m;
  const own: Record<string, string> = { 'service.name': `conveyor-${options.role}`, 'service.version': VERSION };
  if (options.instanceId !== undefined) own['service.instance.id'] = options.instanceId;
  // Later merges win: the SDK's defaults, then ours, then OTEL_RESOURCE_ATTRIBUTES and OTEL_SERVICE_NAME.
  const resource = resources
    .defaultResource()
    .merge(resources.resourceFromAttributes(own))
    .merge(resources.detectResources({ detectors: [resources.envDetector] }));
  const serviceName = String(resource.attributes['service.name'] ?? own['service.name']);

  const exporter = new m.exporter.OTLPTraceExporter();
  const processor = new m.sdk.BatchSpanProcessor({ exporter, ...batchSettings(env, logger) });
  const provider = new m.sdk.TracerProvider({ resource, sampler: sampler(m, env, logger), spanProcessors: [processor] });

  const contextManager = new m.contextManager.AsyncLocalStorageContextManager().enable();
  const propagator = new m.core.CompositePropagator({ propagators: [new m.core.W3CTraceContextPropagator(), new m.core.W3CBaggagePropagator()] });
  if (!api.trace.setGlobalTracerProvider(provider)) {
    logger.warn({}, 'an OpenTelemetry tracer provider is registered already (another SDK set up first): Conveyor uses it and does not set up its own');
    contextManager.disable();
    void provider.shutdown().catch(() => {});
    return undefined;
  }
  // A context manager or propagator registered by someone else stays; ours is then unused.
  const ownContext = api.context.setGlobalContextManager(contextManager);
  if (!ownContext) contextManager.disable();
  const ownPropagator = api.propagation.setGlobalPropagator(propagator);

  const endpoint = env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT ?? env.OTEL_EXPORTER_OTLP_ENDPOINT;
  logger.info({ serviceName, endpoint, sampler: env.OTEL_TRACES_SAMPLER ?? 'parentbased_always_on' }, 'OpenTelemetry tracing on: exporting spans over OTLP/HTTP');

  let shutdown: Promise<void> | undefined;
  return {
    serviceName,
    flush: () => provider.forceFlush(),
    shutdown: (timeoutMs = SDK_SHUTDOWN_TIMEOUT_MS) =>
      (shutdown ??= (async () => {
        let timer: NodeJS.Timeout | undefined;
        const timedOut = new Promise<'timeout'>((resolve) => {
          timer = setTimeout(resolve, timeoutMs, 'timeout');
          timer.unref();
        });
        try {
          const result = await Promise.race([provider.shutdown().then(() => 'done' as const), timedOut]);
          if (result === 'timeout') logger.warn({ timeoutMs }, 'OpenTelemetry: the last spans were not exported in time');
        } catch (err) {
          logger.warn({ err }, 'OpenTelemetry: the last spans could not be exported');
        } finally {
          clearTimeout(timer);
          api.trace.disable();
          if (ownContext) api.context.disable();
          if (ownPropagator) api.propagation.disable();
          api.diag.disable();
        }
      })()),
  };
}

/** `OTEL_BSP_*`, as the specification names them; a bad value is ignored with a warning. */
function batchSettings(env: NodeJS.ProcessEnv, logger: Logger) {
  const read = (name: string): number | undefined => {
    const raw = (env[name] ?? '').trim();
    if (raw === '') return undefined;
    const value = Number(raw);
    if (Number.isFinite(value) && value >= 0) return value;
    logger.warn({ name, value: raw }, `ignoring ${name}: not a number of milliseconds or spans`);
    return undefined;
  };
  const settings: { scheduledDelayMillis?: number; exportTimeoutMillis?: number; maxQueueSize?: number; maxExportBatchSize?: number } = {};
  const scheduledDelayMillis = read('OTEL_BSP_SCHEDULE_DELAY');
  const exportTimeoutMillis = read('OTEL_BSP_EXPORT_TIMEOUT');
  const maxQueueSize = read('OTEL_BSP_MAX_QUEUE_SIZE');
  const maxExportBatchSize = read('OTEL_BSP_MAX_EXPORT_BATCH_SIZE');
  if (scheduledDelayMillis !== undefined) settings.scheduledDelayMillis = scheduledDelayMillis;
  if (exportTimeoutMillis !== undefined) settings.exportTimeoutMillis = exportTimeoutMillis;
  if (maxQueueSize !== undefined) settings.maxQueueSize = maxQueueSize;
  if (maxExportBatchSize !== undefined) settings.maxExportBatchSize = maxExportBatchSize;
  return settings;
}

/** `OTEL_TRACES_SAMPLER` (and `_ARG`, a ratio for the traceidratio samplers); unknown names fall back to the default. */
function sampler(m: SdkModules, env: NodeJS.ProcessEnv, logger: Logger) {
  const { AlwaysOnSampler, AlwaysOffSampler, ParentBasedSampler, TraceIdRatioBasedSampler } = m.sdk;
  const name = (env.OTEL_TRACES_SAMPLER ?? '').trim().toLowerCase();
  const ratio = (): number => {
    const raw = (env.OTEL_TRACES_SAMPLER_ARG ?? '').trim();
    const value = raw === '' ? 1 : Number(raw);
    if (Number.isFinite(value) && value >= 0 && value <= 1) return value;
    logger.warn({ value: raw }, 'ignoring OTEL_TRACES_SAMPLER_ARG: not a ratio between 0 and 1; using 1');
    return 1;
  };
  switch (name) {
    case '':
    case 'parentbased_always_on':
      return new ParentBasedSampler({ root: new AlwaysOnSampler() });
    case 'always_on':
      return new AlwaysOnSampler();
    case 'always_off':
      return new AlwaysOffSampler();
    case 'traceidratio':
      return new TraceIdRatioBasedSampler(ratio());
    case 'parentbased_always_off':
      return new ParentBasedSampler({ root: new AlwaysOffSampler() });
    case 'parentbased_traceidratio':
      return new ParentBasedSampler({ root: new TraceIdRatioBasedSampler(ratio()) });
    default:
      logger.warn({ sampler: name }, 'unknown OTEL_TRACES_SAMPLER: using parentbased_always_on');
      return new ParentBasedSampler({ root: new AlwaysOnSampler() });
  }
}
