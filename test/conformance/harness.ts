/**
 * What every conformance area shares: the harness types and the few steps almost every test takes
 * (insert, claim, finish). Every step passes `now: clock.now()`, so the fake clock alone decides
 * what is due, leased or expired.
 */
import { expect, onTestFinished } from 'vitest';
import { isConveyorError, type ErrorCode } from '../../src/errors.js';
import type { FinishItem, FinishOutcome, LeaseRef, NewTask, Store } from '../../src/store/store.js';
import type { ClaimedTask, Task, TaskState } from '../../src/types.js';
import type { FakeClock } from '../helpers/fake-clock.js';
import { newTask } from '../helpers/factories.js';

export interface StoreHarness {
  store: Store;
  clock: FakeClock;
  cleanup(): Promise<void>;
}

/** Opens a fresh, empty store for the running test and closes it when the test ends. */
export type Setup = () => Promise<StoreHarness>;

/** Registers one conformance test; the suite turns declared known differences into skips. */
export type ConformanceTest = (name: string, body: () => Promise<void>, timeoutMs?: number) => void;

/** One area of the suite (a file of this folder): registers its tests. */
export type ConformanceArea = (setup: Setup, test: ConformanceTest) => void;

export function setupFrom(open: () => Promise<StoreHarness>): Setup {
  return async () => {
    const harness = await open();
    onTestFinished(() => harness.cleanup());
    return harness;
  };
}

export const LEASE_MS = 30_000;
export const WORKER_ID = 'worker-1';

export async function insertTasks(h: StoreHarness, tasks: NewTask[]): Promise<Task[]> {
  const { items } = await h.store.insertTasks({ tasks, now: h.clock.now() });
  return items.map((item) => item.task);
}

export async function insertOne(h: StoreHarness, overrides: Partial<NewTask> = {}): Promise<Task> {
  const [task] = await insertTasks(h, [newTask(overrides)]);
  if (!task) throw new Error('insertTasks returned no item for one task');
  return task;
}

export interface ClaimOptions {
  queues?: string[];
  limit?: number;
  leaseMs?: number;
  workerId?: string;
}

export async function claim(h: StoreHarness, options: ClaimOptions = {}): Promise<ClaimedTask[]> {
  return h.store.claimTasks({
    queues: options.queues ?? ['default'],
    workerId: options.workerId ?? WORKER_ID,
    limit: options.limit ?? 100,
    leaseMs: options.leaseMs ?? LEASE_MS,
    now: h.clock.now(),
  });
}

/** Claims and expects exactly one task, optionally a given one. */
export async function claimOne(h: StoreHarness, options: ClaimOptions & { expectedId?: string } = {}): Promise<ClaimedTask> {
  const claimed = await claim(h, { limit: 1, ...options });
  expect(claimed.map((t) => t.id)).toHaveLength(1);
  const [task] = claimed;
  if (!task) throw new Error('unreachable: one task was claimed');
  if (options.expectedId !== undefined) expect(task.id).toBe(options.expectedId);
  return task;
}

export async function getTask(h: StoreHarness, id: string): Promise<Task> {
  const [task] = await h.store.getTasks({ ids: [id] });
  if (!task) throw new Error(`getTasks found no task ${id}`);
  return task;
}

export async function getTasks(h: StoreHarness, ids: string[]): Promise<Task[]> {
  const tasks = await h.store.getTasks({ ids });
  return tasks.map((task, i) => {
    if (!task) throw new Error(`getTasks found no task ${ids[i]}`);
    return task;
  });
}

export function leaseOf(task: ClaimedTask): LeaseRef {
  return { id: task.id, queue: task.queue, token: task.leaseToken };
}

/** Omit applied to each member of a union, so the `outcome` discriminant survives. */
type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;
type ItemWithoutLease = DistributiveOmit<FinishItem, keyof LeaseRef>;

/** Finishes one attempt and returns its outcome. */
export async function finishOne(h: StoreHarness, lease: LeaseRef, item: ItemWithoutLease): Promise<FinishOutcome> {
  const { items } = await h.store.finishTasks({ items: [{ ...lease, ...item } as FinishItem], now: h.clock.now() });
  expect(items).toEqual([{ id: lease.id, outcome: expect.any(String) }]);
  return items[0]!.outcome;
}

export function complete(h: StoreHarness, lease: LeaseRef, result: Task['result'] = null): Promise<FinishOutcome> {
  return finishOne(h, lease, { outcome: 'complete', result });
}

export interface FailOptions {
  message?: string;
  retryDelayMs?: number;
  permanent?: boolean;
}

export function fail(h: StoreHarness, lease: LeaseRef, options: FailOptions = {}): Promise<FinishOutcome> {
  return finishOne(h, lease, {
    outcome: 'fail',
    error: { reason: 'error', message: options.message ?? 'boom', name: 'Error' },
    retryDelayMs: options.retryDelayMs ?? 1000,
    ...(options.permanent === undefined ? {} : { permanent: options.permanent }),
  });
}

export async function expectConveyorError(promise: Promise<unknown>, code: ErrorCode): Promise<void> {
  const err = await promise.then(
    () => new Error(`expected a ConveyorError ${code}, but the call succeeded`),
    (rejection: unknown) => rejection,
  );
  expect(isConveyorError(err, code), `expected ConveyorError ${code}, got ${String(err)}`).toBe(true);
}

export interface SeedSpec {
  state: TaskState;
  queue?: string;
  overrides?: Partial<NewTask>;
}

/**
 * Builds tasks in the given states through the store's own operations and returns them (re-read)
 * in spec order. `blocked` tasks wait on the first `scheduled` task of their queue, which the specs
 * must contain. Tasks to be claimed get a higher priority than the rest, so that claiming exactly
 * that many per queue picks exactly them; `overrides` must leave `priority`, `runAt` and
 * `dependsOn` alone.
 *
 * Ids grow in spec order, except that each queue's anchor (that first scheduled task) is minted
 * first; all go in as one batch in id order, because a store may list and hand out a queue's tasks
 * in arrival order, and only an id-ordered arrival makes that the same as id order.
 */
export async function seedTasks(h: StoreHarness, specs: SeedSpec[]): Promise<Task[]> {
  const now = h.clock.now();
  const CLAIMED_STATES: TaskState[] = ['processing', 'completed', 'dead'];
  const build = (spec: SeedSpec): NewTask =>
    newTask({
      queue: spec.queue ?? 'default',
      priority: CLAIMED_STATES.includes(spec.state) ? 9 : 1,
      ...(spec.state === 'scheduled' ? { runAt: now + 3_600_000 } : {}),
      ...spec.overrides,
    });

  const anchorIndex = new Map<string, number>();
  specs.forEach((spec, i) => {
    const queue = spec.queue ?? 'default';
    if (spec.state === 'scheduled' && !anchorIndex.has(queue)) anchorIndex.set(queue, i);
  });
  const anchors = new Map([...anchorIndex.values()].map((i) => [i, build(specs[i]!)]));
  const tasks = specs.map((spec, i) => anchors.get(i) ?? build(spec));
  tasks.forEach((task, i) => {
    if (specs[i]!.state !== 'blocked') return;
    const anchor = anchorIndex.get(task.queue);
    if (anchor === undefined) throw new Error(`seedTasks: a blocked task in ${task.queue} needs a scheduled task there`);
    task.dependsOn = [tasks[anchor]!.id];
  });
  await insertTasks(h, [...tasks].sort((a, b) => (a.id < b.id ? -1 : 1)));

  const stateOf = new Map(tasks.map((task, i) => [task.id, specs[i]!.state]));
  for (const queue of new Set(tasks.map((task) => task.queue))) {
    const toClaim = tasks.filter((task) => task.queue === queue && CLAIMED_STATES.includes(stateOf.get(task.id)!));
    if (toClaim.length === 0) continue;
    const claimed = await claim(h, { queues: [queue], limit: toClaim.length });
    expect(claimed.map((t) => t.id).sort()).toEqual(toClaim.map((t) => t.id).sort());
    for (const task of claimed) {
      const state = stateOf.get(task.id);
      if (state === 'completed') expect(await complete(h, leaseOf(task))).toBe('completed');
      if (state === 'dead') expect(await fail(h, leaseOf(task), { permanent: true })).toBe('dead');
    }
  }
  const toCancel = tasks.filter((task) => stateOf.get(task.id) === 'cancelled').map((task) => task.id);
  if (toCancel.length > 0) await h.store.cancelTasks({ ids: toCancel, now: h.clock.now() });

  const seeded = await getTasks(h, tasks.map((task) => task.id));
  expect(seeded.map((task) => task.state)).toEqual(specs.map((spec) => spec.state));
  return seeded;
}
