import { expect } from 'vitest';
import type { Schedule, UpsertSchedulesParams } from '../../src/store/store.js';
import { expectConveyorError, type ConformanceArea, type StoreHarness } from './harness.js';

type ScheduleInput = UpsertSchedulesParams['schedules'][number];

const MINUTE = 60_000;

/** An every-minute cron schedule due a minute from the harness clock, unless overridden. */
function cronSchedule(h: StoreHarness, name: string, overrides: Partial<ScheduleInput> = {}): ScheduleInput {
  return {
    name,
    cron: '*/1 * * * *',
    timezone: 'Europe/Berlin',
    everyMs: null,
    // Empty arrays and objects, a float and unicode: a template must come back exactly as sent.
    task: { queue: 'reports', type: 'send-report', payload: { ids: [], opts: {}, ratio: 0.1234567890123456, note: 'größe ✓' }, priority: 3 },
    missedRuns: 'skip',
    paused: false,
    nextRunAt: h.clock.now() + MINUTE,
    ...overrides,
  };
}

function intervalSchedule(h: StoreHarness, name: string, overrides: Partial<ScheduleInput> = {}): ScheduleInput {
  return {
    name,
    cron: null,
    timezone: null,
    everyMs: 30_000,
    task: { queue: 'default', type: 'ping', payload: null },
    missedRuns: 'once',
    paused: true,
    nextRunAt: null,
    ...overrides,
  };
}

function upsert(h: StoreHarness, schedules: ScheduleInput[]): Promise<Schedule[]> {
  return h.store.upsertSchedules({ schedules, now: h.clock.now() });
}

function advance(h: StoreHarness, name: string, expectedNextRunAt: number | null, lastRunAt: number | null, nextRunAt: number | null): Promise<boolean> {
  return h.store.advanceSchedule({ name, expectedNextRunAt, lastRunAt, nextRunAt, now: h.clock.now() });
}

/** What a schedule created by `upsert` at `at` looks like before any advance. */
function created(input: ScheduleInput, at: number): Schedule {
  return { ...input, lastRunAt: null, createdAt: at, updatedAt: at };
}

export const scheduleTests: ConformanceArea = (setup, test) => {
  test('upsertSchedules creates schedules with every field, createdAt and updatedAt = now and lastRunAt null', async () => {
    const h = await setup();
    expect(await h.store.listSchedules()).toEqual([]);
    const nightly = cronSchedule(h, 'nightly');
    const heartbeat = intervalSchedule(h, 'heartbeat');
    const at = h.clock.now();

    const stored = await upsert(h, [nightly, heartbeat]);
    expect(stored).toEqual([created(nightly, at), created(heartbeat, at)]);
    expect(await h.store.listSchedules()).toEqual([created(heartbeat, at), created(nightly, at)]);
  });

  test('upserting a known name replaces its definition and nextRunAt but keeps lastRunAt and createdAt', async () => {
    const h = await setup();
    const first = cronSchedule(h, 'nightly');
    const createdAt = h.clock.now();
    await upsert(h, [first]);
    h.clock.advance(MINUTE);
    expect(await advance(h, 'nightly', first.nextRunAt, first.nextRunAt, first.nextRunAt! + MINUTE)).toBe(true);

    h.clock.advance(5_000);
    const replaced = intervalSchedule(h, 'nightly', { everyMs: 5 * MINUTE, paused: false, nextRunAt: h.clock.now() + 5 * MINUTE });
    const expected: Schedule = { ...replaced, lastRunAt: first.nextRunAt, createdAt, updatedAt: h.clock.now() };
    expect(await upsert(h, [replaced])).toEqual([expected]);
    expect(await h.store.listSchedules()).toEqual([expected]);
  });

  test('listSchedules sorts by name', async () => {
    const h = await setup();
    const names = ['nightly', 'hourly.2', 'B-weekly', 'a-report', 'hourly.10'];
    await upsert(h, names.map((name) => intervalSchedule(h, name)));
    for (const name of ['c-late', 'A-early']) await upsert(h, [intervalSchedule(h, name)]);

    expect((await h.store.listSchedules()).map((s) => s.name)).toEqual(['A-early', 'B-weekly', 'a-report', 'c-late', 'hourly.10', 'hourly.2', 'nightly']);
  });

  test('deleteSchedules returns how many existed and ignores unknown names', async () => {
    const h = await setup();
    await upsert(h, [intervalSchedule(h, 'a'), intervalSchedule(h, 'b'), intervalSchedule(h, 'c')]);

    expect(await h.store.deleteSchedules({ names: ['a', 'no-such-schedule', 'c'] })).toBe(2);
    expect((await h.store.listSchedules()).map((s) => s.name)).toEqual(['b']);
    expect(await h.store.deleteSchedules({ names: ['a', 'no-such-schedule'] })).toBe(0);
    expect(await h.store.deleteSchedules({ names: [] })).toBe(0);
    expect((await h.store.listSchedules()).map((s) => s.name)).toEqual(['b']);
  });

  test('advanceSchedule applies when the stored nextRunAt is the expected one: lastRunAt, nextRunAt and updatedAt set', async () => {
    const h = await setup();
    const input = cronSchedule(h, 'nightly');
    const createdAt = h.clock.now();
    await upsert(h, [input]);
    h.clock.advance(MINUTE + 250);

    const due = input.nextRunAt!;
    expect(await advance(h, 'nightly', due, due, due + MINUTE)).toBe(true);
    expect(await h.store.listSchedules()).toEqual([{ ...input, lastRunAt: due, nextRunAt: due + MINUTE, createdAt, updatedAt: h.clock.now() }]);

    // null is a value like any other: a schedule with no next occurrence advances from null.
    await upsert(h, [intervalSchedule(h, 'idle')]);
    expect(await advance(h, 'idle', null, null, h.clock.now() + 30_000)).toBe(true);
    expect((await h.store.listSchedules()).find((s) => s.name === 'idle')).toMatchObject({ lastRunAt: null, nextRunAt: h.clock.now() + 30_000 });
  });

  test('advanceSchedule refuses and changes nothing when nextRunAt is not the expected one; of two racing leaders only one wins', async () => {
    const h = await setup();
    const input = cronSchedule(h, 'nightly');
    const createdAt = h.clock.now();
    await upsert(h, [input]);
    const before = await h.store.listSchedules();
    h.clock.advance(MINUTE);
    const due = input.nextRunAt!;

    expect(await advance(h, 'nightly', due - 1, due, due + MINUTE)).toBe(false);
    expect(await advance(h, 'nightly', null, due, due + MINUTE)).toBe(false);
    expect(await h.store.listSchedules()).toEqual(before);

    // Two leaders that both read nextRunAt = due and computed different next occurrences.
    const results = await Promise.all([advance(h, 'nightly', due, due, due + MINUTE), advance(h, 'nightly', due, due, due + 2 * MINUTE)]);
    expect(results.filter(Boolean)).toHaveLength(1);
    const winner = results[0] ? due + MINUTE : due + 2 * MINUTE;
    expect(await h.store.listSchedules()).toEqual([{ ...input, lastRunAt: due, nextRunAt: winner, createdAt, updatedAt: h.clock.now() }]);

    // The loser retries with what it read before: still refused.
    h.clock.advance(1_000);
    expect(await advance(h, 'nightly', due, due, due + 3 * MINUTE)).toBe(false);
    expect((await h.store.listSchedules())[0]).toMatchObject({ nextRunAt: winner, updatedAt: h.clock.now() - 1_000 });
  });

  test('advanceSchedule of an unknown name returns false and creates nothing', async () => {
    const h = await setup();
    await upsert(h, [intervalSchedule(h, 'known')]);

    expect(await advance(h, 'no-such-schedule', null, null, h.clock.now())).toBe(false);
    expect(await advance(h, 'no-such-schedule', h.clock.now(), h.clock.now(), h.clock.now() + MINUTE)).toBe(false);
    expect((await h.store.listSchedules()).map((s) => s.name)).toEqual(['known']);
  });

  test('an invalid schedule name is refused with CONVEYOR_INVALID_NAME and writes nothing', async () => {
    const h = await setup();
    const kept = cronSchedule(h, 'kept');
    const at = h.clock.now();
    await upsert(h, [kept]);
    h.clock.advance(1_000);

    for (const bad of ['', 'a b', '{x}', 'a*', '-leading', 'x'.repeat(101)]) {
      await expectConveyorError(upsert(h, [intervalSchedule(h, 'fresh'), cronSchedule(h, 'kept', { paused: true }), intervalSchedule(h, bad)]), 'CONVEYOR_INVALID_NAME');
      await expectConveyorError(h.store.advanceSchedule({ name: bad, expectedNextRunAt: null, lastRunAt: null, nextRunAt: 1, now: h.clock.now() }), 'CONVEYOR_INVALID_NAME');
      await expectConveyorError(h.store.deleteSchedules({ names: ['kept', bad] }), 'CONVEYOR_INVALID_NAME');
    }
    expect(await h.store.listSchedules()).toEqual([created(kept, at)]);
  });
};
