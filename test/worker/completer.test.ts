/**
 * The completer: outcomes go to the store in batches, and a batch the store refuses is retried
 * until it is written: nothing is dropped. Batches form Nagle style: what arrives in one tick, or
 * while a write is in flight, goes in one call; a lone outcome waits for no timer.
 */
import { describe, expect, it } from 'vitest';
import type { FinishItem, FinishTasksParams, FinishTasksResult, Store } from '../../src/store/store.js';
import { Completer, COMPLETER_BATCH_MAX } from '../../src/worker/completer.js';
import { silentLogger } from '../../src/worker/handlers.js';
import { describeForEachStore, spyStore, TINY_BACKOFF } from './harness.js';

describeForEachStore('worker: completer', (setup) => {
  it('writes the outcomes of many fast tasks in fewer finishTasks calls than tasks', async () => {
    const t = await setup();
    const spy = spyStore(t.store);
    await t.startWorker({ store: spy.store, concurrency: 50 });
    const tasks = await t.submit(
      ...Array.from({ length: 200 }, (_, i) => (i % 4 === 3 ? { type: 'permanent', retries: 0 } : { type: 'echo', payload: { i } })),
    );
    const ids = tasks.map((task) => task.id);
    const done = await t.waitForStates(ids, ['completed', 'dead'], { timeoutMs: 20_000 });

    done.forEach((task, i) => {
      if (i % 4 === 3) expect(task).toMatchObject({ state: 'dead', attempt: 1 });
      else expect(task).toMatchObject({ state: 'completed', result: { i }, attempt: 1 });
    });
    const calls = spy.callsOf('finishTasks');
    const items = calls.flatMap((call) => (call.params as FinishTasksParams).items);
    expect(items).toHaveLength(200);
    expect(new Set(items.map((item) => item.id)).size).toBe(200);
    // 50 slots finishing about together share a call; allow a lot of slack for scheduling.
    expect(calls.length).toBeLessThanOrEqual(100);
    expect(Math.max(...calls.map((call) => (call.params as FinishTasksParams).items.length))).toBeGreaterThan(1);
  });

  it('retries a batch the store refused until it is written: every outcome arrives, none is dropped', async () => {
    const t = await setup();
    const spy = spyStore(t.store);
    const failures = 4;
    spy.failNext('finishTasks', failures);
    await t.startWorker({ store: spy.store, concurrency: 5 });
    const tasks = await t.submit(
      ...Array.from({ length: 20 }, (_, i) => (i % 5 === 4 ? { type: 'fail', retries: 0, backoff: TINY_BACKOFF } : { type: 'echo', payload: i })),
    );
    const ids = tasks.map((task) => task.id);
    const done = await t.waitForStates(ids, ['completed', 'dead'], { timeoutMs: 20_000 });

    done.forEach((task, i) => {
      // Attempt 1 everywhere: the leases were kept while the store refused, nothing ran twice.
      if (i % 5 === 4) expect(task).toMatchObject({ state: 'dead', attempt: 1, error: { reason: 'error', message: 'boom' } });
      else expect(task).toMatchObject({ state: 'completed', result: i, attempt: 1 });
      expect(task.errors.filter((e) => e.reason === 'lease_expired')).toEqual([]);
    });
    const calls = spy.callsOf('finishTasks');
    expect(calls.filter((call) => call.failed)).toHaveLength(failures);
    const written = calls.filter((call) => !call.failed).flatMap((call) => (call.params as FinishTasksParams).items.map((item) => item.id));
    expect(new Set(written)).toEqual(new Set(ids));
  });
});

/** A store stand-in whose finishTasks calls are recorded and answered when the test says so. */
function finishRecorder() {
  const calls: FinishItem[][] = [];
  const pending: (() => void)[] = [];
  let held = false;
  let failures = 0;
  const store = {
    finishTasks: (p: FinishTasksParams): Promise<FinishTasksResult> => {
      calls.push(p.items);
      const answer = (): FinishTasksResult => ({ items: p.items.map((item) => ({ id: item.id, outcome: 'completed' as const })) });
      if (failures > 0) {
        failures -= 1;
        return Promise.reject(new Error('finishTasks made to fail by the test'));
      }
      if (!held) return Promise.resolve(answer());
      return new Promise((resolve) => pending.push(() => resolve(answer())));
    },
  } as unknown as Store;
  return {
    store,
    calls,
    /** Later calls wait until `release()`. */
    hold: () => void (held = true),
    release: () => {
      held = false;
      pending.splice(0).forEach((answer) => answer());
    },
    failNext: (times: number) => void (failures = times),
  };
}

const item = (i: number): FinishItem => ({ id: `task-${i}`, queue: 'default', token: `token-${i}`, outcome: 'complete', result: i });
const nextMacrotask = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe('Completer: when it writes', () => {
  it('writes a lone outcome on the next macrotask, without waiting for a timer', async () => {
    const recorder = finishRecorder();
    const completer = new Completer(recorder.store, silentLogger);
    const written = completer.finish(item(1));
    expect(recorder.calls).toHaveLength(0);
    await nextMacrotask();
    expect(recorder.calls.map((batch) => batch.map((i) => i.id))).toEqual([['task-1']]);
    expect(await written).toBe('completed');
  });

  it('writes the outcomes of one tick in one call', async () => {
    const recorder = finishRecorder();
    const completer = new Completer(recorder.store, silentLogger);
    const written = Array.from({ length: 30 }, (_, i) => completer.finish(item(i)));
    await Promise.all(written);
    expect(recorder.calls).toHaveLength(1);
    expect(recorder.calls[0]).toHaveLength(30);
  });

  it('while a write is in flight, gathers what arrives and writes it all in one call when the write returns', async () => {
    const recorder = finishRecorder();
    const completer = new Completer(recorder.store, silentLogger);
    recorder.hold();
    const first = completer.finish(item(0));
    await nextMacrotask();
    expect(recorder.calls).toHaveLength(1);
    // Three ticks' worth of outcomes while the first write is held.
    const later: Promise<unknown>[] = [];
    for (let tick = 0; tick < 3; tick++) {
      for (let i = 1; i <= 5; i++) later.push(completer.finish(item(tick * 10 + i)));
      await nextMacrotask();
    }
    expect(recorder.calls).toHaveLength(1);
    recorder.release();
    await Promise.all([first, ...later]);
    expect(recorder.calls.map((batch) => batch.length)).toEqual([1, 15]);
  });

  it(`writes at most ${COMPLETER_BATCH_MAX} outcomes per call`, async () => {
    const recorder = finishRecorder();
    const completer = new Completer(recorder.store, silentLogger);
    const written = Array.from({ length: COMPLETER_BATCH_MAX * 2 + 7 }, (_, i) => completer.finish(item(i)));
    await Promise.all(written);
    expect(recorder.calls.map((batch) => batch.length)).toEqual([COMPLETER_BATCH_MAX, COMPLETER_BATCH_MAX, 7]);
    expect(recorder.calls.flat().map((i) => i.id)).toEqual(Array.from({ length: COMPLETER_BATCH_MAX * 2 + 7 }, (_, i) => `task-${i}`));
  });

  it('flush() writes what is queued at once and resolves when everything is written, retries included', async () => {
    const recorder = finishRecorder();
    const completer = new Completer(recorder.store, silentLogger);
    recorder.failNext(1);
    const outcomes: string[] = [];
    for (let i = 0; i < 3; i++) void completer.finish(item(i)).then((o) => outcomes.push(o));
    await completer.flush();
    expect(completer.pending).toBe(0);
    expect(recorder.calls.map((batch) => batch.length)).toEqual([3, 3]);
    await Promise.resolve();
    expect(outcomes).toEqual(['completed', 'completed', 'completed']);
  });

  it('tells every sink of a batch even when one of them throws', async () => {
    const recorder = finishRecorder();
    const completer = new Completer(recorder.store, silentLogger);
    const told: string[] = [];
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown): void => void unhandled.push(reason);
    process.on('unhandledRejection', onUnhandled);
    try {
      const throwing = {
        written: (): void => {
          throw new Error('a sink that throws');
        },
      };
      completer.enqueue(item(1), throwing);
      completer.enqueue(item(2), { written: (outcome) => void told.push(outcome) });
      await completer.flush();
      await new Promise((resolve) => setTimeout(resolve, 10));
    } finally {
      process.off('unhandledRejection', onUnhandled);
    }
    expect(recorder.calls).toHaveLength(1);
    expect(told).toEqual(['completed']);
    expect(unhandled).toHaveLength(1);
  });
});
