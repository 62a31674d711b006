/**
 * The web dashboard in a real browser: Debian's Chromium (`/usr/bin/chromium`, or CHROMIUM_PATH),
 * driven headless by playwright-core, against a real HTTP server built in this process on SQLite.
 * The dashboard is built from dashboard/ by Vite into a temporary folder first, so the test runs
 * the current sources (and a clean clone needs no `npm run build` before `npm test`).
 * Screenshots of every page go to test-output/dashboard/.
 */
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type Page } from 'playwright-core';
import { build } from 'vite';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClient } from '../../src/client/client.js';
import { buildHttpApp } from '../../src/http/app.js';
import { openInProcessHttpTest, type HttpTest } from '../http/helpers.js';
import { openWorkerTest } from '../worker/harness.js';

// What the functions run in the page use (the test's tsconfig has no DOM library, on purpose).
interface PageNode {
  textContent: string | null;
}
declare const document: { querySelector(selector: string): PageNode | null; querySelectorAll(selector: string): Iterable<PageNode> };
declare const sessionStorage: { getItem(key: string): string | null };

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const SHOTS = join(root, 'test-output', 'dashboard');
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const TOKEN = 'dashboard-test-token';

let dashboardDir: string;
let browser: Browser;

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) {
    throw new Error(
      `the dashboard test needs Chromium at ${CHROMIUM}: install it with ` +
        '`sudo apt-get update && sudo apt-get install -y chromium` (or set CHROMIUM_PATH)',
    );
  }
  dashboardDir = await mkdtemp(join(tmpdir(), 'conveyor-dashboard-'));
  await build({ configFile: join(root, 'dashboard', 'vite.config.ts'), logLevel: 'warn', build: { outDir: dashboardDir, emptyOutDir: true } });
  await mkdir(SHOTS, { recursive: true });
  browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox', '--disable-dev-shm-usage'] });
}, 120_000);

afterAll(async () => {
  await browser?.close();
  if (dashboardDir !== undefined) await rm(dashboardDir, { recursive: true, force: true });
});

async function open(options: Parameters<typeof openInProcessHttpTest>[1] = {}): Promise<HttpTest> {
  return openInProcessHttpTest(() => openWorkerTest('sqlite'), { dashboardDir, ...options });
}

/** A page on the server; dialogs (confirmations) are accepted. Closed by `withPage`. */
async function withPage(h: HttpTest, fn: (page: Page) => Promise<void>, viewport = { width: 1280, height: 900 }): Promise<void> {
  const context = await browser.newContext({ viewport });
  const page = await context.newPage();
  const errors: string[] = [];
  page.on('pageerror', (error) => errors.push(error.message));
  page.on('dialog', (dialog) => void dialog.accept());
  try {
    await page.goto(`${h.base}/`);
    await fn(page);
    expect(errors).toEqual([]);
  } catch (error) {
    // What the page showed, to tell a slow page from a wrong one.
    const shown = await page.locator('body').innerText({ timeout: 1000 }).catch(() => '(unreadable)');
    throw new Error(`${(error as Error).message}\n--- the page (${page.url()}) showed:\n${shown}\n--- page errors: ${errors.join('; ') || 'none'}`, { cause: error });
  } finally {
    await context.close();
  }
}

const shot = (page: Page, name: string): Promise<Buffer> => page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });

/** Waits until the element's text (trimmed) is `text`. */
async function textIs(page: Page, selector: string, text: string): Promise<void> {
  await page.waitForFunction(
    ([s, t]) => document.querySelector(s!)?.textContent?.trim() === t,
    [selector, text],
    { timeout: 10_000 },
  );
}

async function seeText(page: Page, selector: string, text: string | RegExp): Promise<void> {
  await page.locator(selector, { hasText: text }).first().waitFor({ timeout: 10_000 });
}

async function submit(h: HttpTest, body: Record<string, unknown>, token?: string): Promise<{ id: string }> {
  const res = await h.request('POST', '/api/v1/tasks', { body, ...(token === undefined ? {} : { token }) });
  expect(res.status).toBe(201);
  return res.body as { id: string };
}

/** Claims one task of `queue` through the worker protocol: it is then leased to `workerId`. */
async function claim(h: HttpTest, queue: string, workerId = 'worker-7', leaseMs = 60_000): Promise<{ id: string; leaseToken: string }> {
  const res = await h.request('POST', '/api/v1/claim', { body: { queues: [queue], workerId, limit: 1, leaseMs } });
  expect(res.status).toBe(200);
  const [task] = (res.body as { tasks: { id: string; leaseToken: string }[] }).tasks;
  if (task === undefined) throw new Error(`nothing to claim in ${queue}`);
  return task;
}

describe('dashboard', () => {
  it('shows counts live, filters to dead tasks, retries one, pauses and resumes a queue, shows every page', { timeout: 90_000 }, async () => {
    const h = await open();
    await withPage(h, async (page) => {
      await textIs(page, '[data-testid=live]', 'live');
      await shot(page, 'overview-empty');

      // Counts change live, without a reload.
      for (let i = 0; i < 3; i++) await submit(h, { type: 'email', queue: 'mail', payload: { n: i } });
      await textIs(page, 'tr[data-queue=mail] td[data-state=pending]', '3');

      // A task that dies: claimed and failed with no retry left.
      const doomed = await submit(h, { type: 'charge', queue: 'billing', retries: 0, payload: { amount: 42 } });
      const claimed = await claim(h, 'billing');
      expect(claimed.id).toBe(doomed.id);
      const failed = await h.request('POST', `/api/v1/tasks/${doomed.id}/fail`, { body: { token: claimed.leaseToken, error: { message: 'card declined', name: 'PaymentError' } } });
      expect(failed.body).toMatchObject({ state: 'dead' });
      await textIs(page, 'tr[data-queue=billing] td[data-state=dead]', '1');
      // The last 15 minutes, counted by the server (GET /api/v1/activity): one failed, and the wait
      // before its claim.
      await textIs(page, '[data-testid=failed-15m]', '1');
      await page.waitForFunction(() => /^\d+ ms$/.test(document.querySelector('tr[data-queue=billing] [data-testid=avg-wait]')?.textContent ?? ''));
      await shot(page, 'overview');

      // Tasks: filter to dead ones.
      await page.click('nav >> text=Tasks');
      await seeText(page, '[data-testid=tasks] tbody tr', 'email');
      await page.selectOption('select[name=state]', 'dead');
      await page.waitForFunction(() => {
        const rows = [...document.querySelectorAll('[data-testid=tasks] tbody tr[data-task]')];
        return rows.length === 1 && rows[0]!.textContent!.includes('dead');
      });
      expect(page.url()).toContain('state=dead');
      await shot(page, 'tasks-dead');

      // The task page: error, then retry.
      await page.click(`a[href="#/tasks/${doomed.id}"]`);
      await seeText(page, 'pre.err', 'card declined');
      await seeText(page, 'h1 .state', 'dead');
      await shot(page, 'task-dead');
      await page.click('button:has-text("Retry")');
      await seeText(page, 'h1 .state', 'pending');
      expect((await h.request('GET', `/api/v1/tasks/${doomed.id}`)).body).toMatchObject({ state: 'pending', attempt: 0 });
      await shot(page, 'task-retried');

      // Queues: pause and resume.
      await page.click('nav >> text=Queues');
      await page.click('tr[data-queue=mail] button:has-text("Pause")');
      await seeText(page, 'tr[data-queue=mail] .tag', 'paused');
      expect((await h.request('GET', '/api/v1/queues')).body.queues.find((q: { name: string }) => q.name === 'mail')).toMatchObject({ paused: true });
      await shot(page, 'queues-paused');
      await page.click('tr[data-queue=mail] button:has-text("Resume")');
      await seeText(page, 'tr[data-queue=mail] button', 'Pause');
      expect((await h.request('GET', '/api/v1/queues')).body.queues.find((q: { name: string }) => q.name === 'mail')).toMatchObject({ paused: false });

      // Dead letters: a second dead task, purged after the confirmation.
      const again = await claim(h, 'billing');
      await h.request('POST', `/api/v1/tasks/${again.id}/fail`, { body: { token: again.leaseToken, error: { message: 'declined again' }, permanent: true } });
      await page.click('nav >> text=Dead letters');
      await seeText(page, '[data-testid=tasks] tbody tr', 'charge');
      await shot(page, 'dead-letters');
      await page.click('button:has-text("Purge")');
      await seeText(page, '[data-testid=tasks] tbody tr', 'no task');
      expect((await h.request('GET', '/api/v1/dead')).body.tasks).toEqual([]);

      // Schedules: add one through the form, then delete it.
      await page.click('nav >> text=Schedules');
      await page.fill('input[name=name]', 'nightly');
      await page.fill('input[name=when]', '0 3 * * *');
      await page.fill('input[name=type]', 'report');
      await page.click('button:has-text("Add")');
      await seeText(page, 'tr[data-schedule=nightly]', '0 3 * * *');
      expect((await h.request('GET', '/api/v1/schedules/nightly')).status).toBe(200);
      await shot(page, 'schedules');
      await page.click('tr[data-schedule=nightly] button:has-text("Delete")');
      await page.locator('tr[data-schedule=nightly]').waitFor({ state: 'detached' });
      expect((await h.request('GET', '/api/v1/schedules/nightly')).status).toBe(404);

      await page.click('nav >> text=Workers');
      await page.locator('[data-testid=workers]').waitFor();
      await shot(page, 'workers');
      await page.click('nav >> text=Cluster');
      await page.locator('[data-testid=cluster]').waitFor();
      await shot(page, 'cluster');
    });
    // On a phone.
    await withPage(
      h,
      async (page) => {
        await textIs(page, 'tr[data-queue=mail] td[data-state=pending]', '3');
        await shot(page, 'overview-phone');
      },
      { width: 390, height: 844 },
    );
  });

  it('a blocked task names the task it waits for', async () => {
    const h = await open();
    const first = await submit(h, { type: 'extract', queue: 'etl' });
    const second = await submit(h, { type: 'load', queue: 'etl', dependsOn: [first.id] });
    await withPage(h, async (page) => {
      await page.goto(`${h.base}/#/tasks/${second.id}`);
      await seeText(page, '[data-testid=why] li', `blocked on task ${first.id} (pending)`);
      await shot(page, 'task-blocked');
    });
  });

  it('finds a task by id or idempotency key, lists the tasks waiting on it, shows the oldest pending task per queue', { timeout: 60_000 }, async () => {
    const h = await open();
    const first = await submit(h, { type: 'extract', queue: 'etl', key: 'batch-7' });
    const second = await submit(h, { type: 'load', queue: 'etl', dependsOn: [first.id] });
    const third = await submit(h, { type: 'index', queue: 'search', dependsOn: [first.id] });
    await withPage(h, async (page) => {
      // Overview: etl has a pending task (due now, so "due 0s ago" or so); search has only a blocked one.
      await seeText(page, 'tr[data-queue=etl] [data-testid=oldest-pending]', /^due \d+s ago$/);
      await textIs(page, 'tr[data-queue=search] [data-testid=oldest-pending]', '—');
      await shot(page, 'overview-oldest-pending');

      // queue:key without a queue filter.
      await page.goto(`${h.base}/#/tasks`);
      await page.fill('input[name=id]', 'etl:batch-7');
      await page.click('button:has-text("Open")');
      await page.waitForURL(`**/#/tasks/${first.id}`);
      // The task page lists what waits on it, across queues.
      await seeText(page, '[data-testid=dependents]', second.id);
      await seeText(page, '[data-testid=dependents]', third.id);
      await seeText(page, '[data-testid=dependents]', 'index in search');
      await shot(page, 'task-dependents');

      // A bare key with the queue filter set.
      await page.goto(`${h.base}/#/tasks?queue=etl`);
      await page.fill('input[name=id]', 'batch-7');
      await page.click('button:has-text("Open")');
      await page.waitForURL(`**/#/tasks/${first.id}`);

      // An id (lower case: ids are case-insensitive); the dependent waits on nothing itself.
      await page.goto(`${h.base}/#/tasks`);
      await page.fill('input[name=id]', second.id.toLowerCase());
      await page.click('button:has-text("Open")');
      await page.waitForURL(`**/#/tasks/${second.id}`);
      await textIs(page, '[data-testid=dependents]', '—');

      // Unknown key, and a bare key without a queue.
      await page.goto(`${h.base}/#/tasks?queue=etl`);
      await page.fill('input[name=id]', 'batch-8');
      await page.click('button:has-text("Open")');
      await seeText(page, '.error', 'no task batch-8 (key "batch-8" in queue etl)');
      await page.goto(`${h.base}/#/tasks`);
      await page.fill('input[name=id]', 'batch-7');
      await page.click('button:has-text("Open")');
      await seeText(page, '.error', 'pick a queue or type queue:key');
      await shot(page, 'tasks-key-not-found');
    });
    expect((await h.request('GET', `/api/v1/tasks?queue=etl&key=batch-7`)).body).toMatchObject({ tasks: [{ id: first.id }], nextCursor: null });
    expect((await h.request('GET', `/api/v1/tasks/${first.id}/dependents`)).body.tasks.map((t: { id: string }) => t.id)).toEqual([second.id, third.id]);
  });

  it('pauses and resumes a schedule', async () => {
    const h = await open();
    const created = await h.request('POST', '/api/v1/schedules', { body: { name: 'hourly', every: '1h', task: { type: 'report', queue: 'reports' } } });
    expect(created.status).toBe(201);
    await withPage(h, async (page) => {
      await page.goto(`${h.base}/#/schedules`);
      await page.click('tr[data-schedule=hourly] button:has-text("Pause")');
      await seeText(page, 'tr[data-schedule=hourly] .tag', 'paused');
      expect((await h.request('GET', '/api/v1/schedules/hourly')).body).toMatchObject({ paused: true, everyMs: 3_600_000, task: { type: 'report', queue: 'reports' } });
      await shot(page, 'schedules-paused');
      await page.click('tr[data-schedule=hourly] button:has-text("Resume")');
      await seeText(page, 'tr[data-schedule=hourly] button', 'Pause');
      expect((await h.request('GET', '/api/v1/schedules/hourly')).body).toMatchObject({ paused: false });
    });
  });

  it('a scheduled task says until when', async () => {
    const h = await open();
    const task = await submit(h, { type: 'remind', queue: 'later', delay: '1h' });
    await withPage(h, async (page) => {
      await page.goto(`${h.base}/#/tasks/${task.id}`);
      await seeText(page, '[data-testid=why] li', /^scheduled until .+ \(in (59|60)m\)$/);
      await shot(page, 'task-scheduled');
    });
  });

  it('a pending task of a paused queue says the queue is paused, and that no worker serves it', async () => {
    const h = await open();
    expect((await h.request('POST', '/api/v1/queues/frozen/pause')).status).toBe(200);
    const task = await submit(h, { type: 'thaw', queue: 'frozen' });
    await withPage(h, async (page) => {
      await page.goto(`${h.base}/#/tasks/${task.id}`);
      await seeText(page, '[data-testid=why] li', 'queue frozen is paused');
      await seeText(page, '[data-testid=why] li', 'no worker serves queue frozen');
      await shot(page, 'task-paused');
    });
  });

  it('a claimed task says which worker holds its lease, and until when; cancel asks first', async () => {
    const h = await open();
    const task = await submit(h, { type: 'crunch', queue: 'cpu' });
    await claim(h, 'cpu', 'worker-7');
    await withPage(h, async (page) => {
      await page.goto(`${h.base}/#/tasks/${task.id}`);
      await seeText(page, '[data-testid=why] li', /^leased to worker worker-7 until /);
      await shot(page, 'task-leased');
      await page.click('button:has-text("Cancel")');
      await seeText(page, '[data-testid=why] li', '(cancel requested)');
    });
    expect((await h.request('GET', `/api/v1/tasks/${task.id}`)).body).toMatchObject({ state: 'processing', cancelRequested: true });
  });

  it('with auth on, the page asks for the token, and the API refuses requests without it', async () => {
    const h = await open({ auth: [{ token: TOKEN, scopes: ['admin'] }] });
    await submit(h, { type: 'email', queue: 'mail' }, TOKEN);
    expect((await h.request('GET', '/api/v1/queues')).status).toBe(401);
    expect((await h.request('GET', '/api/v1/events')).status).toBe(401);
    expect((await h.request('GET', '/api/v1/queues', { token: 'wrong' })).status).toBe(401);
    const index = await fetch(`${h.base}/`);
    expect(index.status).toBe(200);
    expect(index.headers.get('content-security-policy')).toContain("default-src 'self'");
    await withPage(h, async (page) => {
      await page.locator('input[name=token]').waitFor();
      await shot(page, 'token');
      await page.fill('input[name=token]', TOKEN);
      await page.click('button:has-text("Sign in")');
      await textIs(page, 'tr[data-queue=mail] td[data-state=pending]', '1');
      await textIs(page, '[data-testid=live]', 'live');
      expect(await page.evaluate(() => sessionStorage.getItem('conveyor.token'))).toBe(TOKEN);
    });
  });

  it('serves hashed assets and refuses other paths; without a build, / says to run npm run build', async () => {
    const h = await open();
    const html = await (await fetch(`${h.base}/`)).text();
    const script = /src="\.\/assets\/([^"]+\.js)"/.exec(html)?.[1];
    expect(script).toBeDefined();
    const asset = await fetch(`${h.base}/assets/${script}`);
    expect(asset.status).toBe(200);
    expect(asset.headers.get('content-type')).toContain('text/javascript');
    expect(asset.headers.get('cache-control')).toContain('immutable');
    expect((await fetch(`${h.base}/assets/..%2Findex.html`)).status).toBe(404);
    expect((await fetch(`${h.base}/assets/nothing.js`)).status).toBe(404);
    expect((await h.request('GET', '/health')).status).toBe(200);

    const t = await openWorkerTest('sqlite');
    const bare = await buildHttpApp({ client: createClient({ store: t.store }), store: t.store, dashboardDir: join(dashboardDir, 'missing') });
    const res = await bare.inject({ method: 'GET', url: '/' });
    await bare.close();
    expect(res.statusCode).toBe(503);
    expect(res.body).toContain('npm run build');
  });
});
