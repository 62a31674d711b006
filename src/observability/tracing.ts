/**
 * OpenTelemetry tracing (docs/tracing.md). The core imports `@opentelemetry/api` only: which SDK
 * (if any) records and exports spans is the application's choice. With no SDK registered the API is
 * a no-op, and so is this module: every entry point first asks `sdkTracer()`, which answers
 * `undefined` after one global lookup and one field read (no span, no attributes, no carrier, no
 * context switch), so the submit and attempt hot paths pay a few nanoseconds.
 *
 * Spans (tracer `conveyor`, the package version):
 *
 * - `conveyor.submit <type>` (PRODUCER): one per `submit`, a child of the caller's active context
 *   at the time of the call (the client batches the inserts of one tick, but each task keeps its
 *   own span and context). Its context is written into the task (`NewTask.traceContext`, W3C
 *   `traceparent`/`tracestate`, plus whatever else the global propagator writes, e.g. `baggage`).
 * - `conveyor.submit_batch` (PRODUCER): one per `submitBatch`, whose context goes into every task
 *   of the batch (one span rather than up to 1,000).
 * - `conveyor.run <type>` (CONSUMER): one per attempt, whose parent is the context carried by the
 *   task, so a submit and every attempt of its task share one trace. The handler runs inside it, so
 *   spans a handler makes are its children.
 *
 * Span names carry the task type (a bounded set, like a route) rather than the queue, which is in
 * the `messaging.destination.name` attribute; the OTel messaging conventions are followed for the
 * attributes (`messaging.system` = `conveyor`, `messaging.operation.*`, `messaging.destination.name`,
 * `messaging.message.id`).
 *
 * A task's context is stored only when the submit span is recording (sampled, or recorded by the
 * sampler), so untraced submits keep the stores' plain insert path. The carrier always holds a W3C
 * `traceparent`: when the application registered no propagator (a bare TracerProvider), this module
 * writes and reads that header itself, so the link through the store works with any SDK setup.
 */
import {
  context,
  createTraceState,
  isSpanContextValid,
  propagation,
  ProxyTracerProvider,
  ROOT_CONTEXT,
  SpanKind,
  SpanStatusCode,
  trace,
  TraceFlags,
  type Attributes,
  type Context,
  type Exception,
  type Span,
  type SpanContext,
  type Tracer,
  type TracerProvider,
} from '@opentelemetry/api';
import type { FinishItem, NewTask } from '../store/store.js';
import type { ClaimedTask, Task, TraceCarrier } from '../types.js';
import { VERSION } from '../version.js';

/** The instrumentation scope of every span Conveyor makes. */
export const TRACER_NAME = 'conveyor';

/** Attribute names (OTel messaging semantic conventions, then Conveyor's own). */
export const TRACE_ATTRIBUTES = {
  system: 'messaging.system',
  operationName: 'messaging.operation.name',
  operationType: 'messaging.operation.type',
  destination: 'messaging.destination.name',
  messageId: 'messaging.message.id',
  batchCount: 'messaging.batch.message_count',
  errorType: 'error.type',
  taskType: 'conveyor.task.type',
  priority: 'conveyor.task.priority',
  duplicate: 'conveyor.task.duplicate',
  attempt: 'conveyor.task.attempt',
  maxAttempts: 'conveyor.task.max_attempts',
  workerId: 'conveyor.worker.id',
  outcome: 'conveyor.attempt.outcome',
  errorReason: 'conveyor.error.reason',
  created: 'conveyor.batch.created',
} as const;

const A = TRACE_ATTRIBUTES;
const SYSTEM = 'conveyor';

// ---- the tracer ------------------------------------------------------------------------------------

let cachedProvider: TracerProvider | undefined;
let cachedTracer: Tracer | undefined;

/**
 * The SDK's tracer, or undefined when no SDK is registered. The global provider is always the API's
 * ProxyTracerProvider; it has a delegate once an SDK registers, and is replaced by `trace.disable()`,
 * so the tracer is cached per provider and "no SDK" is asked again each time (a field read), since
 * an SDK may register later. A provider from another copy of the API is used as it is.
 */
export function sdkTracer(): Tracer | undefined {
  const provider = trace.getTracerProvider();
  if (provider === cachedProvider && cachedTracer !== undefined) return cachedTracer;
  cachedProvider = provider;
  cachedTracer = provider instanceof ProxyTracerProvider ? provider.getDelegateTracer(TRACER_NAME, VERSION) : provider.getTracer(TRACER_NAME, VERSION);
  return cachedTracer;
}

/** True when an SDK is registered (spans may be recorded). */
export function tracingEnabled(): boolean {
  return sdkTracer() !== undefined;
}

// ---- carriers --------------------------------------------------------------------------------------

const TRACEPARENT = 'traceparent';
const TRACESTATE = 'tracestate';
const TRACEPARENT_PATTERN = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?$/;

/**
 * The carrier of `ctx`: what the global propagator writes, and a W3C `traceparent` (and
 * `tracestate`) of its own when the propagator wrote none. Undefined when `ctx` holds no valid span.
 */
export function injectTraceContext(ctx: Context): TraceCarrier | undefined {
  const carrier: TraceCarrier = {};
  propagation.inject(ctx, carrier);
  if (carrier[TRACEPARENT] === undefined) {
    const spanContext = trace.getSpanContext(ctx);
    if (spanContext === undefined || !isSpanContextValid(spanContext)) return Object.keys(carrier).length > 0 ? carrier : undefined;
    carrier[TRACEPARENT] = `00-${spanContext.traceId}-${spanContext.spanId}-0${spanContext.traceFlags & TraceFlags.SAMPLED}`;
    const state = spanContext.traceState?.serialize();
    if (state) carrier[TRACESTATE] = state;
  }
  return carrier;
}

/**
 * `base` with the context of `carrier` (or of incoming HTTP headers): the global propagator first,
 * then W3C `traceparent` read here when the propagator found no span (none registered).
 */
export function extractTraceContext(base: Context, carrier: Record<string, unknown>): Context {
  const ctx = propagation.extract(base, carrier);
  const found = trace.getSpanContext(ctx);
  if (found !== undefined && found !== trace.getSpanContext(base) && isSpanContextValid(found)) return ctx;
  const parsed = parseTraceparent(first(carrier[TRACEPARENT]), first(carrier[TRACESTATE]));
  return parsed === undefined ? ctx : trace.setSpanContext(ctx, parsed);
}

function first(value: unknown): string | undefined {
  if (typeof value === 'string') return value;
  if (Array.isArray(value) && typeof value[0] === 'string') return value[0];
  return undefined;
}

/** W3C trace-context level 1: `version-traceid-parentid-flags`; version ff is invalid, 00 has nothing after. */
function parseTraceparent(traceparent: string | undefined, tracestate: string | undefined): SpanContext | undefined {
  if (traceparent === undefined) return undefined;
  const match = TRACEPARENT_PATTERN.exec(traceparent.trim());
  if (match === null) return undefined;
  const [, version, traceId, spanId, flags, rest] = match as unknown as [string, string, string, string, string, string | undefined];
  if (version === 'ff' || (version === '00' && rest !== undefined)) return undefined;
  const spanContext: SpanContext = { traceId, spanId, traceFlags: parseInt(flags, 16) & TraceFlags.SAMPLED, isRemote: true };
  if (tracestate) spanContext.traceState = createTraceState(tracestate);
  return isSpanContextValid(spanContext) ? spanContext : undefined;
}

/**
 * Runs `fn` with the trace context of incoming HTTP headers as its parent (a caller's `traceparent`
 * continues through the API into the task). When a span is already active (the application
 * instruments its HTTP server), that span is the parent and the headers are left to it. Without an
 * SDK: `fn()` as it is.
 */
export function withIncomingTraceContext<T>(headers: Record<string, unknown>, fn: () => T): T {
  if (sdkTracer() === undefined) return fn();
  const active = context.active();
  if (trace.getSpan(active) !== undefined) return fn();
  return context.with(extractTraceContext(active, headers), fn);
}

// ---- submit ----------------------------------------------------------------------------------------

/**
 * Starts the submit span of one task, a child of the active context, and writes its context into
 * `task.traceContext`. Undefined (and nothing written) when the span is not recording.
 */
export function startSubmitSpan(task: NewTask): Span | undefined {
  const tracer = sdkTracer();
  if (tracer === undefined) return undefined;
  const parent = context.active();
  const span = tracer.startSpan(`conveyor.submit ${task.type}`, { kind: SpanKind.PRODUCER }, parent);
  if (!span.isRecording()) return undefined;
  span.setAttributes({
    [A.system]: SYSTEM,
    [A.operationName]: 'send',
    [A.operationType]: 'send',
    [A.destination]: task.queue,
    [A.messageId]: task.id,
    [A.taskType]: task.type,
    [A.priority]: task.priority,
  });
  const carrier = injectTraceContext(trace.setSpan(parent, span));
  if (carrier !== undefined) task.traceContext = carrier;
  return span;
}

/** Starts one span for a whole `submitBatch` and writes its context into every task. */
export function startSubmitBatchSpan(tasks: readonly NewTask[]): Span | undefined {
  const tracer = sdkTracer();
  if (tracer === undefined || tasks.length === 0) return undefined;
  const parent = context.active();
  const span = tracer.startSpan('conveyor.submit_batch', { kind: SpanKind.PRODUCER }, parent);
  if (!span.isRecording()) return undefined;
  const queues = new Set(tasks.map((t) => t.queue));
  const types = new Set(tasks.map((t) => t.type));
  const attributes: Attributes = {
    [A.system]: SYSTEM,
    [A.operationName]: 'send',
    [A.operationType]: 'send',
    [A.batchCount]: tasks.length,
  };
  // Single-valued attributes only when the batch has one value (semantic conventions for batches).
  if (queues.size === 1) attributes[A.destination] = tasks[0]!.queue;
  if (types.size === 1) attributes[A.taskType] = tasks[0]!.type;
  span.setAttributes(attributes);
  const carrier = injectTraceContext(trace.setSpan(parent, span));
  if (carrier !== undefined) for (const task of tasks) task.traceContext = { ...carrier };
  return span;
}

/**
 * Ends a submit span with the store's answer. A repeated idempotency key (`created: false`) is
 * marked `conveyor.task.duplicate`; the existing task keeps its own trace context (the store does
 * not overwrite it), and the span links to the existing task's submit span when it was traced.
 */
export function endSubmitSpan(span: Span, task: Task, created: boolean): void {
  if (!created) {
    span.setAttribute(A.duplicate, true);
    span.setAttribute(A.messageId, task.id);
    const original = task.traceContext === undefined ? undefined : trace.getSpanContext(extractTraceContext(ROOT_CONTEXT, task.traceContext));
    if (original !== undefined) span.addLink({ context: original });
  } else {
    span.setAttribute(A.duplicate, false);
  }
  span.end();
}

/** Ends a `submitBatch` span: how many tasks were created (the rest existed). */
export function endSubmitBatchSpan(span: Span, results: readonly { created: boolean }[]): void {
  let created = 0;
  for (const r of results) if (r.created) created++;
  span.setAttribute(A.created, created);
  span.end();
}

/** Ends a span with ERROR, the exception recorded. */
export function failSpan(span: Span, err: unknown): void {
  const exception = toException(err);
  span.recordException(exception);
  span.setAttribute(A.errorType, exception.name ?? 'Error');
  span.setStatus({ code: SpanStatusCode.ERROR, message: exception.message ?? String(err) });
  span.end();
}

function toException(err: unknown): Exception & { name?: string; message?: string } {
  if (err instanceof Error) return err;
  if (typeof err === 'object' && err !== null && typeof (err as { message?: unknown }).message === 'string') {
    const { name, message, stack } = err as { name?: unknown; message: string; stack?: unknown };
    return { name: typeof name === 'string' ? name : 'Error', message, ...(typeof stack === 'string' ? { stack } : {}) };
  }
  return { name: 'Error', message: String(err) };
}

// ---- attempts --------------------------------------------------------------------------------------

/** An attempt's span and the context its handler runs in. */
export interface AttemptTrace {
  readonly span: Span;
  readonly context: Context;
}

/**
 * Starts the span of one attempt. Its parent is the context the task carries (never the worker's
 * own active context: the claim loop's context is not the task's); a task without one gets a root
 * span. Undefined without an SDK. When the span is not sampled but has a valid context (an unsampled
 * trace), it is still returned, so that spans of the handler follow the same sampling decision.
 */
export function startAttemptSpan(task: ClaimedTask, workerId: string | undefined): AttemptTrace | undefined {
  const tracer = sdkTracer();
  if (tracer === undefined) return undefined;
  const carrier = task.traceContext;
  const parent = carrier === undefined ? ROOT_CONTEXT : extractTraceContext(ROOT_CONTEXT, carrier);
  const span = tracer.startSpan(`conveyor.run ${task.type}`, { kind: SpanKind.CONSUMER }, parent);
  if (span.isRecording()) {
    const attributes: Attributes = {
      [A.system]: SYSTEM,
      [A.operationName]: 'process',
      [A.operationType]: 'process',
      [A.destination]: task.queue,
      [A.messageId]: task.id,
      [A.taskType]: task.type,
      [A.attempt]: task.attempt,
      [A.maxAttempts]: task.maxAttempts,
    };
    if (workerId !== undefined) attributes[A.workerId] = workerId;
    span.setAttributes(attributes);
  } else if (!isSpanContextValid(span.spanContext())) {
    return undefined;
  }
  return { span, context: trace.setSpan(parent, span) };
}

/**
 * Ends an attempt's span with what the attempt came to (`item`: the outcome handed to the completer;
 * undefined = abandoned, its lease lost). `conveyor.attempt.outcome` is completed, failed, released,
 * cancelled or lease_lost; a failure (and a lost lease) sets status ERROR, a failure records the
 * handler's exception (name, message and stack, as the task's error keeps them).
 */
export function endAttemptSpan(span: Span, item: FinishItem | undefined): void {
  if (!span.isRecording()) {
    span.end();
    return;
  }
  if (item === undefined) {
    span.setAttribute(A.outcome, 'lease_lost');
    span.setStatus({ code: SpanStatusCode.ERROR, message: 'the lease was lost: the outcome of this attempt is not written' });
    span.end();
    return;
  }
  switch (item.outcome) {
    case 'complete':
      span.setAttribute(A.outcome, 'completed');
      span.setStatus({ code: SpanStatusCode.OK });
      break;
    case 'fail': {
      const { error } = item;
      span.setAttribute(A.outcome, 'failed');
      span.setAttribute(A.errorReason, error.reason);
      span.setAttribute(A.errorType, error.name ?? error.reason);
      span.recordException({ name: error.name ?? error.reason, message: error.message, ...(error.stack === undefined ? {} : { stack: error.stack }) });
      span.setStatus({ code: SpanStatusCode.ERROR, message: error.message });
      break;
    }
    case 'release':
      span.setAttribute(A.outcome, 'released');
      break;
    case 'cancel':
      span.setAttribute(A.outcome, 'cancelled');
      break;
  }
  span.end();
}

/** Runs `fn` inside an attempt's context, so spans the handler starts are children of its span. */
export function runInAttempt<T>(attempt: AttemptTrace, fn: () => T): T {
  return context.with(attempt.context, fn);
}
