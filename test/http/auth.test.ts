/**
 * Auth: with tokens configured every /api/v1 route needs a bearer token with the route's scope
 * (submit, work, admin; admin passes all); /health and /ready stay open.
 */
import { expect, it } from 'vitest';
import { Authenticator } from '../../src/http/auth.js';
import { describeForEachStore } from '../worker/harness.js';
import { expectError, openHttpTest } from './helpers.js';

const SUBMIT = 'submit-token-0123456789';
const WORK = 'work-token-0123456789';
const ADMIN = 'admin-token-0123456789';
const AUTH = [
  { token: SUBMIT, scopes: ['submit' as const] },
  { token: WORK, scopes: ['work' as const] },
  { token: ADMIN, scopes: ['admin' as const] },
];

describeForEachStore('http: auth', (setup, kind) => {
  it('401 without or with an unknown token, 403 with the wrong scope, 2xx with the right one', async () => {
    const h = await openHttpTest(kind, { env: { CONVEYOR_AUTH__TOKENS: JSON.stringify(AUTH) } });
    const noToken = await h.request('POST', '/api/v1/tasks', { body: { type: 'a' } });
    expectError(noToken, 401, 'CONVEYOR_UNAUTHORIZED');
    expect(noToken.headers.get('www-authenticate')).toBe('Bearer');
    expectError(await h.request('POST', '/api/v1/tasks', { body: { type: 'a' }, token: 'wrong-token-0123456789' }), 401, 'CONVEYOR_UNAUTHORIZED');
    expectError(await h.request('POST', '/api/v1/tasks', { body: { type: 'a' }, headers: { authorization: `Basic ${SUBMIT}` } }), 401, 'CONVEYOR_UNAUTHORIZED');
    const wrongScope = await h.request('POST', '/api/v1/tasks', { body: { type: 'a' }, token: WORK });
    expectError(wrongScope, 403, 'CONVEYOR_FORBIDDEN');
    expect(wrongScope.body.error.details.required).toBe('submit');
    expect((await h.store.listTasks({ limit: 10 })).tasks).toHaveLength(0);

    const created = await h.request('POST', '/api/v1/tasks', { body: { type: 'a', queue: 'q' }, token: SUBMIT });
    expect(created.status).toBe(201);
    expect((await h.request('GET', `/api/v1/tasks/${created.body.id}`, { token: SUBMIT })).status).toBe(200);
    expect((await h.request('GET', `/api/v1/tasks/${created.body.id}/wait?timeout=10ms`, { token: SUBMIT })).status).toBe(408);
    expect((await h.request('POST', '/api/v1/tasks/batch', { body: { tasks: [{ type: 'b' }] }, token: SUBMIT })).status).toBe(201);

    // submit cannot administer or work; work cannot submit or administer.
    expectError(await h.request('GET', '/api/v1/stats', { token: SUBMIT }), 403, 'CONVEYOR_FORBIDDEN');
    expectError(await h.request('POST', '/api/v1/claim', { body: { queues: ['q'], workerId: 'w' }, token: SUBMIT }), 403, 'CONVEYOR_FORBIDDEN');
    expectError(await h.request('GET', '/api/v1/queues', { token: WORK }), 403, 'CONVEYOR_FORBIDDEN');
    const claim = await h.request('POST', '/api/v1/claim', { body: { queues: ['q'], workerId: 'w' }, token: WORK });
    expect(claim.status).toBe(200);
    expect(claim.body.tasks).toHaveLength(1);

    // admin passes every scope.
    for (const [method, path] of [
      ['GET', '/api/v1/stats'],
      ['GET', '/api/v1/queues'],
      ['GET', '/api/v1/tasks'],
      ['GET', '/api/v1/dead'],
      ['GET', '/api/v1/workers'],
      ['GET', '/api/v1/cluster'],
      ['GET', '/api/v1/schedules'],
      ['GET', `/api/v1/tasks/${created.body.id}`],
    ] as const) {
      expectError(await h.request(method, path), 401, 'CONVEYOR_UNAUTHORIZED');
      expect((await h.request(method, path, { token: ADMIN })).status).toBe(200);
    }
    expect((await h.request('POST', '/api/v1/claim', { body: { queues: ['q'], workerId: 'w' }, token: ADMIN })).status).toBe(200);
  });

  it('/health, /ready and the OpenAPI document stay open', async () => {
    const h = await openHttpTest(kind, { env: { CONVEYOR_AUTH__TOKENS: JSON.stringify(AUTH) } });
    expect((await h.request('GET', '/health')).status).toBe(200);
    expect((await h.request('GET', '/ready')).status).toBe(200);
    expect((await h.request('GET', '/api/v1/openapi.json')).status).toBe(200);
  });

  it('without tokens every route is open', async () => {
    const h = await openHttpTest(kind);
    expect((await h.request('GET', '/api/v1/stats')).status).toBe(200);
  });
});

it('Authenticator refuses an empty token or an unknown scope at start-up', () => {
  expect(() => new Authenticator([{ token: '', scopes: ['admin'] }])).toThrow(/auth\[0\]\.token/);
  expect(() => new Authenticator([{ token: 'x'.repeat(20), scopes: ['root' as never] }])).toThrow(/auth\[0\]\.scopes/);
});
