/**
 * The Store conformance suite: one set of tests that every store passes, so that a user who moves
 * from SQLite to Redis sees the same semantics. The suite never asks which store it runs on.
 * A store's wiring file may declare known differences, each with its reason: they are logged and
 * skipped, and the suite fails if a declared name matches no test (so stale declarations go away).
 */
import { describe, expect, it } from 'vitest';
import { cancelAndRetryTests } from './cancel-and-retry.js';
import { claimOrderTests } from './claim-order.js';
import { deadlineTests } from './deadlines.js';
import { dependencyTests } from './dependencies.js';
import { eventTests } from './events.js';
import { finishAndRetryTests } from './finish-and-retries.js';
import { setupFrom, type ConformanceArea, type ConformanceTest, type StoreHarness } from './harness.js';
import { insertAndIdempotencyTests } from './insert-and-idempotency.js';
import { leadershipTests } from './leadership.js';
import { leaseAndFencingTests } from './leases-and-fencing.js';
import { listAndCountTests } from './list-and-count.js';
import { lookupTests } from './lookups.js';
import { prefetchAndStealingTests } from './prefetch-and-stealing.js';
import { queueAndPauseTests } from './queues-and-pause.js';
import { retentionTests } from './retention.js';
import { scheduleTests } from './schedules.js';
import { schedulingAndPromotionTests } from './scheduling-and-promotion.js';
import { waitForWorkTests } from './wait-for-work.js';
import { workerRegistryTests } from './worker-registry.js';

export type { StoreHarness } from './harness.js';

export interface KnownDifference {
  /** Why this store behaves differently; shown in the skipped test's title. */
  reason: string;
  /** Exact test names (the `it` titles, unique across the suite). */
  tests: string[];
}

const AREAS: [title: string, area: ConformanceArea][] = [
  ['insert and idempotency', insertAndIdempotencyTests],
  ['claim order', claimOrderTests],
  ['leases and fencing', leaseAndFencingTests],
  ['prefetch and stealing', prefetchAndStealingTests],
  ['finish and retries', finishAndRetryTests],
  ['scheduling and promotion', schedulingAndPromotionTests],
  ['dependencies', dependencyTests],
  ['deadlines', deadlineTests],
  ['cancel and retry', cancelAndRetryTests],
  ['queues and pause', queueAndPauseTests],
  ['list and count', listAndCountTests],
  ['retention', retentionTests],
  ['leadership', leadershipTests],
  ['waitForWork', waitForWorkTests],
  ['worker registry', workerRegistryTests],
  ['schedules', scheduleTests],
  ['events', eventTests],
  ['lookups', lookupTests],
];

export function describeStoreConformance(name: string, open: () => Promise<StoreHarness>, known: KnownDifference[] = []): void {
  const reasons = new Map<string, string>();
  for (const { reason, tests } of known) for (const test of tests) reasons.set(test, reason);
  const registered = new Set<string>();

  const test: ConformanceTest = (title, body, timeoutMs) => {
    // Names are the keys of known differences, so two tests must never share one.
    if (registered.has(title)) throw new Error(`two conformance tests are named ${JSON.stringify(title)}`);
    registered.add(title);
    const reason = reasons.get(title);
    if (reason === undefined) {
      it(title, body, timeoutMs);
      return;
    }
    console.warn(`[conformance ${name}] skipping a known difference: ${JSON.stringify(title)}: ${reason}`);
    it.skip(`${title} [known difference: ${reason}]`, body);
  };

  describe(`Store conformance: ${name}`, () => {
    const setup = setupFrom(open);
    for (const [title, area] of AREAS) describe(title, () => area(setup, test));

    it('every declared known difference names an existing test', () => {
      const unused = [...reasons.keys()].filter((title) => !registered.has(title));
      expect(unused, `known differences declared for ${name} that name no test`).toEqual([]);
    });
  });
}
