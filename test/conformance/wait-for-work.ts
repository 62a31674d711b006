/**
 * waitForWork runs on real time: it blocks in the store (Redis) or on in-process wake-ups (SQLite),
 * neither of which a fake clock can drive. Inserts here therefore omit `now`, so the store judges
 * due times on its own clock, the same one the wait uses. Bounds are generous: they tell "woke up"
 * from "waited for the timeout", not milliseconds.
 */
import { performance } from 'node:perf_hooks';
import { expect } from 'vitest';
import { newTask } from '../helpers/factories.js';
import type { ConformanceArea } from './harness.js';

const LONG_TIMEOUT_MS = 20_000;
const PROMPT_MS = 5_000;

/** Starts the clock, then the call, and resolves to how long the call took in ms. */
async function timed(call: () => Promise<unknown>): Promise<number> {
  const started = performance.now();
  await expect(call()).resolves.toBeUndefined();
  return performance.now() - started;
}

export const waitForWorkTests: ConformanceArea = (setup, test) => {
  test('waitForWork resolves soon after a task is inserted into a waited queue', async () => {
    const { store } = await setup();
    const elapsed = await timed(async () => {
      const waiting = store.waitForWork({ queues: ['idle', 'busy'], timeoutMs: LONG_TIMEOUT_MS });
      await store.insertTasks({ tasks: [newTask({ queue: 'busy' })] });
      return waiting;
    });
    expect(elapsed).toBeLessThan(PROMPT_MS);
  });

  test('waitForWork resolves after timeoutMs when nothing happens', async () => {
    const { store } = await setup();
    const elapsed = await timed(() => store.waitForWork({ queues: ['idle'], timeoutMs: 1_000 }));
    expect(elapsed).toBeGreaterThanOrEqual(900);
    expect(elapsed).toBeLessThan(1_000 + PROMPT_MS);
  });

  test('waitForWork resolves promptly, without rejecting, when its signal aborts', async () => {
    const { store } = await setup();
    const controller = new AbortController();
    const elapsed = await timed(() => {
      const waiting = store.waitForWork({ queues: ['idle'], timeoutMs: LONG_TIMEOUT_MS, signal: controller.signal });
      // Abort while the wait is in progress, not before it starts.
      setTimeout(() => controller.abort(), 100);
      return waiting;
    });
    expect(elapsed).toBeLessThan(PROMPT_MS);
  });

  test('waitForWork resolves at once, without rejecting, for a signal that is already aborted', async () => {
    const { store } = await setup();
    const elapsed = await timed(() => store.waitForWork({ queues: ['idle'], timeoutMs: LONG_TIMEOUT_MS, signal: AbortSignal.abort() }));
    expect(elapsed).toBeLessThan(PROMPT_MS);
  });
};
