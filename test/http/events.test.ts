/**
 * GET /api/v1/events over real HTTP, against a real `conveyor server` process on each store: the
 * events a client receives, a disconnect, and a reconnect with Last-Event-ID that misses nothing
 * and repeats nothing.
 */
import { describe, expect, it } from 'vitest';
import { EVENTS_START } from '../../src/store/store.js';
import type { TaskEvent } from '../../src/types.js';
import { openSse, type SseMessage } from '../helpers/sse.js';
import { describeForEachStore } from '../worker/harness.js';
import { expectError, openHttpTest, openInProcessHttpTest, type HttpTest } from './helpers.js';

const STORES = ['sqlite', 'redis'] as const;

function parsed(message: SseMessage): TaskEvent {
  const event = JSON.parse(message.data) as TaskEvent;
  expect(message.event).toBe(event.name);
  expect(message.id).toBe(event.id);
  return event;
}

async function submit(h: HttpTest, queue: string, count: number): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < count; i += 1) {
    const res = await h.request('POST', '/api/v1/tasks', { body: { queue, type: 'report', payload: { i }, delay: '1h' } });
    expect(res.status).toBe(201);
    ids.push(res.body.id as string);
  }
  return ids;
}

describe('GET /api/v1/events', () => {
  for (const kind of STORES) {
    it(`${kind}: a client that disconnects and reconnects with Last-Event-ID misses no event`, async () => {
      const h = await openHttpTest(kind);
      const url = `${h.base}/api/v1/events`;

      const first = await openSse(url);
      expect(first.status).toBe(200);
      expect((await first.next()).event).toBe('ready');
      const before = await submit(h, 'reports', 3);
      const seen = (await first.take(3)).map(parsed);
      expect(seen.map((e) => [e.name, e.taskId])).toEqual(before.map((id) => ['task:submitted', id]));
      first.close();

      // While nobody listens: four more tasks, and one of them cancelled.
      const during = await submit(h, 'reports', 4);
      expect((await h.request('POST', `/api/v1/tasks/${during[1]}/cancel`)).status).toBe(200);

      const second = await openSse(url, { 'last-event-id': seen[2]!.id });
      expect(second.status).toBe(200);
      expect((await second.next()).event).toBe('ready');
      const resumed = (await second.take(5)).map(parsed);
      expect(resumed.map((e) => [e.name, e.taskId])).toEqual([
        ...during.map((id) => ['task:submitted', id]),
        ['task:cancelled', during[1]],
      ]);
      // Exactly the store's feed after that point: nothing missed, nothing repeated.
      const { events: stored } = await h.store.readEvents({ after: seen[2]!.id, limit: 100 });
      expect(resumed.map((e) => e.id)).toEqual(stored.map((e) => e.id));
      const { events: everything } = await h.store.readEvents({ after: EVENTS_START, limit: 100 });
      expect([...seen, ...resumed].map((e) => e.id)).toEqual(everything.map((e) => e.id));

      // And live again after the catch-up.
      const [late] = await submit(h, 'reports', 1);
      expect(parsed(await second.next())).toMatchObject({ name: 'task:submitted', taskId: late, queue: 'reports', type: 'report', state: 'scheduled' });
      second.close();
    }, 60_000);

    it(`${kind}: a client that drops before any task event resumes from where it connected`, async () => {
      const h = await openHttpTest(kind);
      const url = `${h.base}/api/v1/events?queue=mail`;
      const first = await openSse(url);
      expect((await first.next()).event).toBe('ready');
      const startedAt = first.lastEventId;
      expect(startedAt).toBeTruthy();
      first.close();

      const ids = await submit(h, 'mail', 2);
      const second = await openSse(url, { 'last-event-id': startedAt! });
      await second.next();
      expect((await second.take(2)).map((m) => parsed(m).taskId)).toEqual(ids);
      second.close();
    }, 60_000);

    it(`${kind}: filters by queue, task type and event name`, async () => {
      const h = await openHttpTest(kind);
      const stream = await openSse(`${h.base}/api/v1/events?queue=b,c&event=task:cancelled&type=report`);
      await stream.next();
      await submit(h, 'a', 1);
      const [inB] = await submit(h, 'b', 1);
      const [other] = await submit(h, 'a', 1);
      await h.request('POST', `/api/v1/tasks/${other}/cancel`);
      await h.request('POST', `/api/v1/tasks/${inB}/cancel`);
      const message = parsed(await stream.next());
      expect(message).toMatchObject({ name: 'task:cancelled', taskId: inB, queue: 'b', error: { reason: 'cancelled' } });
      stream.close();
    }, 60_000);

    it(`${kind}: a malformed Last-Event-ID or filter is a 400 naming the field`, async () => {
      const h = await openHttpTest(kind);
      expectError(await h.request('GET', '/api/v1/events', { headers: { 'last-event-id': 'not a position!' } }), 400, 'CONVEYOR_VALIDATION');
      expectError(await h.request('GET', '/api/v1/events?event=task:exploded'), 400, 'CONVEYOR_VALIDATION', 'event[0]');
      expectError(await h.request('GET', '/api/v1/events?queue=no%20spaces'), 400, 'CONVEYOR_VALIDATION', 'queue[0]');
    }, 60_000);
  }
});

describeForEachStore('GET /api/v1/events in process', (setup) => {
  it('closing the server ends open streams instead of waiting for them', async () => {
    const h = await openInProcessHttpTest(setup);
    const stream = await openSse(`${h.base}/api/v1/events`);
    await stream.next();
    const started = Date.now();
    await h.app!.close();
    expect(Date.now() - started).toBeLessThan(5_000);
    await expect(stream.next(5_000)).rejects.toThrow();
  });
});
