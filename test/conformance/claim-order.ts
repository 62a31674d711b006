import { expect } from 'vitest';
import { PRIORITY_MAX, PRIORITY_MIN } from '../../src/types.js';
import { newTask } from '../helpers/factories.js';
import { claim, claimOne, finishOne, getTask, insertOne, insertTasks, leaseOf, LEASE_MS, WORKER_ID, type ConformanceArea } from './harness.js';

/** A fixed-seed shuffle (mulberry32 + Fisher–Yates): the order looks random but every run is the same. */
function shuffled<T>(items: T[], seed: number): T[] {
  let state = seed;
  const random = (): number => {
    state = (state + 0x6d2b79f5) | 0;
    let t = Math.imul(state ^ (state >>> 15), 1 | state);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

export const claimOrderTests: ConformanceArea = (setup, test) => {
  test('priorities 0 to 10 inserted shuffled come out highest first, FIFO within each level', async () => {
    const h = await setup();
    const PER_LEVEL = 3;
    const levels: number[] = [];
    for (let p = PRIORITY_MIN; p <= PRIORITY_MAX; p++) for (let n = 0; n < PER_LEVEL; n++) levels.push(p);
    // Ids are made in this (shuffled) order, so within a level insertion order is id order.
    const tasks = shuffled(levels, 20300101).map((priority) => newTask({ priority }));
    for (let i = 0; i < tasks.length; i += 8) await insertTasks(h, tasks.slice(i, i + 8));

    const claimedIds: string[] = [];
    for (;;) {
      const batch = await claim(h, { limit: 4 });
      if (batch.length === 0) break;
      expect(batch.length).toBeLessThanOrEqual(4);
      claimedIds.push(...batch.map((t) => t.id));
    }

    const expected = tasks
      .map((task, index) => ({ task, index }))
      .sort((a, b) => b.task.priority - a.task.priority || a.index - b.index)
      .map(({ task }) => task.id);
    expect(claimedIds).toEqual(expected);
  });

  test('within a priority level an earlier due time goes before an older id', async () => {
    const h = await setup();
    const t0 = h.clock.now();
    const olderButLater = await insertOne(h, { runAt: t0 + 2_000 });
    h.clock.advance(1_000);
    const newerButEarlier = await insertOne(h);
    h.clock.advance(2_000);

    const claimed = await claim(h);
    expect(claimed.map((t) => t.id)).toEqual([newerButEarlier.id, olderButLater.id]);
  });

  test('claimTasks takes from the queues in the order of preference given', async () => {
    const h = await setup();
    // The second queue's tasks are older, so only the preference order can put the first queue ahead.
    const second = [await insertOne(h, { queue: 'second' }), await insertOne(h, { queue: 'second' })];
    const first = [await insertOne(h, { queue: 'first' }), await insertOne(h, { queue: 'first' })];

    const claimed = await claim(h, { queues: ['first', 'second'], limit: 3 });
    expect(claimed.map((t) => t.id)).toEqual([first[0]!.id, first[1]!.id, second[0]!.id]);
  });

  test('claimTasks hands out at most limit tasks', async () => {
    const h = await setup();
    await insertTasks(h, Array.from({ length: 5 }, () => newTask()));

    expect(await claim(h, { limit: 2 })).toHaveLength(2);
    expect(await claim(h, { limit: 2 })).toHaveLength(2);
    expect(await claim(h, { limit: 2 })).toHaveLength(1);
  });

  test('a claimed task is processing, has spent an attempt and carries a fresh lease token, its lease expiry, worker and start time', async () => {
    const h = await setup();
    await insertOne(h);
    await insertOne(h);
    h.clock.advance(5_000);
    const now = h.clock.now();

    const claimed = await claim(h);
    expect(claimed).toHaveLength(2);
    for (const task of claimed) {
      expect(task).toMatchObject({
        state: 'processing',
        attempt: 1,
        workerId: WORKER_ID,
        startedAt: now,
        leaseExpiresAt: now + LEASE_MS,
        cancelRequested: false,
      });
      expect(task.leaseToken).toEqual(expect.any(String));
      expect(task.leaseToken.length).toBeGreaterThan(0);
      expect(await getTask(h, task.id)).toMatchObject({ state: 'processing', attempt: 1, workerId: WORKER_ID, leaseExpiresAt: now + LEASE_MS });
    }
    // The fence is the pair (task id, token): the tasks of one claim may share a token, but a task
    // leased again never holds a token that fenced one of its earlier attempts.
    expect(await finishOne(h, leaseOf(claimed[0]!), { outcome: 'release' })).toBe('pending');
    const again = await claimOne(h, { expectedId: claimed[0]!.id });
    expect(again.leaseToken).not.toBe(claimed[0]!.leaseToken);
  });

  test('a leased task is not handed out again while its lease runs', async () => {
    const h = await setup();
    await insertOne(h);
    expect(await claim(h)).toHaveLength(1);
    h.clock.advance(LEASE_MS - 1_000);
    expect(await claim(h, { workerId: 'worker-2' })).toEqual([]);
  });

  test('claiming an empty or unknown queue returns nothing', async () => {
    const h = await setup();
    await insertOne(h, { queue: 'busy' });
    expect(await claim(h, { queues: ['default'] })).toEqual([]);
    expect(await claim(h, { queues: ['never-used'] })).toEqual([]);
  });
};
