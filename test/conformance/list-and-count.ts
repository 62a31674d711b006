import { expect } from 'vitest';
import type { ListTasksParams } from '../../src/store/store.js';
import { TASK_STATES, type Task, type TaskState } from '../../src/types.js';
import { newTask } from '../helpers/factories.js';
import {
  claim,
  complete,
  fail,
  finishOne,
  insertOne,
  insertTasks,
  leaseOf,
  seedTasks,
  type ConformanceArea,
  type SeedSpec,
  type StoreHarness,
} from './harness.js';

type ListFilter = Pick<ListTasksParams, 'queue' | 'state' | 'type'>;

const PAGE_LIMIT = 10;
const LIST_FIXTURE_SIZE = 57;

/**
 * 57 tasks, the two queues and two types interleaved and every state represented, so that a page
 * boundary falls between queues, types and states alike.
 */
async function seedListFixture(h: StoreHarness): Promise<Task[]> {
  const specs: SeedSpec[] = Array.from({ length: LIST_FIXTURE_SIZE }, (_, i) => ({
    queue: i % 2 === 0 ? 'orders' : 'emails',
    state: TASK_STATES[i % TASK_STATES.length]!,
    overrides: { type: i % 3 === 0 ? 'beta' : 'alpha' },
  }));
  return seedTasks(h, specs);
}

/** Follows `nextCursor` to the end, checking each page's size; gives up if it never ends. */
async function listAllPages(h: StoreHarness, filter: ListFilter): Promise<Task[]> {
  const all: Task[] = [];
  let cursor: string | null = null;
  for (let page = 0; page <= LIST_FIXTURE_SIZE + 1; page++) {
    const result = await h.store.listTasks({ ...filter, limit: PAGE_LIMIT, cursor });
    expect(result.tasks.length).toBeLessThanOrEqual(PAGE_LIMIT);
    all.push(...result.tasks);
    if (result.nextCursor === null) return all;
    cursor = result.nextCursor;
  }
  throw new Error(`listTasks(${JSON.stringify(filter)}) still had a cursor after ${LIST_FIXTURE_SIZE + 2} pages`);
}

function matches(task: Task, filter: ListFilter): boolean {
  return (
    (filter.queue === undefined || task.queue === filter.queue) &&
    (filter.state === undefined || task.state === filter.state) &&
    (filter.type === undefined || task.type === filter.type)
  );
}

/**
 * Every matching task exactly once (no duplicate, none skipped), newest first by id. The fixture
 * arrives in id order, so this holds for a store that lists by arrival as for one that lists by id.
 */
async function expectPagesCover(h: StoreHarness, fixture: Task[], filter: ListFilter): Promise<void> {
  const expectedIds = fixture
    .filter((task) => matches(task, filter))
    .map((task) => task.id)
    .sort()
    .reverse();
  expect(expectedIds.length).toBeGreaterThan(0);

  const listed = await listAllPages(h, filter);
  expect(listed.map((task) => task.id)).toEqual(expectedIds);
  for (const task of listed) expect(matches(task, filter)).toBe(true);
}

function counts(partial: Partial<Record<TaskState, number>>): Record<TaskState, number> {
  return Object.fromEntries(TASK_STATES.map((state) => [state, partial[state] ?? 0])) as Record<TaskState, number>;
}

function specsFor(queue: string, perState: Partial<Record<TaskState, number>>): SeedSpec[] {
  return TASK_STATES.flatMap((state) => Array.from({ length: perState[state] ?? 0 }, () => ({ queue, state })));
}

/** Every task of the store, by listing them all, tallied per queue and state. */
async function tallyTasks(h: StoreHarness): Promise<Map<string, Record<TaskState, number>>> {
  const tally = new Map<string, Record<TaskState, number>>();
  let cursor: string | null = null;
  do {
    const page: Awaited<ReturnType<typeof h.store.listTasks>> = await h.store.listTasks({ limit: 1000, cursor });
    for (const task of page.tasks) {
      const counts = tally.get(task.queue) ?? counts0();
      counts[task.state]++;
      tally.set(task.queue, counts);
    }
    cursor = page.nextCursor;
  } while (cursor !== null);
  return tally;
}

function counts0(): Record<TaskState, number> {
  return counts({});
}

/** countTasks, for all queues and for each one, says what the tasks themselves say. */
async function expectCountsMatchTasks(h: StoreHarness, step: string): Promise<void> {
  const tally = await tallyTasks(h);
  const all = await h.store.countTasks({});
  for (const { queue, counts: stored } of all) expect(stored, `${step}: countTasks({}) for ${queue}`).toEqual(tally.get(queue) ?? counts0());
  for (const queue of tally.keys()) {
    expect(all.map((c) => c.queue), `${step}: countTasks({}) lists ${queue}`).toContain(queue);
    expect(await h.store.countTasks({ queue }), `${step}: countTasks({ queue: ${queue} })`).toEqual([{ queue, counts: tally.get(queue) }]);
  }
}

export const listAndCountTests: ConformanceArea = (setup, test) => {
  test('listTasks pages through every task exactly once', async () => {
    const h = await setup();
    await expectPagesCover(h, await seedListFixture(h), {});
  });

  test('listTasks returns tasks newest first, across queues and pages', async () => {
    const h = await setup();
    // One insert after another, so arrival order is id order (the contract's premise).
    const inserted: Task[] = [];
    for (let i = 0; i < 25; i++) inserted.push(await insertOne(h, { queue: i % 3 === 0 ? 'orders' : 'emails' }));
    const newestFirst = [...inserted].reverse();

    expect((await listAllPages(h, {})).map((task) => task.id)).toEqual(newestFirst.map((task) => task.id));
    expect((await listAllPages(h, { queue: 'emails' })).map((task) => task.id)).toEqual(
      newestFirst.filter((task) => task.queue === 'emails').map((task) => task.id),
    );
  });

  test('listTasks filtered by queue pages through exactly that queue’s tasks', async () => {
    const h = await setup();
    const fixture = await seedListFixture(h);
    await expectPagesCover(h, fixture, { queue: 'orders' });
    await expectPagesCover(h, fixture, { queue: 'emails' });
  });

  test('listTasks filtered by state pages through exactly the tasks in that state', async () => {
    const h = await setup();
    const fixture = await seedListFixture(h);
    for (const state of TASK_STATES) await expectPagesCover(h, fixture, { state });
  });

  test('listTasks filtered by type pages through exactly the tasks of that type', async () => {
    const h = await setup();
    const fixture = await seedListFixture(h);
    await expectPagesCover(h, fixture, { type: 'alpha' });
    await expectPagesCover(h, fixture, { type: 'beta' });
  });

  test('listTasks filtered by queue, state and type together pages through exactly their intersection', async () => {
    const h = await setup();
    const fixture = await seedListFixture(h);
    await expectPagesCover(h, fixture, { queue: 'emails', state: 'pending', type: 'alpha' });
    await expectPagesCover(h, fixture, { queue: 'orders', state: 'completed' });
    await expectPagesCover(h, fixture, { queue: 'orders', type: 'beta' });
  });

  test('listTasks filtered by queue and a state, processing included, pages through exactly their intersection', async () => {
    const h = await setup();
    const fixture = await seedListFixture(h);
    for (const state of TASK_STATES) {
      await expectPagesCover(h, fixture, { queue: 'orders', state });
      await expectPagesCover(h, fixture, { queue: 'emails', state, type: 'alpha' });
    }
  });

  test('listTasks with a filter that matches nothing returns an empty page and no cursor', async () => {
    const h = await setup();
    await seedListFixture(h);
    expect(await h.store.listTasks({ queue: 'nowhere', limit: PAGE_LIMIT })).toEqual({ tasks: [], nextCursor: null });
    expect(await h.store.listTasks({ queue: 'orders', type: 'gamma', limit: PAGE_LIMIT })).toEqual({ tasks: [], nextCursor: null });
  });

  test('countTasks counts every queue and state, with every state present', async () => {
    const h = await setup();
    const inA = { blocked: 1, scheduled: 2, pending: 3, processing: 1, completed: 2, dead: 1, cancelled: 1 };
    const inB = { pending: 2, completed: 1 };
    await seedTasks(h, [...specsFor('a', inA), ...specsFor('b', inB)]);

    const all = [...(await h.store.countTasks({}))].sort((x, y) => x.queue.localeCompare(y.queue));
    expect(all).toEqual([
      { queue: 'a', counts: counts(inA) },
      { queue: 'b', counts: counts(inB) },
    ]);
  });

  test('countTasks for one queue counts only that queue', async () => {
    const h = await setup();
    await seedTasks(h, [...specsFor('a', { pending: 2, dead: 1 }), ...specsFor('b', { pending: 4 })]);

    expect(await h.store.countTasks({ queue: 'b' })).toEqual([{ queue: 'b', counts: counts({ pending: 4 }) }]);
    expect(await h.store.countTasks({ queue: 'a' })).toEqual([{ queue: 'a', counts: counts({ pending: 2, dead: 1 }) }]);
  });

  test('countTasks agrees with the tasks themselves after every kind of transition', async () => {
    const h = await setup();
    const step = (name: string) => expectCountsMatchTasks(h, name);
    const now = () => h.clock.now();

    // Inserts: pending, scheduled, blocked, cancelled at once (a dead dependency), and repeats that
    // create nothing (the same id again, the same key again).
    const [a1, a2, a3, a4, a5] = await insertTasks(h, [
      newTask({ queue: 'a' }),
      newTask({ queue: 'a' }),
      newTask({ queue: 'a', key: 'k1' }),
      newTask({ queue: 'a', deadline: now() + 5_000 }),
      newTask({ queue: 'a', maxAttempts: 1 }),
    ]);
    const b1 = await insertOne(h, { queue: 'b', delayMs: 60_000 });
    const b2 = await insertOne(h, { queue: 'b', dependsOn: [b1.id] });
    const b3 = await insertOne(h, { queue: 'b', dependsOn: [a1!.id] });
    await step('insert');
    await insertTasks(h, [newTask({ queue: 'a', key: 'k1' }), { ...newTask({ queue: 'a' }), id: a2!.id }]);
    await step('repeated inserts');

    // Claim (with prefetch), complete (unblocking a dependent), fail with and without a delay, fail for
    // good (cancelling a dependent), release with and without a delay, finish as cancelled.
    const claimed = await h.store.claimTasks({ queues: ['a'], workerId: 'w', limit: 5, startLimit: 2, leaseMs: 30_000, now: now() });
    expect(claimed.map((t) => t.id).sort()).toEqual([a1!.id, a2!.id, a3!.id, a4!.id, a5!.id].sort());
    await step('claim');
    const byId = new Map(claimed.map((t) => [t.id, t]));
    expect(await complete(h, leaseOf(byId.get(a1!.id)!))).toBe('completed');
    await step('complete, unblocking a dependent');
    expect(await fail(h, leaseOf(byId.get(a2!.id)!), { retryDelayMs: 10_000 })).toBe('scheduled');
    expect(await fail(h, leaseOf(byId.get(a3!.id)!), { retryDelayMs: 0 })).toBe('pending');
    expect(await fail(h, leaseOf(byId.get(a5!.id)!), { permanent: true })).toBe('dead');
    await step('fail');
    expect(await finishOne(h, leaseOf(byId.get(a4!.id)!), { outcome: 'release', delayMs: 1_000 })).toBe('scheduled');
    await step('release');
    const [again] = await claim(h, { queues: ['a'], limit: 1 });
    expect(await finishOne(h, leaseOf(again!), { outcome: 'release' })).toBe('pending');
    const [cancelling] = await claim(h, { queues: ['a'], limit: 1 });
    expect(await finishOne(h, leaseOf(cancelling!), { outcome: 'cancel' })).toBe('cancelled');
    await step('release and cancel');

    // A dead task's dependents go cancelled.
    const c1 = await insertOne(h, { queue: 'c', maxAttempts: 1 });
    await insertOne(h, { queue: 'c', dependsOn: [c1.id] });
    await insertOne(h, { queue: 'c', dependsOn: [a5!.id] });
    const [c1Claimed] = await claim(h, { queues: ['c'], limit: 1 });
    expect(await fail(h, leaseOf(c1Claimed!), { permanent: true })).toBe('dead');
    await step('dependents cancelled');

    // Administration: cancel waiting and running tasks, retry dead and cancelled ones.
    await insertOne(h, { queue: 'a' });
    const [running] = await claim(h, { queues: ['a'], limit: 1 });
    await h.store.cancelTasks({ ids: [b2.id, running!.id, b3.id], now: now() });
    await step('cancelTasks');
    await h.store.retryTasks({ ids: [a5!.id, b2.id, c1.id], now: now() });
    await step('retryTasks');

    // Maintenance: promotion, expired leases (retried, dead, cancelled), deadlines, retention.
    h.clock.advance(61_000);
    await h.store.promoteDueTasks({ limit: 100, now: now() });
    await step('promoteDueTasks');
    const due = await insertOne(h, { queue: 'e', delayMs: 1_000 });
    h.clock.advance(1_000);
    expect((await claim(h, { queues: ['e'] })).map((t) => t.id)).toEqual([due.id]);
    await step('a claim that promotes a due task');
    const expiring = await claim(h, { queues: ['a', 'b', 'c'], limit: 100, leaseMs: 1_000 });
    expect(expiring.length).toBeGreaterThan(2);
    await h.store.cancelTasks({ ids: [expiring[0]!.id], now: now() });
    h.clock.advance(2_000);
    await h.store.reclaimExpiredLeases({ limit: 100, now: now() });
    await step('reclaimExpiredLeases');
    await insertOne(h, { queue: 'd', deadline: now() + 1_000 });
    await insertOne(h, { queue: 'd', deadline: now() + 1_000, delayMs: 60_000 });
    const [dRunning] = await claim(h, { queues: ['d'], limit: 1 });
    expect(dRunning).toBeDefined();
    h.clock.advance(2_000);
    await h.store.expireDeadlines({ limit: 100, now: now() });
    await step('expireDeadlines');
    await insertOne(h, { queue: 'd', deadline: now() + 1_000 });
    h.clock.advance(2_000);
    expect(await claim(h, { queues: ['d'], limit: 10 })).toEqual([]);
    await step('a claim that kills tasks past their deadline');
    h.clock.advance(60_000);
    for (const state of ['completed', 'dead', 'cancelled'] as const) {
      await h.store.deleteFinishedTasks({ state, olderThanMs: 1_000, limit: 100, now: now() });
    }
    await step('deleteFinishedTasks');
    const [again1, fresh] = await insertTasks(h, [{ ...newTask({ queue: 'b' }), id: b1.id }, newTask({ queue: 'b' })]);
    expect([again1!.id, fresh!.state]).toEqual([b1.id, 'pending']);
    await step('a batch repeating an id beside a new task');
  });

  test('countTasks for one queue counts its tasks in every state, processing included', async () => {
    const h = await setup();
    const inA = { blocked: 2, scheduled: 1, pending: 1, processing: 3, completed: 1, dead: 2, cancelled: 1 };
    await seedTasks(h, [...specsFor('a', inA), ...specsFor('b', { processing: 2, pending: 1 })]);

    expect(await h.store.countTasks({ queue: 'a' })).toEqual([{ queue: 'a', counts: counts(inA) }]);
    expect(await h.store.countTasks({ queue: 'b' })).toEqual([{ queue: 'b', counts: counts({ processing: 2, pending: 1 }) }]);
  });
};
