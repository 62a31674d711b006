/**
 * Distributed mode, as the issue asks: one `conveyor server` and two `conveyor worker` processes on
 * one Redis (the run's own, under a fresh key prefix) run 1,000 tasks to completion.
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, inject, it } from 'vitest';
import { createClient } from '../../src/client/client.js';
import { openStore } from '../../src/store/open-store.js';
import type { Store } from '../../src/store/store.js';
import type { Task } from '../../src/types.js';
import { deleteKeysWithPrefix } from '../helpers/redis-server.js';
import { EXAMPLE_HANDLERS, killAll, runCli, spawnCli } from './cli-process.js';

const TASKS = 1_000;
const redisUrl = inject('redisUrl');
const prefix = `cli-${randomUUID().slice(0, 8)}`;
const env = { CONVEYOR_PREFIX: prefix };
const cwd = mkdtempSync(join(tmpdir(), 'conveyor-cli-dist-'));
let store: Store | undefined;

afterAll(async () => {
  await killAll();
  await store?.close();
  await deleteKeysWithPrefix(redisUrl, prefix);
  rmSync(cwd, { recursive: true, force: true });
});

it(`one server and two workers on one Redis complete ${TASKS} tasks`, async () => {
  const server = spawnCli(['server', '--store', redisUrl, '--port', '0'], { cwd, env });
  const workers = [1, 2].map(() => spawnCli(['worker', '--store', redisUrl, '--handlers', EXAMPLE_HANDLERS, '--concurrency', '4:32'], { cwd, env }));
  const [, url] = await server.waitFor(/listening on (http:\/\/\S+)/);
  await Promise.all(workers.map((w) => w.waitFor(/conveyor worker: running/)));

  store = await openStore(redisUrl, { prefix });
  const client = createClient({ store });
  const started = Date.now();
  const inputs = Array.from({ length: TASKS }, (_, i) => ({ type: 'email.send', payload: { to: `user${i}@example.com` } }));
  const submitted = await client.submitBatch(inputs);
  expect(submitted.every((r) => r.created)).toBe(true);

  for (;;) {
    const [counts] = await client.stats({ queue: 'default' });
    if ((counts?.counts.completed ?? 0) >= TASKS) break;
    expect(counts?.counts.dead ?? 0).toBe(0);
    expect(Date.now() - started, `completed ${counts?.counts.completed} of ${TASKS}`).toBeLessThan(60_000);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }

  // Both workers took a share, and the CLI sees it all through the server's API.
  const list = await client.list({ state: 'completed', limit: 1000 });
  const ranBy = new Set(list.tasks.map((t: Task) => t.workerId));
  expect(ranBy.size).toBe(2);

  const status = await runCli(['status', '--server', url!, '--json'], { cwd, env });
  expect(status.code, status.stderr).toBe(0);
  const view = JSON.parse(status.stdout) as { leader: string | null; queues: { name: string; counts: Record<string, number> }[]; workers: { role?: string }[] };
  expect(view.queues.find((q) => q.name === 'default')?.counts.completed).toBe(TASKS);
  expect(view.workers.filter((w) => w.role === 'worker')).toHaveLength(2);
  expect(view.leader).toEqual(expect.any(String));

  for (const child of [server, ...workers]) child.child.kill('SIGTERM');
  const exits = await Promise.all([server, ...workers].map((c) => c.exit));
  expect(exits.map((e) => e.code)).toEqual([0, 0, 0]);
}, 120_000);
