/**
 * The OpenAPI document lists every route Fastify registered (and nothing else), with request schemas
 * generated from the zod schemas that validate the requests.
 */
import type { FastifyInstance } from 'fastify';
import { expect, it, onTestFinished } from 'vitest';
import { createClient } from '../../src/client/client.js';
import { buildHttpApp, registeredRoutes } from '../../src/http/app.js';
import { describeForEachStore, type WorkerTest } from '../worker/harness.js';
import { openHttpTest } from './helpers.js';

interface OpenApiDoc {
  openapi: string;
  paths: Record<string, Record<string, { requestBody?: { content: Record<string, { schema: { properties?: Record<string, unknown> } }> }; parameters: { name: string; in: string }[] }>>;
}

const toOpenApiPath = (url: string): string => url.replace(/:([A-Za-z_]\w*)/g, '{$1}');

async function buildLocalApp(setup: () => Promise<WorkerTest>): Promise<FastifyInstance> {
  const t = await setup();
  const app = await buildHttpApp({ client: createClient({ store: t.store }), store: t.store });
  await app.ready();
  onTestFinished(async () => {
    await app.close();
  });
  return app;
}

describeForEachStore('http: OpenAPI document', (setup, kind) => {
  it('lists every registered route, and only those', async () => {
    const h = await openHttpTest(kind);
    const res = await h.request<OpenApiDoc>('GET', '/api/v1/openapi.json');
    expect(res.status).toBe(200);
    expect(res.body.openapi).toBe('3.1.0');
    // The routes the app registers: read from an app built here (the process's app is out of reach);
    // the process serves the document.
    const local = await buildLocalApp(setup);
    const registered = registeredRoutes(local)
      .map((r) => `${r.method} ${toOpenApiPath(r.url)}`)
      .sort();
    const documented = Object.entries(res.body.paths)
      .flatMap(([path, ops]) => Object.keys(ops).map((method) => `${method.toUpperCase()} ${path}`))
      .sort();
    expect(registered.length).toBeGreaterThanOrEqual(27);
    expect(documented).toEqual(registered);
    // Every route the brief names is there.
    for (const route of [
      'POST /api/v1/tasks',
      'POST /api/v1/tasks/batch',
      'GET /api/v1/tasks/{id}',
      'GET /api/v1/tasks/{id}/dependents',
      'GET /api/v1/tasks',
      'POST /api/v1/tasks/{id}/cancel',
      'POST /api/v1/tasks/{id}/retry',
      'GET /api/v1/tasks/{id}/wait',
      'GET /api/v1/stats',
      'GET /api/v1/queues',
      'POST /api/v1/queues/{name}/pause',
      'POST /api/v1/queues/{name}/resume',
      'GET /api/v1/dead',
      'POST /api/v1/dead/retry',
      'DELETE /api/v1/dead',
      'GET /api/v1/workers',
      'GET /api/v1/cluster',
      'GET /api/v1/schedules',
      'POST /api/v1/schedules',
      'GET /api/v1/schedules/{name}',
      'DELETE /api/v1/schedules/{name}',
      'POST /api/v1/claim',
      'POST /api/v1/tasks/{id}/complete',
      'POST /api/v1/tasks/{id}/fail',
      'POST /api/v1/leases/extend',
      'GET /health',
      'GET /ready',
      'GET /api/v1/openapi.json',
    ]) {
      expect(documented).toContain(route);
    }
  });

  // In-process: it registers an undocumented extra route, which the CLI cannot do.
  it('the comparison catches a route registered without being documented', async () => {
    const t = await setup();
    const app = await buildHttpApp({ client: createClient({ store: t.store }), store: t.store });
    app.get('/api/v1/undocumented', async () => ({}));
    await app.ready();
    const doc = (await app.inject({ method: 'GET', url: '/api/v1/openapi.json' })).json<OpenApiDoc>();
    await app.close();
    const documented = new Set(Object.entries(doc.paths).flatMap(([path, ops]) => Object.keys(ops).map((m) => `${m.toUpperCase()} ${path}`)));
    const missing = registeredRoutes(app).map((r) => `${r.method} ${toOpenApiPath(r.url)}`).filter((r) => !documented.has(r));
    expect(missing).toEqual(['GET /api/v1/undocumented']);
  });

  it('request schemas come from the zod schemas', async () => {
    const h = await openHttpTest(kind);
    const doc = (await h.request<OpenApiDoc>('GET', '/api/v1/openapi.json')).body;
    const submit = doc.paths['/api/v1/tasks']!.post!.requestBody!.content['application/json']!.schema;
    expect(Object.keys(submit.properties ?? {})).toEqual(expect.arrayContaining(['queue', 'type', 'payload', 'priority', 'delay', 'deadline', 'dependsOn', 'key']));
    const claim = doc.paths['/api/v1/claim']!.post!.requestBody!.content['application/json']!.schema;
    expect(Object.keys(claim.properties ?? {})).toEqual(['queues', 'workerId', 'limit', 'leaseMs', 'waitMs']);
    expect(doc.paths['/api/v1/tasks']!.get!.parameters.map((p) => p.name)).toEqual(['queue', 'state', 'type', 'key', 'limit', 'cursor']);
    expect(doc.paths['/api/v1/tasks/{id}']!.get!.parameters).toEqual([expect.objectContaining({ name: 'id', in: 'path' })]);
  });
});
