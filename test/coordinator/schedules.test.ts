/**
 * Recurring-task definitions (src/coordinator/schedules.ts): validation (errors name the field),
 * occurrence times (cron in a time zone, intervals), and saving schedules in both stores (a
 * schedule whose timing did not change keeps its next occurrence; a re-timed one is recomputed).
 */
import { describe, expect, inject, it, onTestFinished } from 'vitest';
import { isConveyorError } from '../../src/errors.js';
import { listSchedules, nextOccurrence, parseSchedule, removeSchedules, saveSchedules } from '../../src/coordinator/schedules.js';
import type { Store } from '../../src/store/store.js';
import { FAKE_CLOCK_START } from '../helpers/fake-clock.js';
import { openSharedStore, type StoreKind } from '../helpers/processes.js';

const TASK = { queue: 'reports', type: 'report' };

/** The error parseSchedule throws for `input`: a CONVEYOR_VALIDATION with its issues. */
function refusal(input: unknown): { message: string; paths: string[] } {
  try {
    parseSchedule(input);
  } catch (err) {
    expect(isConveyorError(err, 'CONVEYOR_VALIDATION'), String(err)).toBe(true);
    const issues = (err as { details: { issues: { path: string }[] } }).details.issues;
    return { message: (err as Error).message, paths: issues.map((issue) => issue.path) };
  }
  throw new Error(`parseSchedule accepted ${JSON.stringify(input)}`);
}

describe('parseSchedule', () => {
  it('accepts a cron expression with a time zone, and an interval; applies the defaults', () => {
    expect(parseSchedule({ name: 'nightly', cron: '0 3 * * *', timezone: 'Europe/Paris', task: { ...TASK, payload: { full: true } } })).toEqual({
      name: 'nightly',
      cron: '0 3 * * *',
      timezone: 'Europe/Paris',
      everyMs: null,
      task: { ...TASK, payload: { full: true } },
      missedRuns: 'skip',
      paused: false,
    });
    expect(parseSchedule({ name: 'poll', every: '30s', task: TASK, missedRuns: 'once', paused: true })).toEqual({
      name: 'poll',
      cron: null,
      timezone: null,
      everyMs: 30_000,
      task: TASK,
      missedRuns: 'once',
      paused: true,
    });
  });

  it.each([
    { why: 'a bad cron expression', input: { name: 's', cron: 'every monday', task: TASK }, field: 'cron' },
    { why: 'a cron expression with too many fields', input: { name: 's', cron: '* * * * * * * *', task: TASK }, field: 'cron' },
    { why: 'an unknown time zone', input: { name: 's', cron: '0 * * * *', timezone: 'Mars/Olympus', task: TASK }, field: 'timezone' },
    { why: 'a time zone without cron', input: { name: 's', every: '1m', timezone: 'Europe/Paris', task: TASK }, field: 'timezone' },
    { why: 'both cron and every', input: { name: 's', cron: '0 * * * *', every: '1m', task: TASK }, field: 'cron' },
    { why: 'neither cron nor every', input: { name: 's', task: TASK }, field: 'cron' },
    { why: 'an interval under 1 s', input: { name: 's', every: '500ms', task: TASK }, field: 'every' },
    { why: 'an interval that is no duration', input: { name: 's', every: 'often', task: TASK }, field: 'every' },
    { why: 'a template with `key`', input: { name: 's', every: '1m', task: { ...TASK, key: 'k' } }, field: 'task.key' },
    { why: 'a template with `delay`', input: { name: 's', every: '1m', task: { ...TASK, delay: '5s' } }, field: 'task.delay' },
    { why: 'a template with `runAt`', input: { name: 's', every: '1m', task: { ...TASK, runAt: FAKE_CLOCK_START } }, field: 'task.runAt' },
    { why: 'a template with `dependsOn`', input: { name: 's', every: '1m', task: { ...TASK, dependsOn: [] } }, field: 'task.dependsOn' },
    { why: 'a bad name', input: { name: 'no spaces please', every: '1m', task: TASK }, field: 'name' },
    { why: 'an unknown missed-run policy', input: { name: 's', every: '1m', task: TASK, missedRuns: 'all' }, field: 'missedRuns' },
  ])('refuses $why, naming the field ($field)', ({ input, field }) => {
    const { message, paths } = refusal(input);
    expect(paths).toEqual([field]);
    expect(message).toContain(`${field}:`);
  });

  it('names a bad template field with its path in the schedule (task.priority)', () => {
    expect(refusal({ name: 's', every: '1m', task: { ...TASK, priority: 99 } }).paths).toEqual(['task.priority']);
  });

  it("an unknown schedule field is answered with the schedule's fields, not a task's", () => {
    const { message, paths } = refusal({ name: 's', every: '1m', task: TASK, timezon: 'UTC' });
    expect(paths).toEqual(['timezon']);
    expect(message).toContain('missedRuns');
  });
});

describe('nextOccurrence', () => {
  const at = (iso: string): number => Date.parse(iso);

  it('cron in a time zone: the local time, whatever the offset of the season', () => {
    const nineInParis = { cron: '0 9 * * *', timezone: 'Europe/Paris', everyMs: null };
    expect(nextOccurrence(nineInParis, at('2030-01-01T00:00:00Z'))).toBe(at('2030-01-01T08:00:00Z')); // UTC+1
    expect(nextOccurrence(nineInParis, at('2030-07-01T00:00:00Z'))).toBe(at('2030-07-01T07:00:00Z')); // UTC+2
    const nineInNewYork = { cron: '0 9 * * *', timezone: 'America/New_York', everyMs: null };
    expect(nextOccurrence(nineInNewYork, at('2030-01-01T00:00:00Z'))).toBe(at('2030-01-01T14:00:00Z')); // UTC-5
  });

  it('cron: strictly after the given time; UTC without a time zone', () => {
    const nineInParis = { cron: '0 9 * * *', timezone: 'Europe/Paris', everyMs: null };
    expect(nextOccurrence(nineInParis, at('2030-01-01T08:00:00Z'))).toBe(at('2030-01-02T08:00:00Z'));
    const quarterly = { cron: '*/15 * * * *', timezone: null, everyMs: null };
    expect(nextOccurrence(quarterly, at('2030-01-01T10:07:00Z'))).toBe(at('2030-01-01T10:15:00Z'));
    expect(nextOccurrence(quarterly, at('2030-01-01T10:15:00Z'))).toBe(at('2030-01-01T10:30:00Z'));
    // Six fields: seconds first.
    expect(nextOccurrence({ cron: '*/10 * * * * *', timezone: null, everyMs: null }, at('2030-01-01T10:00:01Z'))).toBe(at('2030-01-01T10:00:10Z'));
  });

  it('cron with no occurrence left: null', () => {
    expect(nextOccurrence({ cron: '0 0 30 2 *', timezone: null, everyMs: null }, at('2030-01-01T00:00:00Z'))).toBeNull();
  });

  it('interval: the given time plus the interval', () => {
    const every30s = { cron: null, timezone: null, everyMs: 30_000 };
    expect(nextOccurrence(every30s, FAKE_CLOCK_START)).toBe(FAKE_CLOCK_START + 30_000);
    expect(nextOccurrence(every30s, FAKE_CLOCK_START + 1)).toBe(FAKE_CLOCK_START + 30_001);
  });
});

describe.each<StoreKind>(['sqlite', 'redis'])('saveSchedules on %s', (kind) => {
  async function open(): Promise<Store> {
    const shared = await openSharedStore(kind, inject('redisUrl'));
    onTestFinished(shared.cleanup);
    return shared.store;
  }
  const T = FAKE_CLOCK_START;

  it('creates a schedule with its first occurrence after now; lists and removes schedules', async () => {
    const store = await open();
    const saved = await saveSchedules(
      store,
      [
        { name: 'poll', every: '1m', task: TASK },
        { name: 'nightly', cron: '0 3 * * *', timezone: 'Europe/Paris', task: TASK, missedRuns: 'once' },
      ],
      T,
    );
    expect(saved.map((s) => ({ name: s.name, nextRunAt: s.nextRunAt, lastRunAt: s.lastRunAt }))).toEqual([
      { name: 'poll', nextRunAt: T + 60_000, lastRunAt: null },
      { name: 'nightly', nextRunAt: Date.parse('2030-01-01T02:00:00Z'), lastRunAt: null },
    ]);
    const listed = await listSchedules(store);
    expect(listed.map((s) => s.name)).toEqual(['nightly', 'poll']);
    expect(listed[0]).toMatchObject({ cron: '0 3 * * *', timezone: 'Europe/Paris', everyMs: null, task: TASK, missedRuns: 'once', paused: false });

    expect(await removeSchedules(store, ['poll', 'unknown'])).toBe(1);
    expect((await listSchedules(store)).map((s) => s.name)).toEqual(['nightly']);
  });

  it('keeps the next occurrence (and the last run) when the timing did not change, and recomputes it when it did', async () => {
    const store = await open();
    await saveSchedules(store, [{ name: 'poll', every: '1m', task: TASK }], T);
    // The scheduler enqueued the first occurrence.
    expect(await store.advanceSchedule({ name: 'poll', expectedNextRunAt: T + 60_000, lastRunAt: T + 60_000, nextRunAt: T + 120_000 })).toBe(true);

    // Declared again at a later start-up, with another payload and policy: the timing stands.
    const [same] = await saveSchedules(store, [{ name: 'poll', every: 60_000, task: { ...TASK, payload: { v: 2 } }, missedRuns: 'once' }], T + 90_000);
    expect(same).toMatchObject({ nextRunAt: T + 120_000, lastRunAt: T + 60_000, task: { ...TASK, payload: { v: 2 } }, missedRuns: 'once' });

    // Re-timed: the first occurrence after now, under the new interval.
    const [retimed] = await saveSchedules(store, [{ name: 'poll', every: '5m', task: TASK }], T + 100_000);
    expect(retimed).toMatchObject({ everyMs: 300_000, nextRunAt: T + 400_000, lastRunAt: T + 60_000 });

    // From an interval to a cron expression, then another time zone for the same expression.
    const [cron] = await saveSchedules(store, [{ name: 'poll', cron: '0 9 * * *', task: TASK }], T);
    expect(cron).toMatchObject({ cron: '0 9 * * *', everyMs: null, nextRunAt: Date.parse('2030-01-01T09:00:00Z') });
    const [paris] = await saveSchedules(store, [{ name: 'poll', cron: '0 9 * * *', timezone: 'Europe/Paris', task: TASK }], T);
    expect(paris).toMatchObject({ timezone: 'Europe/Paris', nextRunAt: Date.parse('2030-01-01T08:00:00Z') });
    const [unchanged] = await saveSchedules(store, [{ name: 'poll', cron: '0 9 * * *', timezone: 'Europe/Paris', task: TASK, paused: true }], T + 3_600_000);
    expect(unchanged).toMatchObject({ paused: true, nextRunAt: Date.parse('2030-01-01T08:00:00Z') });
  });

  it('validates every schedule before saving any', async () => {
    const store = await open();
    await expect(
      saveSchedules(store, [
        { name: 'good', every: '1m', task: TASK },
        { name: 'bad', every: '1m', task: { ...TASK, key: 'fixed' } },
      ]),
    ).rejects.toMatchObject({ code: 'CONVEYOR_VALIDATION', message: expect.stringContaining('task.key') });
    expect(await listSchedules(store)).toEqual([]);
  });
});
