/**
 * GET /api/v1/activity and the tracker behind it (src/events/recent-activity.ts), on both stores:
 * per-second completed and failed counts of the whole cluster over the last 15 minutes, including
 * what happened before anybody asked, and per-queue claims and waits.
 */
import { describe, expect, it } from 'vitest';
import { RecentActivity, type ActivitySnapshot } from '../../src/events/recent-activity.js';
import { describeForEachStore, openWorkerTest, TINY_BACKOFF, waitUntil } from '../worker/harness.js';
import { openInProcessHttpTest } from './helpers.js';

const sum = (values: number[]): number => values.reduce((a, b) => a + b, 0);

describeForEachStore('GET /api/v1/activity', (setup) => {
  it('counts every attempt of the cluster, also those that ended before the first request, and goes on live', async () => {
    const h = await setup().then((t) => openInProcessHttpTest(async () => t));
    const { t } = h;
    const ok = await t.submitMany(6, { queue: 'mail', type: 'echo', payload: {} });
    const permanent = await t.submitMany(2, { queue: 'billing', type: 'permanent', payload: {} });
    // Each fails once (task:failed), then a second time for good (task:dead).
    const twice = await t.submitMany(3, { queue: 'billing', type: 'fail', payload: {}, retries: 1, backoff: TINY_BACKOFF });
    const worker = await t.startWorker({ queues: ['mail', 'billing'] });
    await t.waitForStates(ok.map((task) => task.id), 'completed');
    await t.waitForStates([...permanent, ...twice].map((task) => task.id), 'dead');

    const before = Date.now();
    const res = await h.request<ActivitySnapshot>('GET', '/api/v1/activity');
    expect(res.status).toBe(200);
    const activity = res.body;
    expect(activity.windowSeconds).toBe(900);
    expect(activity.series.seconds).toHaveLength(900);
    expect(activity.series.completed).toHaveLength(900);
    expect(activity.series.seconds.at(-1)).toBe(Math.floor(activity.now / 1000));
    expect(activity.now).toBeGreaterThanOrEqual(before);
    expect(sum(activity.series.completed)).toBe(6);
    expect(sum(activity.series.failed)).toBe(2 + 3 * 2);
    expect(activity.queues.map(({ waitMsAvg, ...rest }) => ({ ...rest, waited: typeof waitMsAvg === 'number' && waitMsAvg >= 0 }))).toEqual([
      { queue: 'billing', completed: 0, failed: 8, claimed: 2 + 3 * 2, waited: true },
      { queue: 'mail', completed: 6, failed: 0, claimed: 6, waited: true },
    ]);
    // Everything the tasks did is retained: the counts are complete back to these queues' first events.
    expect(activity.countedSince).toBeLessThanOrEqual(before);

    // Now it follows the feed: more work shows up without a restart.
    const more = await t.submitMany(4, { queue: 'mail', type: 'echo', payload: {} });
    await t.waitForStates(more.map((task) => task.id), 'completed');
    let latest = activity;
    await waitUntil(async () => {
      latest = (await h.request<ActivitySnapshot>('GET', '/api/v1/activity')).body;
      return sum(latest.series.completed) === 10;
    }, 'the four new completions to be counted');
    expect(latest.queues.find((q) => q.queue === 'mail')).toMatchObject({ completed: 10, claimed: 10 });
    await worker.stop();
  });

  it('leaves out what is older than the window, and starts over after lingering unasked', async () => {
    const t = await setup();
    const tasks = await t.submitMany(3, { type: 'echo', payload: {} });
    await t.startWorker();
    await t.waitForStates(tasks.map((task) => task.id), 'completed');

    let shift = 0;
    const activity = new RecentActivity({ store: t.store, lingerMs: 200, now: () => Date.now() + shift });
    try {
      expect(sum((await activity.snapshot()).series.completed)).toBe(3);
      // Let it stop: nobody asked for 200 ms.
      await waitUntil(() => !activity.running, 'the tracker to stop');

      // Sixteen minutes on, those completions are out of the window.
      shift = 16 * 60_000;
      const later = await activity.snapshot();
      expect(activity.running).toBe(true);
      expect(sum(later.series.completed)).toBe(0);
      expect(later.queues).toEqual([]);
      expect(later.countedSince).toBe(later.now - 15 * 60_000);
    } finally {
      await activity.close();
    }
    expect(activity.running).toBe(false);
  });
});

describe('GET /api/v1/activity with auth on', () => {
  it('needs an admin token', async () => {
    const h = await openInProcessHttpTest(() => openWorkerTest('sqlite'), {
      auth: [
        { token: 'admin-token-0123456789', scopes: ['admin'] },
        { token: 'submit-token-0123456789', scopes: ['submit'] },
      ],
    });
    expect((await h.request('GET', '/api/v1/activity')).status).toBe(401);
    expect((await h.request('GET', '/api/v1/activity', { token: 'submit-token-0123456789' })).status).toBe(403);
    expect((await h.request('GET', '/api/v1/activity', { token: 'admin-token-0123456789' })).status).toBe(200);
  });
});
