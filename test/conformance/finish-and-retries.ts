import { expect } from 'vitest';
import { ERROR_HISTORY_LIMIT } from '../../src/types.js';
import { claim, claimOne, complete, fail, finishOne, getTask, insertOne, leaseOf, type ConformanceArea } from './harness.js';

export const finishAndRetryTests: ConformanceArea = (setup, test) => {
  test('complete stores the result and ends the task completed', async () => {
    const h = await setup();
    const claimed = await claimOne(h, { expectedId: (await insertOne(h)).id });
    h.clock.advance(1_234);

    expect(await complete(h, leaseOf(claimed), { rows: [1, 2, 3], ok: true })).toBe('completed');
    expect(await getTask(h, claimed.id)).toMatchObject({
      state: 'completed',
      result: { rows: [1, 2, 3], ok: true },
      attempt: 1,
      finishedAt: h.clock.now(),
      leaseExpiresAt: null,
      error: null,
      errors: [],
    });
    expect(await claim(h)).toEqual([]);
  });

  test('a failed attempt with attempts left is scheduled retryDelayMs later, its error recorded', async () => {
    const h = await setup();
    const claimed = await claimOne(h, { expectedId: (await insertOne(h, { maxAttempts: 3 })).id });
    h.clock.advance(500);
    const failedAt = h.clock.now();

    const outcome = await finishOne(h, leaseOf(claimed), {
      outcome: 'fail',
      error: { reason: 'error', message: 'smtp refused', name: 'SmtpError' },
      retryDelayMs: 7_000,
    });
    expect(outcome).toBe('scheduled');
    const task = await getTask(h, claimed.id);
    const recorded = { reason: 'error', message: 'smtp refused', name: 'SmtpError', attempt: 1, at: failedAt };
    expect(task).toMatchObject({ state: 'scheduled', runAt: failedAt + 7_000, attempt: 1, finishedAt: null, leaseExpiresAt: null, error: recorded });
    expect(task.errors).toEqual([expect.objectContaining(recorded)]);
  });

  test('a scheduled retry is not claimable before its time and is claimable after it', async () => {
    const h = await setup();
    const claimed = await claimOne(h, { expectedId: (await insertOne(h, { maxAttempts: 3 })).id });
    expect(await fail(h, leaseOf(claimed), { retryDelayMs: 7_000 })).toBe('scheduled');

    h.clock.advance(6_999);
    expect(await claim(h)).toEqual([]);
    h.clock.advance(2);
    const retried = await claimOne(h, { expectedId: claimed.id });
    expect(retried.attempt).toBe(2);
    expect(retried.leaseToken).not.toBe(claimed.leaseToken);
  });

  test('the last failed attempt leaves the task dead with every attempt’s error', async () => {
    const h = await setup();
    const task = await insertOne(h, { maxAttempts: 3 });
    const outcomes: string[] = [];
    for (let attempt = 1; attempt <= 3; attempt++) {
      const claimed = await claimOne(h, { expectedId: task.id });
      expect(claimed.attempt).toBe(attempt);
      outcomes.push(await fail(h, leaseOf(claimed), { message: `boom ${attempt}`, retryDelayMs: 1_000 }));
      h.clock.advance(1_001);
    }
    expect(outcomes).toEqual(['scheduled', 'scheduled', 'dead']);

    const dead = await getTask(h, task.id);
    const finishedAt = h.clock.now() - 1_001;
    expect(dead).toMatchObject({ state: 'dead', attempt: 3, finishedAt, leaseExpiresAt: null, error: { reason: 'error', message: 'boom 3', attempt: 3 } });
    expect(dead.errors.map(({ reason, message, attempt }) => ({ reason, message, attempt }))).toEqual([
      { reason: 'error', message: 'boom 1', attempt: 1 },
      { reason: 'error', message: 'boom 2', attempt: 2 },
      { reason: 'error', message: 'boom 3', attempt: 3 },
    ]);
    expect(await claim(h)).toEqual([]);
  });

  test('a permanent failure skips the remaining retries', async () => {
    const h = await setup();
    const claimed = await claimOne(h, { expectedId: (await insertOne(h, { maxAttempts: 5 })).id });

    expect(await fail(h, leaseOf(claimed), { message: 'invalid address', permanent: true })).toBe('dead');
    expect(await getTask(h, claimed.id)).toMatchObject({
      state: 'dead',
      attempt: 1,
      finishedAt: h.clock.now(),
      error: { reason: 'error', message: 'invalid address', attempt: 1 },
    });
  });

  test('the error history keeps only the last ERROR_HISTORY_LIMIT errors, oldest first', async () => {
    const h = await setup();
    const attempts = ERROR_HISTORY_LIMIT + 5;
    const task = await insertOne(h, { maxAttempts: attempts });
    for (let attempt = 1; attempt <= attempts; attempt++) {
      await fail(h, leaseOf(await claimOne(h, { expectedId: task.id })), { message: `boom ${attempt}`, retryDelayMs: 10 });
      h.clock.advance(11);
    }

    const dead = await getTask(h, task.id);
    expect(dead.state).toBe('dead');
    const kept = Array.from({ length: ERROR_HISTORY_LIMIT }, (_, i) => attempts - ERROR_HISTORY_LIMIT + 1 + i);
    expect(dead.errors.map((e) => e.attempt)).toEqual(kept);
    expect(dead.errors.map((e) => e.message)).toEqual(kept.map((n) => `boom ${n}`));
  });

  test('release puts the task back without spending an attempt', async () => {
    const h = await setup();
    const task = await insertOne(h, { maxAttempts: 1 });
    const first = await claimOne(h, { expectedId: task.id });

    expect(await finishOne(h, leaseOf(first), { outcome: 'release' })).toBe('pending');
    expect(await getTask(h, task.id)).toMatchObject({ state: 'pending', attempt: 0, leaseExpiresAt: null });

    // The single attempt is still there: the task runs again, and fails for good only now.
    const second = await claimOne(h, { expectedId: task.id });
    expect(second.attempt).toBe(1);
    expect(second.leaseToken).not.toBe(first.leaseToken);
    expect(await fail(h, leaseOf(second))).toBe('dead');
  });

  test('release with a delay schedules the task for later', async () => {
    const h = await setup();
    const claimed = await claimOne(h, { expectedId: (await insertOne(h)).id });

    expect(await finishOne(h, leaseOf(claimed), { outcome: 'release', delayMs: 30_000 })).toBe('scheduled');
    expect(await getTask(h, claimed.id)).toMatchObject({ state: 'scheduled', attempt: 0, runAt: h.clock.now() + 30_000 });
    h.clock.advance(29_999);
    expect(await claim(h)).toEqual([]);
    h.clock.advance(2);
    expect((await claimOne(h, { expectedId: claimed.id })).attempt).toBe(1);
  });

  test('finishTasks reports each item’s outcome in input order', async () => {
    const h = await setup();
    for (let i = 0; i < 5; i++) await insertOne(h, { maxAttempts: 3 });
    const [a, b, c, d, e] = await claim(h);
    if (!a || !b || !c || !d || !e) throw new Error('expected five claimed tasks');
    await complete(h, leaseOf(e));

    const { items } = await h.store.finishTasks({
      now: h.clock.now(),
      items: [
        { ...leaseOf(d), outcome: 'release' },
        { ...leaseOf(a), outcome: 'complete', result: 1 },
        { ...leaseOf(e), outcome: 'complete', result: 2 },
        { ...leaseOf(c), outcome: 'fail', error: { reason: 'error', message: 'x' }, retryDelayMs: 0, permanent: true },
        { ...leaseOf(b), outcome: 'fail', error: { reason: 'timeout', message: 'too slow' }, retryDelayMs: 5_000 },
      ],
    });
    expect(items).toEqual([
      { id: d.id, outcome: 'pending' },
      { id: a.id, outcome: 'completed' },
      { id: e.id, outcome: 'lease_lost' },
      { id: c.id, outcome: 'dead' },
      { id: b.id, outcome: 'scheduled' },
    ]);
    expect((await getTask(h, b.id)).error).toMatchObject({ reason: 'timeout', message: 'too slow', attempt: 1 });
  });
};
