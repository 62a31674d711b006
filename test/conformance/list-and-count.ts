import { expect } from 'vitest';
import type { ListTasksParams } from '../../src/store/store.js';
import { TASK_STATES, type Task, type TaskState } from '../../src/types.js';
import { insertOne, seedTasks, type ConformanceArea, type SeedSpec, type StoreHarness } from './harness.js';

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

  test('countTasks for one queue counts its tasks in every state, processing included', async () => {
    const h = await setup();
    const inA = { blocked: 2, scheduled: 1, pending: 1, processing: 3, completed: 1, dead: 2, cancelled: 1 };
    await seedTasks(h, [...specsFor('a', inA), ...specsFor('b', { processing: 2, pending: 1 })]);

    expect(await h.store.countTasks({ queue: 'a' })).toEqual([{ queue: 'a', counts: counts(inA) }]);
    expect(await h.store.countTasks({ queue: 'b' })).toEqual([{ queue: 'b', counts: counts({ processing: 2, pending: 1 }) }]);
  });
};
