import { expect } from 'vitest';
import type { DeleteFinishedTasksParams } from '../../src/store/store.js';
import { FINISHED_STATES, type FinishedState } from '../../src/types.js';
import { newTask } from '../helpers/factories.js';
import { getTask, seedTasks, type ConformanceArea, type StoreHarness } from './harness.js';

const HOUR_MS = 3_600_000;

function deleteFinished(h: StoreHarness, params: Omit<DeleteFinishedTasksParams, 'now' | 'limit'> & { limit?: number }): Promise<number> {
  return h.store.deleteFinishedTasks({ limit: 100, ...params, now: h.clock.now() });
}

async function exists(h: StoreHarness, id: string): Promise<boolean> {
  const [task] = await h.store.getTasks({ ids: [id] });
  return task !== null && task !== undefined;
}

async function seedOne(h: StoreHarness, state: FinishedState, queue = 'default'): Promise<string> {
  const [task] = await seedTasks(h, [{ state, queue }]);
  return task!.id;
}

export const retentionTests: ConformanceArea = (setup, test) => {
  for (const state of FINISHED_STATES) {
    test(`deleteFinishedTasks deletes ${state} tasks older than the age and keeps fresh ones`, async () => {
      const h = await setup();
      const old = await seedOne(h, state);
      h.clock.advance(2 * HOUR_MS);
      const fresh = await seedOne(h, state);
      h.clock.advance(1_000);

      expect(await deleteFinished(h, { state, olderThanMs: HOUR_MS })).toBe(1);
      expect(await exists(h, old)).toBe(false);
      expect(await exists(h, fresh)).toBe(true);
      expect(await deleteFinished(h, { state, olderThanMs: HOUR_MS })).toBe(0);
    });
  }

  test('deleteFinishedTasks deletes a task finished exactly olderThanMs ago', async () => {
    const h = await setup();
    const id = await seedOne(h, 'completed');
    h.clock.advance(HOUR_MS - 1);
    expect(await deleteFinished(h, { state: 'completed', olderThanMs: HOUR_MS })).toBe(0);

    h.clock.advance(1);
    expect(await deleteFinished(h, { state: 'completed', olderThanMs: HOUR_MS })).toBe(1);
    expect(await exists(h, id)).toBe(false);
  });

  test('deleteFinishedTasks deletes only the state it is asked for and never unfinished tasks', async () => {
    const h = await setup();
    const [completed, dead, cancelled, pending, scheduled, processing] = await seedTasks(h, [
      { state: 'completed' },
      { state: 'dead' },
      { state: 'cancelled' },
      { state: 'pending' },
      { state: 'scheduled' },
      { state: 'processing' },
    ]);
    h.clock.advance(2 * HOUR_MS);

    expect(await deleteFinished(h, { state: 'dead', olderThanMs: HOUR_MS })).toBe(1);
    expect(await exists(h, dead!.id)).toBe(false);
    for (const task of [completed, cancelled, pending, scheduled, processing]) expect(await exists(h, task!.id)).toBe(true);
  });

  test('deleteFinishedTasks with a queue deletes only that queue’s tasks', async () => {
    const h = await setup();
    const inA = await seedOne(h, 'completed', 'a');
    const inB = await seedOne(h, 'completed', 'b');
    h.clock.advance(2 * HOUR_MS);

    expect(await deleteFinished(h, { queue: 'a', state: 'completed', olderThanMs: HOUR_MS })).toBe(1);
    expect(await exists(h, inA)).toBe(false);
    expect(await exists(h, inB)).toBe(true);
  });

  test('deleteFinishedTasks deletes at most limit tasks per call', async () => {
    const h = await setup();
    await seedTasks(h, Array.from({ length: 5 }, () => ({ state: 'completed' as const })));
    h.clock.advance(2 * HOUR_MS);

    const deleted: number[] = [];
    for (let call = 0; call < 4; call++) deleted.push(await deleteFinished(h, { state: 'completed', olderThanMs: HOUR_MS, limit: 2 }));
    expect(deleted).toEqual([2, 2, 1, 0]);
  });

  test('deleting a finished task frees its idempotency key', async () => {
    const h = await setup();
    const [old] = await seedTasks(h, [{ state: 'completed', overrides: { key: 'nightly-report' } }]);
    h.clock.advance(2 * HOUR_MS);
    expect(await deleteFinished(h, { state: 'completed', olderThanMs: HOUR_MS })).toBe(1);

    const { items } = await h.store.insertTasks({ tasks: [newTask({ key: 'nightly-report' })], now: h.clock.now() });
    expect(items[0]?.created).toBe(true);
    expect(items[0]?.task.id).not.toBe(old!.id);
    expect((await getTask(h, items[0]!.task.id)).state).toBe('pending');
  });
};
