/**
 * Client: `on(...)` on both stores, with a real worker; events written by another store handle
 * (another process's connection to the same file or Redis) reach the listener too.
 */
import { expect, it } from 'vitest';
import { createClient } from '../../src/client/client.js';
import { isConveyorError } from '../../src/errors.js';
import type { TaskEvent } from '../../src/types.js';
import { eventually } from '../helpers/eventually.js';
import { describeForEachStore, TINY_BACKOFF } from '../worker/harness.js';

describeForEachStore('client: on', (setup) => {
  it('delivers each task event, in order per task, to typed and catch-all listeners', async () => {
    const t = await setup();
    const client = createClient({ store: t.store });
    const all: TaskEvent[] = [];
    const dead: string[] = [];
    const offAll = client.on('*', (event) => all.push(event));
    const offDead = client.on('task:dead', (event) => {
      // Typed: a dead event names why.
      dead.push(`${event.taskId}:${event.error?.reason}`);
    });
    await t.startWorker();
    const ok = (await client.submit({ type: 'echo', payload: 1 })).task;
    const bad = (await client.submit({ type: 'fail', retries: 1, backoff: TINY_BACKOFF })).task;

    await eventually(() => expect(dead).toEqual([`${bad.id}:error`]), { timeoutMs: 15_000 });
    await eventually(() => expect(all.filter((e) => e.taskId === ok.id).map((e) => e.name)).toContain('task:completed'), { timeoutMs: 15_000 });
    expect(all.filter((e) => e.taskId === ok.id).map((e) => e.name)).toEqual(['task:submitted', 'task:claimed', 'task:completed']);
    expect(all.filter((e) => e.taskId === bad.id).map((e) => [e.name, e.attempt])).toEqual([
      ['task:submitted', 0],
      ['task:claimed', 1],
      ['task:failed', 1],
      ['task:claimed', 2],
      ['task:dead', 2],
    ]);
    offAll();
    offDead();
    await client.close();
  });

  it('scopes by queue and type, stops after unsubscribing, and keeps a listener that throws', async () => {
    const t = await setup();
    const client = createClient({ store: t.store });
    const seen: string[] = [];
    let throws = 0;
    const off = client.on('task:submitted', (event) => seen.push(event.taskId), { queues: ['mail'], types: ['send'] });
    client.on('task:submitted', () => {
      throws += 1;
      throw new Error('listener bug');
    });
    const wanted = (await client.submit({ queue: 'mail', type: 'send' })).task;
    await client.submit({ queue: 'mail', type: 'other' });
    await client.submit({ queue: 'sms', type: 'send' });
    await eventually(() => expect(throws).toBe(3), { timeoutMs: 10_000 });
    expect(seen).toEqual([wanted.id]);

    off();
    await client.submit({ queue: 'mail', type: 'send' });
    await eventually(() => expect(throws).toBe(4), { timeoutMs: 10_000 });
    expect(seen).toEqual([wanted.id]);
    await client.close();
  });
});

it('client.on refuses an unknown event name, naming the field', () => {
  const client = createClient({ store: { insertTasks: () => undefined } as never });
  let error: unknown;
  try {
    client.on('task:exploded' as never, () => undefined);
  } catch (err) {
    error = err;
  }
  expect(isConveyorError(error, 'CONVEYOR_VALIDATION')).toBe(true);
  expect((error as { details: { issues: { path: string }[] } }).details.issues[0]!.path).toBe('name');
});
