/**
 * Tracing (src/observability/tracing.ts, otel-sdk.ts; docs/tracing.md). Each test registers its own
 * SDK (a TracerProvider with an InMemorySpanExporter and a SimpleSpanProcessor, the
 * AsyncLocalStorageContextManager, the W3C propagators) and unregisters it when it ends, so the
 * global API is back to its no-op state between tests.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { context, propagation, ROOT_CONTEXT, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { CompositePropagator, W3CBaggagePropagator, W3CTraceContextPropagator } from '@opentelemetry/core';
import { InMemorySpanExporter, SimpleSpanProcessor, TracerProvider, type ReadableSpan } from '@opentelemetry/sdk-trace';
import { afterAll, describe, expect, onTestFinished, test, vi } from 'vitest';
import { createClient } from '../../src/client/client.js';
import type { Logger } from '../../src/logger.js';
import { startTracingSdk, tracingRequested } from '../../src/observability/otel-sdk.js';
import { extractTraceContext, injectTraceContext, tracingEnabled, TRACER_NAME } from '../../src/observability/tracing.js';
import type { Task } from '../../src/types.js';
import type { Handlers } from '../../src/worker/handlers.js';
import { killAll } from '../cli/cli-process.js';
import { openHttpTest, openInProcessHttpTest } from '../http/helpers.js';
import { describeForEachStore, openWorkerTest, spyStore, TINY_BACKOFF, waitUntil } from '../worker/harness.js';

afterAll(killAll);

// ---- an SDK per test -----------------------------------------------------------------------------------

interface TestSdk {
  exporter: InMemorySpanExporter;
  spans(): ReadableSpan[];
  named(prefix: string): ReadableSpan[];
}

function registerSdk({ propagator = true }: { propagator?: boolean } = {}): TestSdk {
  const exporter = new InMemorySpanExporter();
  const provider = new TracerProvider({ spanProcessors: [new SimpleSpanProcessor({ exporter })] });
  expect(trace.setGlobalTracerProvider(provider)).toBe(true);
  expect(context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable())).toBe(true);
  if (propagator) {
    propagation.setGlobalPropagator(new CompositePropagator({ propagators: [new W3CTraceContextPropagator(), new W3CBaggagePropagator()] }));
  }
  onTestFinished(async () => {
    await provider.shutdown();
    unregisterSdk();
  });
  const spans = (): ReadableSpan[] => exporter.getFinishedSpans();
  return { exporter, spans, named: (prefix) => spans().filter((s) => s.name.startsWith(prefix)) };
}

function unregisterSdk(): void {
  trace.disable();
  context.disable();
  propagation.disable();
}

const idOf = (span: ReadableSpan): string => span.spanContext().spanId;
const traceOf = (span: ReadableSpan): string => span.spanContext().traceId;
const parentOf = (span: ReadableSpan): string | undefined => span.parentSpanContext?.spanId;

/** Fails on attempt 1, succeeds on attempt 2; each attempt makes a span of its own inside the handler. */
const FLAKY: Handlers = {
  flaky: (_task, ctx) => {
    trace.getTracer('handler').startActiveSpan(`handler step ${ctx.attempt}`, (span) => span.end());
    if (ctx.attempt === 1) throw new TypeError('first attempt fails');
    return { ok: true, attempt: ctx.attempt };
  },
};

/** The acceptance check: one trace with the parent, the submit span and two attempts (ERROR, then OK). */
function expectOneTrace(sdk: TestSdk, task: Task, parentSpanId: string, traceId: string): void {
  const [submit, ...moreSubmits] = sdk.named('conveyor.submit');
  expect(moreSubmits).toEqual([]);
  expect(submit!.name).toBe('conveyor.submit flaky');
  expect(submit!.kind).toBe(SpanKind.PRODUCER);
  expect(traceOf(submit!)).toBe(traceId);
  expect(parentOf(submit!)).toBe(parentSpanId);
  expect(submit!.attributes).toMatchObject({
    'messaging.system': 'conveyor',
    'messaging.operation.name': 'send',
    'messaging.destination.name': 'default',
    'messaging.message.id': task.id,
    'conveyor.task.type': 'flaky',
    'conveyor.task.duplicate': false,
  });
  expect(submit!.instrumentationScope.name).toBe(TRACER_NAME);

  const attempts = sdk.named('conveyor.run').sort((a, b) => Number(a.attributes['conveyor.task.attempt']) - Number(b.attributes['conveyor.task.attempt']));
  expect(attempts.map((s) => s.name)).toEqual(['conveyor.run flaky', 'conveyor.run flaky']);
  for (const [i, attempt] of attempts.entries()) {
    expect(attempt.kind).toBe(SpanKind.CONSUMER);
    expect(traceOf(attempt)).toBe(traceId);
    expect(parentOf(attempt)).toBe(idOf(submit!));
    expect(attempt.attributes).toMatchObject({
      'messaging.system': 'conveyor',
      'messaging.operation.name': 'process',
      'messaging.destination.name': 'default',
      'messaging.message.id': task.id,
      'conveyor.task.type': 'flaky',
      'conveyor.task.attempt': i + 1,
      'conveyor.task.max_attempts': 2,
    });
    expect(typeof attempt.attributes['conveyor.worker.id']).toBe('string');
  }
  const [first, second] = attempts as [ReadableSpan, ReadableSpan];
  expect(first.status).toMatchObject({ code: SpanStatusCode.ERROR, message: 'first attempt fails' });
  expect(first.attributes).toMatchObject({ 'conveyor.attempt.outcome': 'failed', 'conveyor.error.reason': 'error', 'error.type': 'TypeError' });
  const exception = first.events.find((e) => e.name === 'exception');
  expect(exception?.attributes).toMatchObject({ 'exception.type': 'TypeError', 'exception.message': 'first attempt fails' });
  expect(String(exception?.attributes?.['exception.stacktrace'])).toContain('first attempt fails');
  expect(second.status.code).toBe(SpanStatusCode.OK);
  expect(second.attributes['conveyor.attempt.outcome']).toBe('completed');

  // Spans a handler makes are children of its attempt's span.
  const steps = sdk.named('handler step');
  expect(steps.map((s) => [s.name, parentOf(s)]).sort()).toEqual([
    ['handler step 1', idOf(first)],
    ['handler step 2', idOf(second)],
  ]);
  for (const span of sdk.spans()) expect(traceOf(span)).toBe(traceId);
}

// ---- submit → attempts, on both stores ---------------------------------------------------------------

describeForEachStore('tracing: one trace from the submit to every attempt', (setup) => {
  test('a parent span, the submit span and two attempt spans (failed, then completed) share one trace', async () => {
    const sdk = registerSdk();
    const t = await setup();
    const client = createClient({ store: t.store });
    await t.startWorker({ handlers: FLAKY });

    const tracer = trace.getTracer('test');
    const { parent, submitted } = await tracer.startActiveSpan('request', async (parent) => {
      const submitted = await client.submit({ type: 'flaky', retries: 1, backoff: TINY_BACKOFF });
      parent.end();
      return { parent, submitted };
    });
    expect(submitted.created).toBe(true);
    const { traceId, spanId } = parent.spanContext();

    const done = await t.waitForState(submitted.task.id, 'completed');
    expect(done.attempt).toBe(2);
    await waitUntil(() => sdk.named('conveyor.run').length === 2 && sdk.named('handler step').length === 2, 'two attempt spans ended');

    // The task carries the submit span's context (W3C traceparent).
    const [submit] = sdk.named('conveyor.submit');
    expect(done.traceContext?.traceparent).toBe(`00-${traceId}-${idOf(submit!)}-01`);
    expect(sdk.named('request').map(idOf)).toEqual([spanId]);
    expectOneTrace(sdk, done, spanId, traceId);
  });

  test('calls batched into one insert each get their own span and context, from their own caller', async () => {
    const sdk = registerSdk();
    const t = await setup();
    const spy = spyStore(t.store);
    const client = createClient({ store: spy.store });
    const tracer = trace.getTracer('test');
    // Two callers in the same tick: one insert, two traces.
    const [a, b] = await Promise.all(
      ['caller a', 'caller b'].map((name) =>
        tracer.startActiveSpan(name, async (span) => {
          const result = await client.submit({ type: 'echo', payload: name });
          span.end();
          return { span, result };
        }),
      ),
    );
    expect(spy.callsOf('insertTasks')).toHaveLength(1);
    const submits = sdk.named('conveyor.submit');
    expect(submits).toHaveLength(2);
    for (const { span, result } of [a!, b!]) {
      const mine = submits.find((s) => traceOf(s) === span.spanContext().traceId)!;
      expect(parentOf(mine)).toBe(span.spanContext().spanId);
      expect(mine.attributes['messaging.message.id']).toBe(result.task.id);
      expect(result.task.traceContext?.traceparent).toBe(`00-${traceOf(mine)}-${idOf(mine)}-01`);
    }
    expect(traceOf(submits[0]!)).not.toBe(traceOf(submits[1]!));
  });

  test('a repeated key: the span says duplicate and links to the original submit; the task keeps its first context', async () => {
    const sdk = registerSdk();
    const t = await setup();
    const client = createClient({ store: t.store });
    const tracer = trace.getTracer('test');
    const submitIn = (name: string) =>
      tracer.startActiveSpan(name, async (span) => {
        const result = await client.submit({ type: 'echo', key: 'order-42' });
        span.end();
        return result;
      });
    const first = await submitIn('first');
    const second = await submitIn('second');
    expect(second.created).toBe(false);
    expect(second.task.id).toBe(first.task.id);

    const [original, repeat] = sdk.named('conveyor.submit').sort((x, y) => (x.startTime[0] - y.startTime[0]) || (x.startTime[1] - y.startTime[1]));
    expect(original!.attributes['conveyor.task.duplicate']).toBe(false);
    expect(repeat!.attributes).toMatchObject({ 'conveyor.task.duplicate': true, 'messaging.message.id': first.task.id });
    expect(repeat!.links.map((l) => l.context.spanId)).toEqual([idOf(original!)]);
    expect(traceOf(repeat!)).not.toBe(traceOf(original!));
    expect(second.task.traceContext).toEqual(first.task.traceContext);
    expect((await t.getTask(first.task.id)).traceContext?.traceparent).toContain(idOf(original!));
  });

  test('a dead task retried by an operator keeps its context: the new attempt joins the same trace', async () => {
    const sdk = registerSdk();
    const t = await setup();
    const client = createClient({ store: t.store });
    const { task } = await client.submit({ type: 'fail', retries: 0 });
    await t.startWorker();
    await t.waitForState(task.id, 'dead');
    const retried = await client.retry(task.id);
    expect(retried.task.traceContext).toEqual(task.traceContext);
    await t.waitForTasks([task.id], (x) => x.state === 'dead' && x.attempt === 1 && x.error?.attempt === 1);
    await waitUntil(() => sdk.named('conveyor.run').length === 2, 'two attempt spans ended');
    const [submit] = sdk.named('conveyor.submit');
    for (const run of sdk.named('conveyor.run')) expect([traceOf(run), parentOf(run)]).toEqual([traceOf(submit!), idOf(submit!)]);
  });
});

// ---- other paths, on SQLite -----------------------------------------------------------------------------

describe('tracing: submitBatch, errors, no propagator', () => {
  test('submitBatch: one span for the batch, whose context every task carries', async () => {
    const sdk = registerSdk();
    const t = await openWorkerTest('sqlite');
    const client = createClient({ store: t.store });
    const results = await client.submitBatch([
      { type: 'echo', queue: 'mail' },
      { type: 'echo', queue: 'mail' },
      { type: 'echo', queue: 'mail' },
    ]);
    const [batch, ...more] = sdk.named('conveyor.submit');
    expect(more).toEqual([]);
    expect(batch!.name).toBe('conveyor.submit_batch');
    expect(batch!.attributes).toMatchObject({
      'messaging.batch.message_count': 3,
      'messaging.destination.name': 'mail',
      'conveyor.task.type': 'echo',
      'conveyor.batch.created': 3,
    });
    for (const { task } of results) expect(task.traceContext?.traceparent).toBe(`00-${traceOf(batch!)}-${idOf(batch!)}-01`);
  });

  test('a refused insert ends the submit span with ERROR', async () => {
    const sdk = registerSdk();
    const t = await openWorkerTest('sqlite');
    const client = createClient({ store: t.store });
    await expect(client.submit({ type: 'echo', dependsOn: ['01J0000000000000000000000Z'] })).rejects.toMatchObject({ code: 'CONVEYOR_DEPENDENCY_NOT_FOUND' });
    const [submit] = sdk.named('conveyor.submit');
    expect(submit!.status.code).toBe(SpanStatusCode.ERROR);
    expect(submit!.events.map((e) => e.name)).toContain('exception');
  });

  test('with no propagator registered, the task still carries a W3C traceparent and the attempts join the trace', async () => {
    const sdk = registerSdk({ propagator: false });
    const t = await openWorkerTest('sqlite');
    const client = createClient({ store: t.store });
    await t.startWorker({ handlers: FLAKY });
    const parent = trace.getTracer('test').startSpan('request');
    const submitted = await context.with(trace.setSpan(context.active(), parent), () => client.submit({ type: 'flaky', retries: 1, backoff: TINY_BACKOFF }));
    parent.end();
    const done = await t.waitForState(submitted.task.id, 'completed');
    await waitUntil(() => sdk.named('conveyor.run').length === 2 && sdk.named('handler step').length === 2, 'two attempt spans ended');
    expectOneTrace(sdk, done, parent.spanContext().spanId, parent.spanContext().traceId);
  });

  test('the carrier codec: inject writes traceparent (and tracestate); extract reads it back', () => {
    // No SDK at all: only the codec of the API's span contexts.
    const spanContext = { traceId: '0af7651916cd43dd8448eb211c80319c', spanId: 'b7ad6b7169203331', traceFlags: 1 };
    const carrier = injectTraceContext(trace.setSpanContext(ROOT_CONTEXT, spanContext));
    expect(carrier).toEqual({ traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01' });
    const back = trace.getSpanContext(extractTraceContext(ROOT_CONTEXT, { ...carrier, tracestate: 'vendor=value' }));
    expect(back).toMatchObject({ ...spanContext, isRemote: true });
    expect(back?.traceState?.get('vendor')).toBe('value');
    expect(injectTraceContext(ROOT_CONTEXT)).toBeUndefined();
    for (const bad of ['', 'garbage', '00-00000000000000000000000000000000-b7ad6b7169203331-01', 'ff-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01']) {
      expect(trace.getSpanContext(extractTraceContext(ROOT_CONTEXT, { traceparent: bad }))).toBeUndefined();
    }
  });
});

// ---- the HTTP API ---------------------------------------------------------------------------------------

describe('tracing: the HTTP API continues a caller trace', () => {
  const traceId = '4bf92f3577b34da6a3ce929d0e0e4736';
  const callerSpanId = '00f067aa0ba902b7';
  const traceparent = `00-${traceId}-${callerSpanId}-01`;

  test('POST /api/v1/tasks with a traceparent header: the submit span is its child, and the attempts follow', async () => {
    const sdk = registerSdk();
    const h = await openInProcessHttpTest(() => openWorkerTest('sqlite'));
    await h.t.startWorker({ handlers: FLAKY });
    const res = await h.request('POST', '/api/v1/tasks', { body: { type: 'flaky', retries: 1, backoff: TINY_BACKOFF }, headers: { traceparent } });
    expect(res.status).toBe(201);
    // The task as the API returns it carries its context too (for workers in other languages).
    expect(res.body.traceContext.traceparent).toMatch(new RegExp(`^00-${traceId}-`));
    expect((await h.request('GET', `/api/v1/tasks/${res.body.id}`)).body.traceContext).toEqual(res.body.traceContext);
    const done = await h.t.waitForState(res.body.id, 'completed');
    await waitUntil(() => sdk.named('conveyor.run').length === 2 && sdk.named('handler step').length === 2, 'two attempt spans ended');
    expectOneTrace(sdk, done, callerSpanId, traceId);
  });

  test('POST /api/v1/tasks/batch with a traceparent header: the batch span is its child', async () => {
    const sdk = registerSdk();
    const h = await openInProcessHttpTest(() => openWorkerTest('sqlite'));
    const res = await h.request('POST', '/api/v1/tasks/batch', { body: { tasks: [{ type: 'echo' }, { type: 'echo' }] }, headers: { traceparent } });
    expect(res.status).toBe(201);
    const [batch] = sdk.named('conveyor.submit_batch');
    expect(traceOf(batch!)).toBe(traceId);
    expect(parentOf(batch!)).toBe(callerSpanId);
    const tasks = await h.t.getTasks(res.body.items.map((i: { task: Task }) => i.task.id));
    for (const task of tasks) expect(task.traceContext?.traceparent).toBe(`00-${traceId}-${idOf(batch!)}-01`);
  });

  test('without a traceparent header the submit span is a root', async () => {
    const sdk = registerSdk();
    const h = await openInProcessHttpTest(() => openWorkerTest('sqlite'));
    expect((await h.request('POST', '/api/v1/tasks', { body: { type: 'echo' } })).status).toBe(201);
    const [submit] = sdk.named('conveyor.submit');
    expect(submit!.parentSpanContext).toBeUndefined();
  });
});

// ---- no SDK -----------------------------------------------------------------------------------------------

describe('tracing: with no SDK registered', () => {
  test('submit stores no traceContext (also with a traceparent header), and tasks run as before', async () => {
    expect(tracingEnabled()).toBe(false);
    const t = await openWorkerTest('sqlite');
    const spy = spyStore(t.store);
    const h = await openInProcessHttpTest(async () => t, { store: spy.store });
    const client = createClient({ store: spy.store });
    const { task } = await client.submit({ type: 'echo', payload: 1 });
    const [batched] = await client.submitBatch([{ type: 'echo' }]);
    const res = await h.request('POST', '/api/v1/tasks', { body: { type: 'echo' }, headers: { traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01' } });
    expect(res.status).toBe(201);
    for (const call of spy.callsOf('insertTasks')) for (const inserted of call.params.tasks) expect(inserted).not.toHaveProperty('traceContext');
    const stored = await t.getTasks([task.id, batched!.task.id, res.body.id]);
    for (const s of stored) expect(s).not.toHaveProperty('traceContext');
    await t.startWorker(); // the fixture handlers: echo
    await t.waitForStates(stored.map((s) => s.id), 'completed');
  });

  test('an SDK registered after the first submit is used from then on, and unregistering it turns tracing off again', async () => {
    const t = await openWorkerTest('sqlite');
    const client = createClient({ store: t.store });
    expect((await client.submit({ type: 'echo' })).task.traceContext).toBeUndefined();
    const sdk = registerSdk();
    expect(tracingEnabled()).toBe(true);
    expect((await client.submit({ type: 'echo' })).task.traceContext?.traceparent).toMatch(/^00-/);
    expect(sdk.named('conveyor.submit')).toHaveLength(1);
    unregisterSdk();
    expect(tracingEnabled()).toBe(false);
    expect((await client.submit({ type: 'echo' })).task.traceContext).toBeUndefined();
  });
});

// ---- the SDK the CLI sets up ----------------------------------------------------------------------------

function recordingLogger(): Logger & { lines: { level: string; msg: string; obj: object }[] } {
  const lines: { level: string; msg: string; obj: object }[] = [];
  const make = (): Logger => ({
    debug: (obj, msg = '') => void lines.push({ level: 'debug', msg, obj }),
    info: (obj, msg = '') => void lines.push({ level: 'info', msg, obj }),
    warn: (obj, msg = '') => void lines.push({ level: 'warn', msg, obj }),
    error: (obj, msg = '') => void lines.push({ level: 'error', msg, obj }),
    child: () => make(),
  });
  return Object.assign(make(), { lines });
}

/** A port nothing listens on (taken, then given back). */
async function unusedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

describe('tracing: the SDK set up from the environment (otel-sdk.ts)', () => {
  test('tracingRequested: only when an OTLP endpoint is named', () => {
    expect(tracingRequested({})).toBe(false);
    expect(tracingRequested({ OTEL_EXPORTER_OTLP_ENDPOINT: ' ' })).toBe(false);
    expect(tracingRequested({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318' })).toBe(true);
    expect(tracingRequested({ OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://collector:4318/v1/traces' })).toBe(true);
  });

  test('registers a provider, context manager and propagators; shuts down without throwing when the collector is unreachable', async () => {
    const port = await unusedPort();
    vi.stubEnv('OTEL_EXPORTER_OTLP_ENDPOINT', `http://127.0.0.1:${port}`);
    vi.stubEnv('OTEL_EXPORTER_OTLP_TIMEOUT', '500');
    vi.stubEnv('OTEL_SERVICE_NAME', '');
    onTestFinished(() => void vi.unstubAllEnvs());
    const logger = recordingLogger();
    const sdk = await startTracingSdk({ role: 'worker', instanceId: 'node-1', logger });
    onTestFinished(() => sdk?.shutdown(100));
    expect(sdk?.serviceName).toBe('conveyor-worker');
    expect(tracingEnabled()).toBe(true);

    // Spans record, context flows through async calls, and the W3C propagator is the global one.
    const tracer = trace.getTracer('test');
    await tracer.startActiveSpan('outer', async (outer) => {
      await new Promise((resolve) => setTimeout(resolve, 1));
      expect(trace.getSpan(context.active())).toBe(outer);
      const carrier: Record<string, string> = {};
      propagation.inject(context.active(), carrier);
      expect(carrier.traceparent).toBe(`00-${outer.spanContext().traceId}-${outer.spanContext().spanId}-01`);
      expect(outer.isRecording()).toBe(true);
      outer.end();
    });

    const started = Date.now();
    await expect(sdk!.shutdown(3_000)).resolves.toBeUndefined();
    expect(Date.now() - started).toBeLessThan(4_000);
    expect(tracingEnabled()).toBe(false);
    expect(logger.lines.some((l) => l.level === 'info' && /tracing on/.test(l.msg))).toBe(true);
  });

  test('OTEL_SERVICE_NAME wins over conveyor-<role>; OTEL_SDK_DISABLED and OTEL_TRACES_EXPORTER=none leave tracing off', async () => {
    onTestFinished(() => void vi.unstubAllEnvs());
    vi.stubEnv('OTEL_EXPORTER_OTLP_ENDPOINT', `http://127.0.0.1:${await unusedPort()}`);
    vi.stubEnv('OTEL_SERVICE_NAME', 'billing-queue');
    const named = await startTracingSdk({ role: 'server', logger: recordingLogger() });
    expect(named?.serviceName).toBe('billing-queue');
    await named?.shutdown(1_000);
    expect(tracingEnabled()).toBe(false);

    vi.stubEnv('OTEL_SDK_DISABLED', 'true');
    expect(await startTracingSdk({ role: 'server', logger: recordingLogger() })).toBeUndefined();
    vi.stubEnv('OTEL_SDK_DISABLED', '');
    vi.stubEnv('OTEL_TRACES_EXPORTER', 'none');
    expect(await startTracingSdk({ role: 'server', logger: recordingLogger() })).toBeUndefined();
    expect(tracingEnabled()).toBe(false);
  });

  test('another SDK registered first: a warning, and that one is kept', async () => {
    const sdk = registerSdk();
    const logger = recordingLogger();
    onTestFinished(() => void vi.unstubAllEnvs());
    vi.stubEnv('OTEL_EXPORTER_OTLP_ENDPOINT', 'http://127.0.0.1:1');
    expect(await startTracingSdk({ role: 'worker', logger })).toBeUndefined();
    expect(logger.lines.some((l) => l.level === 'warn' && /registered already/.test(l.msg))).toBe(true);
    trace.getTracer('test').startSpan('still recorded').end();
    expect(sdk.named('still recorded')).toHaveLength(1);
  });
});

// ---- the CLI, end to end -----------------------------------------------------------------------------------

interface OtlpSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  status?: { code?: number };
}

/** A stand-in OTLP/HTTP collector: keeps the spans of every POST /v1/traces, by service name. */
async function startCollector(): Promise<{ url: string; spans: { service: string; span: OtlpSpan }[]; server: Server }> {
  const spans: { service: string; span: OtlpSpan }[] = [];
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (chunk: Buffer) => (body += chunk.toString()));
    req.on('end', () => {
      if (req.url === '/v1/traces') {
        const parsed = JSON.parse(body) as {
          resourceSpans: { resource: { attributes: { key: string; value: { stringValue?: string } }[] }; scopeSpans: { spans: OtlpSpan[] }[] }[];
        };
        for (const rs of parsed.resourceSpans) {
          const service = rs.resource.attributes.find((a) => a.key === 'service.name')?.value.stringValue ?? '';
          for (const ss of rs.scopeSpans) for (const span of ss.spans) spans.push({ service, span });
        }
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  return { url: `http://127.0.0.1:${port}`, spans, server };
}

describe('tracing: `conveyor start` exports spans when OTEL_EXPORTER_OTLP_ENDPOINT is set', () => {
  test('the submit over HTTP and both attempts reach the collector in the caller trace, flushed on shutdown', async () => {
    const collector = await startCollector();
    onTestFinished(() => new Promise<void>((resolve) => collector.server.close(() => resolve())));
    const dir = await mkdtemp(join(tmpdir(), 'conveyor-tracing-'));
    onTestFinished(() => rm(dir, { recursive: true, force: true }));
    const handlers = join(dir, 'handlers.mjs');
    await writeFile(
      handlers,
      "export default { flaky: (_task, ctx) => { if (ctx.attempt === 1) throw new Error('first attempt fails'); return { ok: true }; } };\n",
    );
    const h = await openHttpTest('sqlite', {
      command: 'start',
      args: ['--handlers', handlers],
      // A long batch delay: the spans can only arrive through the flush at shutdown.
      env: { OTEL_EXPORTER_OTLP_ENDPOINT: collector.url, OTEL_BSP_SCHEDULE_DELAY: '60000', OTEL_SERVICE_NAME: '' },
    });
    const traceId = '4bf92f3577b34da6a3ce929d0e0e4736';
    const res = await h.request('POST', '/api/v1/tasks', {
      body: { type: 'flaky', retries: 1, backoff: { type: 'fixed', delay: 10, jitter: 0 } },
      headers: { traceparent: `00-${traceId}-00f067aa0ba902b7-01` },
    });
    expect(res.status).toBe(201);
    await h.t.waitForState(res.body.id, 'completed');
    expect(collector.spans).toEqual([]);

    h.process!.child.kill('SIGTERM');
    const exit = await h.process!.exit;
    expect(exit.code).toBe(0);
    const ours = collector.spans.filter((s) => s.span.traceId === traceId);
    expect(new Set(ours.map((s) => s.service))).toEqual(new Set(['conveyor-start']));
    const submit = ours.find((s) => s.span.name === 'conveyor.submit flaky')!.span;
    expect(submit.parentSpanId).toBe('00f067aa0ba902b7');
    const runs = ours.filter((s) => s.span.name === 'conveyor.run flaky').map((s) => s.span);
    expect(runs).toHaveLength(2);
    for (const run of runs) expect(run.parentSpanId).toBe(submit.spanId);
    expect(runs.map((r) => r.status?.code ?? 0).sort()).toEqual([1, 2]); // OK, ERROR
  });
});
