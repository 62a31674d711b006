/**
 * Client: concurrent `submit` calls share `insertTasks` calls (automatic batching), and each caller
 * still gets its own result or its own error, as if the calls had run one after the other. Also:
 * the quick path of a submit (no zod for the common shape) gives what zod gives.
 */
import { describe, expect, it } from 'vitest';
import { createClient } from '../../src/client/client.js';
import { SUBMIT_BATCH_MAX } from '../../src/client/submit.js';
import { ConveyorError } from '../../src/errors.js';
import { DEFAULT_PAYLOAD_LIMITS, parseSubmitTask, quickSubmitTask, submitTaskSchema, type SubmitTaskOptions } from '../../src/schemas.js';
import type { InsertTasksParams } from '../../src/store/store.js';
import { describeForEachStore, spyStore } from '../worker/harness.js';

const insertSizes = (calls: { params: unknown }[]): number[] => calls.map((call) => (call.params as InsertTasksParams).tasks.length);

describeForEachStore('client: automatic batching of submit', (setup) => {
  it('concurrent submits share inserts; each caller gets its own task, in call order', async () => {
    const t = await setup();
    const spy = spyStore(t.store);
    const client = createClient({ store: spy.store });
    const results = await Promise.all(Array.from({ length: 300 }, (_, i) => client.submit({ type: 'x', payload: { i } })));
    expect(results.map((r) => r.task.payload)).toEqual(Array.from({ length: 300 }, (_, i) => ({ i })));
    expect(results.every((r) => r.created && r.task.state === 'pending')).toBe(true);
    expect(new Set(results.map((r) => r.task.id)).size).toBe(300);
    // Ids are time-ordered in call order.
    expect(results.map((r) => r.task.id)).toEqual(results.map((r) => r.task.id).sort());
    const sizes = insertSizes(spy.callsOf('insertTasks'));
    expect(sizes.reduce((a, b) => a + b, 0)).toBe(300);
    expect(sizes.length).toBeLessThan(10);
    const stored = await t.store.getTasks({ ids: results.map((r) => r.task.id) });
    expect(stored.map((task) => task?.payload)).toEqual(results.map((r) => r.task.payload));
  });

  it(`keeps each insert to at most ${SUBMIT_BATCH_MAX} tasks`, async () => {
    const t = await setup();
    const spy = spyStore(t.store);
    const client = createClient({ store: spy.store });
    const count = SUBMIT_BATCH_MAX + 250;
    const results = await Promise.all(Array.from({ length: count }, () => client.submit({ type: 'x' })));
    expect(results).toHaveLength(count);
    const sizes = insertSizes(spy.callsOf('insertTasks'));
    expect(Math.max(...sizes)).toBeLessThanOrEqual(SUBMIT_BATCH_MAX);
    expect(sizes.reduce((a, b) => a + b, 0)).toBe(count);
  });

  it('a bad input is refused alone: the calls around it succeed', async () => {
    const t = await setup();
    const client = createClient({ store: t.store });
    const settled = await Promise.allSettled([
      client.submit({ type: 'ok', payload: 1 }),
      client.submit({ type: 'ok', priority: 99 } as unknown as SubmitTaskOptions),
      client.submit({ type: 'ok', payload: 3 }),
    ]);
    expect(settled.map((s) => s.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    const error = (settled[1] as PromiseRejectedResult).reason as ConveyorError;
    expect(error.code).toBe('CONVEYOR_VALIDATION');
    expect((error.details.issues as { path: string }[]).map((i) => i.path)).toEqual(['priority']);
  });

  it('a repeated key in concurrent calls behaves as in sequential calls: the second gets the first task, created false', async () => {
    const t = await setup();
    const spy = spyStore(t.store);
    const client = createClient({ store: spy.store });
    const [a, other, b, elsewhere] = await Promise.all([
      client.submit({ type: 'x', key: 'k', payload: 'first' }),
      client.submit({ type: 'x', key: 'other' }),
      client.submit({ type: 'x', key: 'k', payload: 'second' }),
      client.submit({ type: 'x', key: 'k', queue: 'elsewhere' }),
    ]);
    expect([a!.created, other!.created, b!.created, elsewhere!.created]).toEqual([true, true, false, true]);
    expect(b!.task.id).toBe(a!.task.id);
    expect(b!.task.payload).toBe('first');
    expect(elsewhere!.task.id).not.toBe(a!.task.id);
    // The repeat started the next insert; the same key in another queue joined it without starting a third.
    expect(insertSizes(spy.callsOf('insertTasks'))).toEqual([2, 2]);
  });

  it('an unknown dependency fails only its own call, naming dependsOn[i]', async () => {
    const t = await setup();
    const client = createClient({ store: t.store });
    const { task: known } = await client.submit({ type: 'seed' });
    const unknown = '0' + known.id.slice(1, -1) + (known.id.endsWith('0') ? '1' : '0');
    const settled = await Promise.allSettled([
      client.submit({ type: 'a' }),
      client.submit({ type: 'b', dependsOn: [known.id, unknown] }),
      client.submit({ type: 'c', dependsOn: [known.id] }),
      client.submit({ type: 'd' }),
    ]);
    expect(settled.map((s) => s.status)).toEqual(['fulfilled', 'rejected', 'fulfilled', 'fulfilled']);
    const error = (settled[1] as PromiseRejectedResult).reason as ConveyorError;
    expect(error.code).toBe('CONVEYOR_DEPENDENCY_NOT_FOUND');
    expect(error.message).toContain('dependsOn[1]');
    expect(error.details.missing).toEqual([unknown]);
    const child = (settled[2] as PromiseFulfilledResult<{ task: { dependsOn: string[] } }>).value.task;
    expect(child.dependsOn).toEqual([known.id]);
  });

  it('a store error rejects the callers of that insert; later calls go through', async () => {
    const t = await setup();
    const spy = spyStore(t.store);
    const client = createClient({ store: spy.store });
    spy.failNext('insertTasks', 1);
    const settled = await Promise.allSettled([client.submit({ type: 'x' }), client.submit({ type: 'y' })]);
    expect(settled.map((s) => s.status)).toEqual(['rejected', 'rejected']);
    expect(((settled[0] as PromiseRejectedResult).reason as Error).message).toContain('made to fail');
    const after = await Promise.all([client.submit({ type: 'x' }), client.submit({ type: 'y' })]);
    expect(after.every((r) => r.created)).toBe(true);
  });

  it('submitBatch keeps its place among the calls and stays all or nothing', async () => {
    const t = await setup();
    const spy = spyStore(t.store);
    const client = createClient({ store: spy.store });
    const [first, batch, last] = await Promise.all([
      client.submit({ type: 'x', key: 'k' }),
      client.submitBatch([{ type: 'x', key: 'k' }, { type: 'y' }]),
      client.submit({ type: 'z' }),
    ]);
    expect(first.created).toBe(true);
    expect(batch.map((r) => r.created)).toEqual([false, true]);
    expect(batch[0]!.task.id).toBe(first.task.id);
    expect(last.created).toBe(true);
    expect(insertSizes(spy.callsOf('insertTasks'))).toEqual([1, 2, 1]);
  });
});

describe('quickSubmitTask: the common shape without zod', () => {
  const limits = DEFAULT_PAYLOAD_LIMITS;
  const withoutId = <T extends { id: string }>(task: T): Omit<T, 'id'> => {
    const { id: _id, ...rest } = task;
    return rest;
  };

  it('gives what parseSubmitTask gives for the shapes it takes', () => {
    const inputs: unknown[] = [
      { type: 'email' },
      { type: 'email', payload: { to: 'a@example.com', n: [1, 2.5, null, true] } },
      { type: 'a.b:c/d-e', queue: 'q_1.x-y', payload: null, priority: 'critical', retries: 0, key: 'order-1' },
      { type: 'x', priority: 0, retries: 100, delay: 0, timeout: 1, key: null, runAt: null, deadline: null },
      { type: 'x', priority: 10, delay: 5_000, timeout: 30_000, payload: 'text', queue: undefined, retries: undefined },
      { type: 'x', priority: 'low', payload: 0 },
      Object.assign(Object.create(null) as object, { type: 'x', payload: [] }),
    ];
    for (const input of inputs) {
      const quick = quickSubmitTask(input, limits);
      expect(quick, JSON.stringify(input)).toBeDefined();
      expect(withoutId(quick!)).toEqual(withoutId(parseSubmitTask(input, Date.now(), submitTaskSchema)));
    }
  });

  it("applies a client's defaults as the zod path does", () => {
    const backoff = { kind: 'linear', delayMs: 2_000, maxDelayMs: 3_600_000, jitter: 0.1 } as const;
    const quick = quickSubmitTask({ type: 'x' }, limits, { retries: 7, backoff });
    expect(quick).toMatchObject({ maxAttempts: 8, backoff });
    expect(quick!.backoff).not.toBe(backoff);
    expect(quickSubmitTask({ type: 'x', retries: 1 }, limits, { retries: 7 })).toMatchObject({ maxAttempts: 2 });
  });

  it('leaves everything else to zod, valid or not', () => {
    const inputs: unknown[] = [
      'email',
      null,
      [],
      new Date(),
      {},
      { type: '' },
      { type: 'x', retrys: 3 },
      { type: 'x', queue: 'a b' },
      { type: 'x', priority: 11 },
      { type: 'x', priority: 'urgent' },
      { type: 'x', priority: 'toString' },
      { type: 'x', retries: 1.5 },
      { type: 'x', delay: '5s' },
      { type: 'x', delay: -1 },
      { type: 'x', timeout: 0 },
      { type: 'x', key: '' },
      { type: 'x', key: 'k'.repeat(257) },
      { type: 'x', runAt: Date.now() + 1_000 },
      { type: 'x', deadline: Date.now() + 1_000 },
      { type: 'x', backoff: { delay: 10 } },
      { type: 'x', dependsOn: [] },
      { type: 'x', payload: { a: undefined } },
      { type: 'x', payload: JSON.parse('{"__proto__":1}') as unknown },
      { type: 'x', payload: 'y'.repeat(200) },
    ];
    for (const input of inputs) {
      expect(quickSubmitTask(input, { ...limits, maxBytes: 100 }), JSON.stringify(input) ?? String(input)).toBeUndefined();
    }
  });
});
