/**
 * Issue 5, point 8: every malformed request gets a 4xx with {"error": {"code", "message",
 * "details"}} naming the field, and creates nothing. Each case asserts the status, the code, the
 * field, and that the store is unchanged.
 */
import { expect, it } from 'vitest';
import { describeForEachStore } from '../worker/harness.js';
import { expectError, openHttpTest, snapshot, type HttpResponse, type HttpTest } from './helpers.js';

const UNKNOWN_ID = '01ARZ3NDEKTSV4RRFFQ69G5FAV';

async function refused(h: HttpTest, send: () => Promise<HttpResponse>, status: number, code: Parameters<typeof expectError>[2], path?: string): Promise<HttpResponse<{ error: { message: string; details: Record<string, unknown> } }>> {
  const before = await snapshot(h.store);
  const res = await send();
  expectError(res, status, code, path);
  expect(await snapshot(h.store)).toEqual(before);
  return res as HttpResponse<{ error: { message: string; details: Record<string, unknown> } }>;
}

describeForEachStore('http: bad input creates nothing', (setup, kind) => {
  it('malformed JSON: 400 naming the body (single and batch)', async () => {
    const h = await openHttpTest(kind);
    const res = await refused(h, () => h.request('POST', '/api/v1/tasks', { raw: '{"type": "a",' }), 400, 'CONVEYOR_VALIDATION', 'body');
    expect(res.body.error.message).toMatch(/body.*not valid JSON/);
    await refused(h, () => h.request('POST', '/api/v1/tasks/batch', { raw: '{"tasks": [}' }), 400, 'CONVEYOR_VALIDATION', 'body');
    await refused(h, () => h.request('POST', '/api/v1/tasks', { raw: '{"type":"a","payload":{"__proto__":{"x":1}}}' }), 400, 'CONVEYOR_VALIDATION', 'body');
    await refused(h, () => h.request('POST', '/api/v1/tasks', { raw: 'type=a', headers: { 'content-type': 'application/x-www-form-urlencoded' } }), 415, 'CONVEYOR_VALIDATION', 'body');
  });

  it('wrong types and unknown fields name the field', async () => {
    const h = await openHttpTest(kind);
    await refused(h, () => h.request('POST', '/api/v1/tasks', { body: { type: 42 } }), 400, 'CONVEYOR_VALIDATION', 'type');
    await refused(h, () => h.request('POST', '/api/v1/tasks', { body: { type: 'a', retries: 'many' } }), 400, 'CONVEYOR_VALIDATION', 'retries');
    await refused(h, () => h.request('POST', '/api/v1/tasks', { body: ['a'] }), 400, 'CONVEYOR_VALIDATION');
    const unknown = await refused(h, () => h.request('POST', '/api/v1/tasks', { body: { type: 'a', retry: 3 } }), 400, 'CONVEYOR_VALIDATION', 'retry');
    expect(unknown.body.error.message).toContain('retries');
    await refused(h, () => h.request('POST', '/api/v1/tasks/batch', { body: { tasks: [{ type: 'a' }], extra: 1 } }), 400, 'CONVEYOR_VALIDATION', 'extra');
    await refused(h, () => h.request('POST', '/api/v1/tasks/batch', { body: { tasks: [{ type: 'a' }, { type: 'b', queue: 7 }] } }), 400, 'CONVEYOR_VALIDATION', 'tasks[1].queue');
    await refused(h, () => h.request('POST', '/api/v1/tasks/batch', { body: { tasks: 'a' } }), 400, 'CONVEYOR_VALIDATION', 'tasks');
  });

  it('priority out of range, negative delay, a deadline in the past', async () => {
    const h = await openHttpTest(kind);
    await refused(h, () => h.request('POST', '/api/v1/tasks', { body: { type: 'a', priority: 11 } }), 400, 'CONVEYOR_VALIDATION', 'priority');
    await refused(h, () => h.request('POST', '/api/v1/tasks', { body: { type: 'a', priority: -1 } }), 400, 'CONVEYOR_VALIDATION', 'priority');
    await refused(h, () => h.request('POST', '/api/v1/tasks', { body: { type: 'a', delay: -5000 } }), 400, 'CONVEYOR_VALIDATION', 'delay');
    await refused(h, () => h.request('POST', '/api/v1/tasks', { body: { type: 'a', deadline: '2001-01-01T00:00:00Z' } }), 400, 'CONVEYOR_VALIDATION', 'deadline');
    await refused(h, () => h.request('POST', '/api/v1/tasks/batch', { body: { tasks: [{ type: 'a' }, { type: 'a', priority: 99 }] } }), 400, 'CONVEYOR_VALIDATION', 'tasks[1].priority');
  });

  it('an invalid cron expression', async () => {
    const h = await openHttpTest(kind);
    await refused(h, () => h.request('POST', '/api/v1/schedules', { body: { name: 'bad', cron: 'every tuesday', task: { type: 'a' } } }), 400, 'CONVEYOR_VALIDATION', 'cron');
    await refused(h, () => h.request('POST', '/api/v1/schedules', { body: { name: 'bad', cron: '0 3 * * *', task: { type: 'a' }, colour: 'red' } }), 400, 'CONVEYOR_VALIDATION', 'colour');
  });

  it('a dependency on an unknown task', async () => {
    const h = await openHttpTest(kind);
    await refused(h, () => h.request('POST', '/api/v1/tasks', { body: { type: 'a', dependsOn: [UNKNOWN_ID] } }), 400, 'CONVEYOR_DEPENDENCY_NOT_FOUND', 'dependsOn[0]');
    await refused(h, () => h.request('POST', '/api/v1/tasks/batch', { body: { tasks: [{ type: 'a' }, { type: 'b', dependsOn: [UNKNOWN_ID] }] } }), 400, 'CONVEYOR_DEPENDENCY_NOT_FOUND', 'tasks[1].dependsOn[0]');
  });

  it('an unknown task id is 404 on every task route', async () => {
    const h = await openHttpTest(kind);
    for (const [method, path] of [
      ['GET', `/api/v1/tasks/${UNKNOWN_ID}`],
      ['POST', `/api/v1/tasks/${UNKNOWN_ID}/cancel`],
      ['POST', `/api/v1/tasks/${UNKNOWN_ID}/retry`],
      ['GET', `/api/v1/tasks/${UNKNOWN_ID}/wait?timeout=1s`],
    ] as const) {
      await refused(h, () => h.request(method, path), 404, 'CONVEYOR_TASK_NOT_FOUND');
    }
    await refused(h, () => h.request('POST', `/api/v1/tasks/${UNKNOWN_ID}/complete`, { body: { token: 'x', result: 1 } }), 404, 'CONVEYOR_TASK_NOT_FOUND');
  });

  it('a payload over the limit is 413 (just over, and far over the body limit), configurable', async () => {
    const h = await openHttpTest(kind, { env: { CONVEYOR_PAYLOAD_LIMIT: '1000' } });
    const justOver = 'x'.repeat(1_000);
    const res = await refused(h, () => h.request('POST', '/api/v1/tasks', { body: { type: 'a', payload: justOver } }), 413, 'CONVEYOR_VALIDATION', 'payload');
    expect(res.body.error.details.limit).toBe(1_000);
    await refused(h, () => h.request('POST', '/api/v1/tasks', { body: { type: 'a', payload: 'y'.repeat(200_000) } }), 413, 'CONVEYOR_VALIDATION', 'body');
    await refused(h, () => h.request('POST', '/api/v1/tasks/batch', { body: { tasks: [{ type: 'a' }, { type: 'a', payload: justOver }] } }), 413, 'CONVEYOR_VALIDATION', 'tasks[1].payload');
    const fits = await h.request('POST', '/api/v1/tasks', { body: { type: 'a', payload: 'x'.repeat(990) } });
    expect(fits.status).toBe(201);
  });

  it('the default limit is 1 MiB', async () => {
    const h = await openHttpTest(kind);
    await refused(h, () => h.request('POST', '/api/v1/tasks', { body: { type: 'a', payload: 'x'.repeat(1024 * 1024) } }), 413, 'CONVEYOR_VALIDATION', 'payload');
  });

  it('worker protocol bodies are validated too', async () => {
    const h = await openHttpTest(kind);
    await refused(h, () => h.request('POST', '/api/v1/claim', { body: { queues: [], workerId: 'w1' } }), 400, 'CONVEYOR_VALIDATION', 'queues');
    await refused(h, () => h.request('POST', '/api/v1/claim', { body: { queues: ['a'], workerId: 'w1', limit: 0 } }), 400, 'CONVEYOR_VALIDATION', 'limit');
    await refused(h, () => h.request('POST', '/api/v1/claim', { body: { queues: ['a'], workerId: 'w1', lease: 5 } }), 400, 'CONVEYOR_VALIDATION', 'lease');
    await refused(h, () => h.request('POST', '/api/v1/leases/extend', { body: { leases: [{ id: 'nope', token: 't' }] } }), 400, 'CONVEYOR_VALIDATION', 'leases[0].id');
    await refused(h, () => h.request('POST', `/api/v1/tasks/${UNKNOWN_ID}/fail`, { body: { token: 't', error: 'boom' } }), 400, 'CONVEYOR_VALIDATION', 'error');
  });
});
