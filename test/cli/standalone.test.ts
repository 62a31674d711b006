/**
 * `conveyor start` as a newcomer runs it: one process on a SQLite file, a free port, the example
 * handlers; the client commands against it through the store (--store) and the API (--server).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Task } from '../../src/types.js';
import { EXAMPLE_HANDLERS, killAll, runCli, spawnCli, type CliProcess } from './cli-process.js';

const cwd = mkdtempSync(join(tmpdir(), 'conveyor-cli-start-'));
const store = `sqlite:${join(cwd, 'conveyor.db')}`;
let server: CliProcess;
let url: string;

beforeAll(async () => {
  server = spawnCli(['start', '--store', store, '--port', '0', '--handlers', EXAMPLE_HANDLERS, '--concurrency', '2:8'], { cwd });
  const [, address] = await server.waitFor(/listening on (http:\/\/127\.0\.0\.1:\d+)/);
  url = address!;
});

afterAll(async () => {
  await killAll();
  rmSync(cwd, { recursive: true, force: true });
});

const cli = (...args: string[]) => runCli(args, { cwd });

describe('conveyor start', () => {
  it('answers GET /health', async () => {
    const response = await fetch(`${url}/health`);
    expect(response.status).toBe(200);
  });

  it('runs a task submitted with `submit --store … --wait` to completion', async () => {
    const { code, stdout, stderr } = await cli('submit', 'report.build', '{"steps":2}', '--store', store, '--wait');
    expect(stderr).toMatch(/waiting/);
    expect(code, stderr).toBe(0);
    expect(stdout).toMatch(/state:\s+completed/);
    expect(stdout).toMatch(/result:\s+\{"rows":1000/);
  });

  it('`submit --wait` exits non-zero when the task dies', async () => {
    const { code, stdout, stderr } = await cli('submit', 'email.send', '{"to":"nobody"}', '--store', store, '--wait', '--retries', '0', '--json');
    expect(code).toBe(1);
    const task = JSON.parse(stdout) as Task;
    expect(task.state).toBe('dead');
    expect(stderr).toMatch(/error: task \w+ ended dead: error: payload.to must be an email address/);
  });

  it('`submit`, `tasks get` and `status` print parseable JSON with --json', async () => {
    const submitted = await cli('submit', 'email.send', '{"to":"ada@example.com"}', '--store', store, '--queue', 'mail', '--priority', 'high', '--key', 'k-1', '--json');
    expect(submitted.code, submitted.stderr).toBe(0);
    const task = JSON.parse(submitted.stdout) as Task & { created: boolean };
    expect(task).toMatchObject({ type: 'email.send', queue: 'mail', priority: 8, key: 'k-1', created: true });

    const again = await cli('submit', 'email.send', '{"to":"ada@example.com"}', '--store', store, '--queue', 'mail', '--key', 'k-1', '--json');
    expect(JSON.parse(again.stdout)).toMatchObject({ id: task.id, created: false });

    const got = await cli('tasks', 'get', task.id, '--store', store, '--json');
    expect(got.code, got.stderr).toBe(0);
    expect((JSON.parse(got.stdout) as Task).id).toBe(task.id);

    const status = await cli('status', '--store', store, '--json');
    expect(status.code, status.stderr).toBe(0);
    const view = JSON.parse(status.stdout) as { leader: string | null; queues: { name: string }[]; workers: { role?: string }[] };
    expect(view.leader).toEqual(expect.any(String));
    expect(view.queues.map((q) => q.name)).toEqual(expect.arrayContaining(['default', 'mail']));
    expect(view.workers.map((w) => w.role)).toEqual(expect.arrayContaining(['server', 'worker']));
  }, 60_000);

  it('the client commands work through the HTTP API with --server', async () => {
    const submitted = await cli('submit', 'email.send', '{"to":"bob@example.com"}', '--server', url, '--wait', '--json');
    expect(submitted.code, submitted.stderr).toBe(0);
    const task = JSON.parse(submitted.stdout) as Task;
    expect(task.state).toBe('completed');

    const [list, queues, workers, status] = await Promise.all([
      cli('tasks', 'list', '--server', url, '--type', 'email.send', '--json'),
      cli('queues', 'list', '--server', url),
      cli('workers', '--server', url, '--json'),
      cli('status', '--server', url),
    ]);
    expect(list.code, list.stderr).toBe(0);
    expect((JSON.parse(list.stdout) as { tasks: Task[] }).tasks.map((t) => t.id)).toContain(task.id);
    expect(queues.stdout).toMatch(/^QUEUE\s+PAUSED/m);
    expect(queues.stdout).toMatch(/^default\s+no/m);
    expect((JSON.parse(workers.stdout) as unknown[]).length).toBeGreaterThanOrEqual(2);
    expect(status.code, status.stderr).toBe(0);
    expect(status.stdout).toMatch(/^leader: \S+/m);
  }, 60_000);

  it('queues pause/resume, dead list/retry/purge, schedules add/list/rm, tasks cancel/retry', async () => {
    expect((await cli('queues', 'pause', 'held', '--store', store)).stdout).toMatch(/queue held paused/);
    const held = JSON.parse((await cli('submit', 'email.send', '{"to":"c@example.com"}', '--store', store, '--queue', 'held', '--json')).stdout) as Task;
    const cancelled = await cli('tasks', 'cancel', held.id, '--store', store, '--json');
    expect(JSON.parse(cancelled.stdout)).toMatchObject({ outcome: 'cancelled' });
    const retried = await cli('tasks', 'retry', held.id, '--server', url, '--json');
    expect(retried.code, retried.stderr).toBe(0);
    expect((JSON.parse(retried.stdout) as { task: Task }).task.state).toBe('pending');
    expect((await cli('queues', 'resume', 'held', '--server', url)).stdout).toMatch(/queue held resumed/);

    const dead = await cli('dead', 'list', '--store', store, '--json');
    expect((JSON.parse(dead.stdout) as { tasks: Task[] }).tasks.length).toBeGreaterThanOrEqual(1);
    const refused = await cli('dead', 'purge', '--store', store);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/--yes/);
    const purged = await cli('dead', 'purge', '--yes', '--store', store, '--json');
    expect((JSON.parse(purged.stdout) as { deleted: number }).deleted).toBeGreaterThanOrEqual(1);
    expect((await cli('dead', 'retry', '--all', '--store', store)).stdout).toMatch(/retried 0 dead tasks/);

    const added = await cli('schedules', 'add', 'digest', '--every', '1h', '--type', 'email.send', '--payload', '{"to":"d@example.com"}', '--server', url);
    expect(added.code, added.stderr).toBe(0);
    expect((await cli('schedules', 'list', '--store', store)).stdout).toMatch(/^digest\s+every 1h00m/m);
    expect((await cli('schedules', 'rm', 'digest', '--store', store)).stdout).toMatch(/removed 1 schedule$/m);
  }, 90_000);

  it('exits 0 on SIGTERM', async () => {
    server.child.kill('SIGTERM');
    const { code, signal, stderr } = await server.exit;
    expect(signal).toBeNull();
    expect(code, stderr).toBe(0);
  });
});
