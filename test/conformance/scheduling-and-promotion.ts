import { expect } from 'vitest';
import { claim, claimOne, getTasks, insertOne, type ConformanceArea, type StoreHarness } from './harness.js';

function promote(h: StoreHarness, limit = 100): Promise<number> {
  return h.store.promoteDueTasks({ limit, now: h.clock.now() });
}

export const schedulingAndPromotionTests: ConformanceArea = (setup, test) => {
  test('a delay is measured on the store’s clock: due delayMs after the insert’s now', async () => {
    const h = await setup();
    const task = await insertOne(h, { delayMs: 60_000 });
    expect(task).toMatchObject({ state: 'scheduled', runAt: h.clock.now() + 60_000 });
    h.clock.advance(59_999);
    expect(await claim(h)).toEqual([]);
    h.clock.advance(1);
    expect((await claim(h)).map((t) => t.id)).toEqual([task.id]);
  });

  test('a delayed task is scheduled and cannot be claimed before it is due', async () => {
    const h = await setup();
    const task = await insertOne(h, { runAt: h.clock.now() + 60_000 });
    expect(task.state).toBe('scheduled');

    expect(await claim(h)).toEqual([]);
    h.clock.advance(59_999);
    expect(await claim(h)).toEqual([]);
  });

  test('a delayed task is claimable once the clock passes its runAt, without promoteDueTasks', async () => {
    const h = await setup();
    const task = await insertOne(h, { runAt: h.clock.now() + 60_000 });
    h.clock.advance(60_001);

    const claimed = await claimOne(h, { expectedId: task.id });
    expect(claimed).toMatchObject({ state: 'processing', attempt: 1, runAt: task.runAt });
  });

  test('promoteDueTasks moves due scheduled tasks to pending and returns how many moved', async () => {
    const h = await setup();
    const now = h.clock.now();
    const in20s = await insertOne(h, { runAt: now + 20_000 });
    const in10s = await insertOne(h, { runAt: now + 10_000 });
    const in60s = await insertOne(h, { runAt: now + 60_000 });
    h.clock.advance(30_000);

    expect(await promote(h)).toBe(2);
    const [a, b, c] = await getTasks(h, [in20s.id, in10s.id, in60s.id]);
    expect([a?.state, b?.state, c?.state]).toEqual(['pending', 'pending', 'scheduled']);
    expect(await promote(h)).toBe(0);

    // Promotion keeps the due time, so FIFO by due time still holds.
    expect((await claim(h)).map((t) => t.id)).toEqual([in10s.id, in20s.id]);
  });

  test('promoteDueTasks moves at most limit tasks per call', async () => {
    const h = await setup();
    for (let i = 0; i < 5; i++) await insertOne(h, { runAt: h.clock.now() + 1_000 });
    h.clock.advance(2_000);

    expect(await promote(h, 2)).toBe(2);
    expect(await promote(h, 2)).toBe(2);
    expect(await promote(h, 2)).toBe(1);
    expect(await promote(h, 2)).toBe(0);
    const [counts] = await h.store.countTasks({ queue: 'default' });
    expect(counts?.counts).toMatchObject({ pending: 5, scheduled: 0 });
  });
};
