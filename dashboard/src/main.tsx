/**
 * Conveyor's web dashboard: hash routes (#/, #/tasks, #/tasks/:id, #/queues, #/dead, #/workers,
 * #/schedules, #/cluster) over the public HTTP API. See docs/dashboard.md.
 */
import { render, type ComponentChildren } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import {
  api,
  ApiError,
  getToken,
  query,
  setToken,
  STATES,
  subscribe,
  whenUnauthorized,
  type Activity,
  type ClusterNode,
  type Queue,
  type Schedule,
  type Task,
  type Worker,
} from './api.js';
import { ThroughputChart } from './chart.js';
import { throttle, useHash, useLoad } from './hooks.js';
import './style.css';

const FINISHED = new Set(['completed', 'dead', 'cancelled']);
/** Events that change a queue's counts (progress does not). */
const COUNTED_EVENTS = ['task:submitted', 'task:claimed', 'task:completed', 'task:failed', 'task:dead', 'task:cancelled', 'task:reclaimed', 'task:released', 'task:retried'];
const sum = (values: number[] | undefined): number => (values ?? []).reduce((a, b) => a + b, 0);
/** A task id: 26 characters of Crockford base32 (ids are case-insensitive). */
const TASK_ID = /^[0-9A-HJKMNP-TV-Z]{26}$/i;

const time = (ms: number | null | undefined): string => (ms === null || ms === undefined ? '—' : new Date(ms).toLocaleString());
function ago(ms: number): string {
  const s = Math.round((Date.now() - ms) / 1000);
  const abs = Math.abs(s);
  const text = abs < 90 ? `${abs}s` : abs < 5400 ? `${Math.round(abs / 60)}m` : abs < 172800 ? `${Math.round(abs / 3600)}h` : `${Math.round(abs / 86400)}d`;
  return s >= 0 ? `${text} ago` : `in ${text}`;
}
const json = (value: unknown): string => (value === undefined ? '' : JSON.stringify(value, null, 2));

/** Runs an action, reports its error in an alert, then `after()`. */
async function act(what: string, fn: () => Promise<unknown>, after: () => void, confirmText?: string): Promise<void> {
  if (confirmText !== undefined && !confirm(confirmText)) return;
  try {
    await fn();
  } catch (err) {
    alert(`${what} failed: ${(err as Error).message}`);
  }
  after();
}

function Err({ error }: { error: string | undefined }) {
  return error === undefined ? null : <p class="error" role="alert">{error}</p>;
}

function State({ state }: { state: string }) {
  return <span class={`state state-${state}`}>{state}</span>;
}

// ---- overview -------------------------------------------------------------------------------------

function Overview() {
  const queues = useLoad(() => api<{ queues: Queue[] }>('GET', '/queues'), []);
  const workers = useLoad(() => api<{ workers: Worker[] }>('GET', '/workers'), []);
  const cluster = useLoad(() => api<{ leader: string | null; nodes: ClusterNode[] }>('GET', '/cluster'), []);
  // The server counts the cluster's last 15 minutes (GET /activity); the events stream only says
  // when to look again, so the page stays live without replaying every event.
  const activity = useLoad(() => api<Activity>('GET', '/activity'), []);
  const [live, setLive] = useState(false);
  useEffect(() => {
    const refresh = throttle(() => queues.reload(), 500);
    const refreshActivity = setInterval(() => activity.reload(), 2_000);
    const refreshWorkers = setInterval(() => {
      workers.reload();
      cluster.reload();
    }, 10_000);
    const stop = subscribe({ events: COUNTED_EVENTS }, refresh, setLive);
    return () => {
      stop();
      clearInterval(refreshActivity);
      clearInterval(refreshWorkers);
    };
  }, []);
  const list = queues.data?.queues ?? [];
  const series = activity.data?.series;
  const totals = { completed: sum(series?.completed), failed: sum(series?.failed) };
  const waits = new Map((activity.data?.queues ?? []).map((q) => [q.queue, q.waitMsAvg]));
  const countedSince = activity.data !== undefined && activity.data.countedSince > activity.data.now - activity.data.windowSeconds * 1000 + 1000 ? activity.data.countedSince : null;
  return (
    <section>
      <h1>
        Overview <span class={live ? 'live on' : 'live'} data-testid="live">{live ? 'live' : 'offline'}</span>
      </h1>
      <Err error={queues.error} />
      <div class="cards">
        <div class="card">
          <b data-testid="workers-online">{workers.data?.workers.length ?? '…'}</b> workers online
        </div>
        <div class="card">
          leader <b data-testid="leader">{cluster.data?.leader ?? '—'}</b>
        </div>
        <div class="card">
          last 15 min: <b data-testid="completed-15m">{totals.completed}</b> completed, <b data-testid="failed-15m">{totals.failed}</b> failed
          {countedSince === null ? null : <small> (counted since {new Date(countedSince).toLocaleTimeString()})</small>}
        </div>
      </div>
      <h2>Throughput (last 15 minutes)</h2>
      <Err error={activity.error} />
      <ThroughputChart activity={activity.data} />
      <h2>Queues</h2>
      <div class="scroll">
        <table data-testid="queue-counts">
          <thead>
            <tr>
              <th>queue</th>
              {STATES.map((s) => (
                <th key={s}>{s}</th>
              ))}
              <th>avg wait (15 min)</th>
              <th>oldest pending</th>
            </tr>
          </thead>
          <tbody>
            {list.map((q) => {
              const wait = waits.get(q.name);
              return (
                <tr key={q.name} data-queue={q.name}>
                  <td>
                    <a href={`#/tasks?queue=${encodeURIComponent(q.name)}`}>{q.name}</a> {q.paused ? <span class="tag">paused</span> : null}
                  </td>
                  {STATES.map((s) => (
                    <td key={s} data-state={s} class="num">
                      <a href={`#/tasks?queue=${encodeURIComponent(q.name)}&state=${s}`}>{q.counts[s] ?? 0}</a>
                    </td>
                  ))}
                  <td class="num" data-testid="avg-wait">{wait === undefined || wait === null ? '—' : `${wait} ms`}</td>
                  <td class="num" data-testid="oldest-pending" title={time(q.oldestPendingAt)}>
                    {q.oldestPendingAt === null ? '—' : `due ${ago(q.oldestPendingAt)}`}
                  </td>
                </tr>
              );
            })}
            {list.length === 0 ? (
              <tr>
                <td colSpan={STATES.length + 3}>no queue yet</td>
              </tr>
            ) : null}
          </tbody>
        </table>
      </div>
    </section>
  );
}

// ---- tasks -------------------------------------------------------------------------------------------

function TaskTable({ tasks }: { tasks: Task[] }) {
  return (
    <div class="scroll">
      <table data-testid="tasks">
        <thead>
          <tr>
            <th>id</th>
            <th>queue</th>
            <th>type</th>
            <th>state</th>
            <th>attempt</th>
            <th>created</th>
          </tr>
        </thead>
        <tbody>
          {tasks.map((t) => (
            <tr key={t.id} data-task={t.id}>
              <td class="mono">
                <a href={`#/tasks/${t.id}`}>{t.id}</a>
              </td>
              <td>{t.queue}</td>
              <td>{t.type}</td>
              <td>
                <State state={t.state} />
              </td>
              <td class="num">
                {t.attempt}/{t.maxAttempts}
              </td>
              <td title={time(t.createdAt)}>{ago(t.createdAt)}</td>
            </tr>
          ))}
          {tasks.length === 0 ? (
            <tr>
              <td colSpan={6}>no task</td>
            </tr>
          ) : null}
        </tbody>
      </table>
    </div>
  );
}

function Tasks({ params }: { params: URLSearchParams }) {
  const queue = params.get('queue') ?? '';
  const state = params.get('state') ?? '';
  const type = params.get('type') ?? '';
  const [cursors, setCursors] = useState<(string | null)[]>([null]);
  const cursor = cursors[cursors.length - 1] ?? null;
  useEffect(() => setCursors([null]), [queue, state, type]);
  const queues = useLoad(() => api<{ queues: Queue[] }>('GET', '/queues'), []);
  const page = useLoad(
    () => api<{ tasks: Task[]; nextCursor: string | null }>('GET', `/tasks${query({ queue, state, type, limit: 50, cursor })}`),
    [queue, state, type, cursor],
  );
  const [search, setSearch] = useState('');
  const [searchError, setSearchError] = useState<string | undefined>();
  const setFilter = (name: string, value: string): void => {
    const next = new URLSearchParams(params);
    if (value === '') next.delete(name);
    else next.set(name, value);
    location.hash = `#/tasks${next.toString() === '' ? '' : `?${next}`}`;
  };
  /**
   * A task id opens the task; else an idempotency key: `queue:key`, or a key in the queue filter's
   * queue (queue names hold no ":", so the first ":" splits). An id-shaped text that is no task's id
   * is tried as a key too.
   */
  const find = async (e: Event): Promise<void> => {
    e.preventDefault();
    const text = search.trim();
    if (text === '') return;
    try {
      if (TASK_ID.test(text)) {
        const task = await api<Task>('GET', `/tasks/${encodeURIComponent(text)}`).catch((err: unknown) => {
          if (err instanceof ApiError && err.status === 404) return null;
          throw err;
        });
        if (task !== null) {
          location.hash = `#/tasks/${task.id}`;
          return;
        }
      }
      const tries: [string, string][] = [];
      if (queue !== '') tries.push([queue, text]);
      const colon = text.indexOf(':');
      if (colon > 0 && colon < text.length - 1) tries.push([text.slice(0, colon), text.slice(colon + 1)]);
      if (tries.length === 0) {
        setSearchError(`no task ${text}: to find a task by its key, pick a queue or type queue:key`);
        return;
      }
      for (const [q, key] of tries) {
        const found = await api<{ tasks: Task[] }>('GET', `/tasks${query({ queue: q, key })}`).catch((err: unknown) => {
          if (err instanceof ApiError && err.status === 400) return { tasks: [] };
          throw err;
        });
        const task = found.tasks[0];
        if (task !== undefined) {
          location.hash = `#/tasks/${task.id}`;
          return;
        }
      }
      setSearchError(`no task ${text} (${tries.map(([q, key]) => `key ${JSON.stringify(key)} in queue ${q}`).join(', nor ')})`);
    } catch (err) {
      setSearchError((err as Error).message);
    }
  };
  return (
    <section>
      <h1>Tasks</h1>
      <form class="filters" onSubmit={(e) => void find(e)}>
        <label>
          queue
          <select name="queue" value={queue} onChange={(e) => setFilter('queue', e.currentTarget.value)}>
            <option value="">all</option>
            {(queues.data?.queues ?? []).map((q) => (
              <option key={q.name} value={q.name}>
                {q.name}
              </option>
            ))}
          </select>
        </label>
        <label>
          state
          <select name="state" value={state} onChange={(e) => setFilter('state', e.currentTarget.value)}>
            <option value="">all</option>
            {STATES.map((s) => (
              <option key={s} value={s}>
                {s}
              </option>
            ))}
          </select>
        </label>
        <label>
          type
          <input name="type" value={type} placeholder="any" onChange={(e) => setFilter('type', e.currentTarget.value.trim())} />
        </label>
        <label>
          task id or key
          <input name="id" value={search} placeholder="01J… or queue:key" onInput={(e) => setSearch(e.currentTarget.value)} />
        </label>
        <button type="submit">Open</button>
      </form>
      <Err error={searchError ?? page.error} />
      <TaskTable tasks={page.data?.tasks ?? []} />
      <div class="pager">
        <button disabled={cursors.length === 1} onClick={() => setCursors(cursors.slice(0, -1))}>
          ← newer
        </button>
        <span>page {cursors.length}</span>
        <button disabled={!page.data?.nextCursor} onClick={() => setCursors([...cursors, page.data?.nextCursor ?? null])}>
          older →
        </button>
      </div>
    </section>
  );
}

/** Why a task that is not finished does not run now, from the task, its queue, the workers and its dependencies. */
function reasons(task: Task, queue: Queue | undefined, workers: Worker[], deps: (Task | null)[]): string[] {
  const out: string[] = [];
  if (task.state === 'blocked') {
    const waiting = task.dependsOn.filter((_id, i) => deps[i]?.state !== 'completed');
    for (const id of waiting) {
      const dep = deps[task.dependsOn.indexOf(id)];
      out.push(`blocked on task ${id} (${dep ? dep.state : 'not found'})`);
    }
    if (waiting.length === 0) out.push('blocked: its dependencies have completed; it is about to be released');
  }
  if (task.state === 'scheduled') out.push(`scheduled until ${time(task.runAt)} (${ago(task.runAt)})`);
  if (task.state === 'processing') {
    out.push(`leased to worker ${task.workerId ?? '?'} until ${time(task.leaseExpiresAt)}${task.cancelRequested ? ' (cancel requested)' : ''}`);
  }
  if (task.state === 'pending' || task.state === 'scheduled' || task.state === 'blocked') {
    if (queue?.paused) out.push(`queue ${task.queue} is paused`);
    const serving = workers.filter((w) => (w.role ?? 'worker') === 'worker' && (w.queues.length === 0 || w.queues.includes(task.queue)));
    if (serving.length === 0) out.push(`no worker serves queue ${task.queue}`);
    if (task.state === 'pending' && out.length === 0) out.push(`pending since ${time(task.runAt)}: waiting for a free worker`);
  }
  return out;
}

function Field({ name, children }: { name: string; children: ComponentChildren }) {
  return (
    <>
      <dt>{name}</dt>
      <dd>{children}</dd>
    </>
  );
}

function TaskPage({ id }: { id: string }) {
  const loaded = useLoad(async () => {
    const task = await api<Task>('GET', `/tasks/${encodeURIComponent(id)}`);
    const [queues, workers, deps, dependents] = await Promise.all([
      api<{ queues: Queue[] }>('GET', '/queues'),
      api<{ workers: Worker[] }>('GET', '/workers'),
      Promise.all(task.dependsOn.map((d) => api<Task>('GET', `/tasks/${d}`).catch(() => null))),
      api<{ tasks: Task[] }>('GET', `/tasks/${encodeURIComponent(task.id)}/dependents`),
    ]);
    return { task, queue: queues.queues.find((q) => q.name === task.queue), workers: workers.workers, deps, dependents: dependents.tasks };
  }, [id]);
  const queueName = loaded.data?.task.queue;
  useEffect(() => {
    if (queueName === undefined) return;
    const refresh = throttle(() => loaded.reload(), 300);
    return subscribe({}, (event) => {
      if (event.taskId.toUpperCase() === id.toUpperCase()) refresh();
    });
  }, [id, queueName]);
  if (loaded.data === undefined) return <Err error={loaded.error ?? undefined} />;
  const { task, queue, workers, deps, dependents } = loaded.data;
  const why = FINISHED.has(task.state) ? [] : reasons(task, queue, workers, deps);
  const timeline: [number, string][] = [[task.createdAt, 'created']];
  if (task.runAt !== task.createdAt) timeline.push([task.runAt, task.state === 'scheduled' ? 'due' : 'due (last)']);
  for (const e of task.errors) timeline.push([e.at, `attempt ${e.attempt} ended: ${e.reason}: ${e.message}`]);
  if (task.startedAt !== null) timeline.push([task.startedAt, `attempt ${task.attempt} started`]);
  if (task.finishedAt !== null) timeline.push([task.finishedAt, task.state]);
  timeline.sort((a, b) => a[0] - b[0]);
  return (
    <section>
      <h1>
        Task <span class="mono">{task.id}</span> <State state={task.state} />
      </h1>
      <Err error={loaded.error} />
      {why.length > 0 ? (
        <div class="why" data-testid="why">
          <b>Why it is not running:</b>
          <ul>
            {why.map((r) => (
              <li key={r}>{r}</li>
            ))}
          </ul>
        </div>
      ) : null}
      <div class="actions">
        {!FINISHED.has(task.state) ? (
          <button
            class="danger"
            onClick={() => void act('cancel', () => api('POST', `/tasks/${task.id}/cancel`), loaded.reload, `Cancel task ${task.id}?`)}
          >
            Cancel
          </button>
        ) : null}
        {task.state === 'dead' || task.state === 'cancelled' ? (
          <button onClick={() => void act('retry', () => api('POST', `/tasks/${task.id}/retry`), loaded.reload)}>Retry</button>
        ) : null}
      </div>
      <dl class="fields">
        <Field name="queue">
          <a href={`#/tasks?queue=${encodeURIComponent(task.queue)}`}>{task.queue}</a>
          {queue?.paused ? ' (paused)' : ''}
        </Field>
        <Field name="type">{task.type}</Field>
        <Field name="priority">{task.priority}</Field>
        <Field name="attempts">
          {task.attempt} of {task.maxAttempts}
        </Field>
        <Field name="key">{task.key ?? '—'}</Field>
        <Field name="worker">{task.workerId ?? '—'}</Field>
        <Field name="deadline">{time(task.deadline)}</Field>
        <Field name="depends on">
          {task.dependsOn.length === 0
            ? '—'
            : task.dependsOn.map((d, i) => (
                <div key={d}>
                  <a class="mono" href={`#/tasks/${d}`}>
                    {d}
                  </a>{' '}
                  {deps[i] ? <State state={deps[i].state} /> : 'not found'}
                </div>
              ))}
        </Field>
        <Field name="waiting on it">
          <div data-testid="dependents">
            {dependents.length === 0
              ? FINISHED.has(task.state)
                ? '— (nothing waits on a finished task)'
                : '—'
              : dependents.map((d) => (
                  <div key={d.id}>
                    <a class="mono" href={`#/tasks/${d.id}`}>
                      {d.id}
                    </a>{' '}
                    {d.type} in {d.queue} <State state={d.state} />
                  </div>
                ))}
          </div>
        </Field>
      </dl>
      <h2>Timeline</h2>
      <ol class="timeline">
        {timeline.map(([at, what], i) => (
          <li key={i}>
            <time>{time(at)}</time> {what}
          </li>
        ))}
      </ol>
      <h2>Payload</h2>
      <pre>{json(task.payload)}</pre>
      {task.progress !== null ? (
        <>
          <h2>Progress</h2>
          <pre>{json(task.progress)}</pre>
        </>
      ) : null}
      {task.result !== null ? (
        <>
          <h2>Result</h2>
          <pre>{json(task.result)}</pre>
        </>
      ) : null}
      {task.error !== null ? (
        <>
          <h2>Error</h2>
          <pre class="err">
            {task.error.reason}: {task.error.name ? `${task.error.name}: ` : ''}
            {task.error.message}
            {task.error.stack ? `\n${task.error.stack}` : ''}
          </pre>
        </>
      ) : null}
      {task.errors.length > 0 ? (
        <>
          <h2>Error history</h2>
          <ol>
            {task.errors.map((e, i) => (
              <li key={i}>
                attempt {e.attempt}, {time(e.at)}: {e.reason}: {e.message}
              </li>
            ))}
          </ol>
        </>
      ) : null}
    </section>
  );
}

// ---- queues and the dead-letter queue -------------------------------------------------------------------

function Queues() {
  const queues = useLoad(() => api<{ queues: Queue[] }>('GET', '/queues'), []);
  return (
    <section>
      <h1>Queues</h1>
      <Err error={queues.error} />
      <div class="scroll">
        <table data-testid="queues">
          <thead>
            <tr>
              <th>queue</th>
              <th>state</th>
              <th>pending</th>
              <th>processing</th>
              <th>dead</th>
              <th />
            </tr>
          </thead>
          <tbody>
            {(queues.data?.queues ?? []).map((q) => (
              <tr key={q.name} data-queue={q.name}>
                <td>{q.name}</td>
                <td>{q.paused ? <span class="tag">paused</span> : 'running'}</td>
                <td class="num">{q.counts.pending}</td>
                <td class="num">{q.counts.processing}</td>
                <td class="num">
                  <a href={`#/dead?queue=${encodeURIComponent(q.name)}`}>{q.counts.dead}</a>
                </td>
                <td>
                  {q.paused ? (
                    <button onClick={() => void act('resume', () => api('POST', `/queues/${encodeURIComponent(q.name)}/resume`), queues.reload)}>Resume</button>
                  ) : (
                    <button onClick={() => void act('pause', () => api('POST', `/queues/${encodeURIComponent(q.name)}/pause`), queues.reload)}>Pause</button>
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </section>
  );
}

function Dead({ params }: { params: URLSearchParams }) {
  const queue = params.get('queue') ?? '';
  const [cursors, setCursors] = useState<(string | null)[]>([null]);
  const cursor = cursors[cursors.length - 1] ?? null;
  const page = useLoad(() => api<{ tasks: Task[]; nextCursor: string | null }>('GET', `/dead${query({ queue, limit: 50, cursor })}`), [queue, cursor]);
  const which = queue === '' ? 'every queue' : `queue ${queue}`;
  const done = (): void => {
    setCursors([null]);
    page.reload();
  };
  return (
    <section>
      <h1>Dead letters {queue === '' ? '' : `of ${queue}`}</h1>
      <div class="actions">
        <button onClick={() => void act('retry', () => api('POST', '/dead/retry', queue === '' ? {} : { queue }), done, `Retry every dead task of ${which}?`)}>
          Retry all
        </button>
        <button class="danger" onClick={() => void act('purge', () => api('DELETE', `/dead${query({ queue })}`), done, `Delete every dead task of ${which}? This cannot be undone.`)}>
          Purge
        </button>
      </div>
      <Err error={page.error} />
      <TaskTable tasks={page.data?.tasks ?? []} />
      <div class="pager">
        <button disabled={cursors.length === 1} onClick={() => setCursors(cursors.slice(0, -1))}>
          ← newer
        </button>
        <button disabled={!page.data?.nextCursor} onClick={() => setCursors([...cursors, page.data?.nextCursor ?? null])}>
          older →
        </button>
      </div>
    </section>
  );
}

// ---- workers, schedules, cluster ------------------------------------------------------------------------

function Workers() {
  const workers = useLoad(() => api<{ workers: Worker[] }>('GET', '/workers'), []);
  return (
    <section>
      <h1>Workers</h1>
      <Err error={workers.error} />
      <div class="scroll">
        <table data-testid="workers">
          <thead>
            <tr>
              <th>id</th>
              <th>host</th>
              <th>queues</th>
              <th>running</th>
              <th>concurrency</th>
              <th>heartbeat</th>
            </tr>
          </thead>
          <tbody>
            {(workers.data?.workers ?? []).map((w) => (
              <tr key={w.id}>
                <td class="mono">{w.id}</td>
                <td>
                  {w.host} (pid {w.pid})
                </td>
                <td>{w.queues.length === 0 ? 'all' : w.queues.join(', ')}</td>
                <td class="num">{w.running}</td>
                <td class="num">
                  {w.concurrency.current} ({w.concurrency.min}–{w.concurrency.max})
                </td>
                <td>{ago(w.lastHeartbeatAt)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </section>
  );
}

/** The schedule as a `POST /schedules` body (its definition) with `paused` flipped; it keeps its last run. */
function togglePaused(s: Schedule): Record<string, unknown> {
  return {
    name: s.name,
    ...(s.cron !== null ? { cron: s.cron, ...(s.timezone !== null ? { timezone: s.timezone } : {}) } : { every: s.everyMs }),
    task: s.task,
    missedRuns: s.missedRuns,
    paused: !s.paused,
  };
}

function Schedules() {
  const schedules = useLoad(() => api<{ schedules: Schedule[] }>('GET', '/schedules'), []);
  const [form, setForm] = useState({ name: '', when: '', type: '', queue: 'default', payload: '' });
  const [error, setError] = useState<string | undefined>();
  const set = (k: keyof typeof form) => (e: Event) => setForm({ ...form, [k]: (e.currentTarget as HTMLInputElement).value });
  const add = async (e: Event): Promise<void> => {
    e.preventDefault();
    try {
      const when = form.when.trim();
      const isEvery = /^\d+(ms|s|m|h|d)?$/.test(when);
      await api('POST', '/schedules', {
        name: form.name.trim(),
        ...(isEvery ? { every: /^\d+$/.test(when) ? Number(when) : when } : { cron: when }),
        task: { type: form.type.trim(), queue: form.queue.trim() || 'default', ...(form.payload.trim() === '' ? {} : { payload: JSON.parse(form.payload) as unknown }) },
      });
      setError(undefined);
      setForm({ ...form, name: '' });
      schedules.reload();
    } catch (err) {
      setError((err as Error).message);
    }
  };
  return (
    <section>
      <h1>Schedules</h1>
      <Err error={schedules.error} />
      <div class="scroll">
        <table data-testid="schedules">
          <thead>
            <tr>
              <th>name</th>
              <th>when</th>
              <th>task</th>
              <th>next run</th>
              <th>last run</th>
              <th />
            </tr>
          </thead>
          <tbody>
            {(schedules.data?.schedules ?? []).map((s) => (
              <tr key={s.name} data-schedule={s.name}>
                <td>
                  {s.name} {s.paused ? <span class="tag">paused</span> : null}
                </td>
                <td class="mono">{s.cron !== null ? `${s.cron}${s.timezone ? ` (${s.timezone})` : ''}` : `every ${s.everyMs} ms`}</td>
                <td>
                  {String(s.task.type)} → {String(s.task.queue ?? 'default')}
                </td>
                <td>{time(s.nextRunAt)}</td>
                <td>{time(s.lastRunAt)}</td>
                <td>
                  <button onClick={() => void act(s.paused ? 'resume' : 'pause', () => api('POST', '/schedules', togglePaused(s)), schedules.reload)}>
                    {s.paused ? 'Resume' : 'Pause'}
                  </button>{' '}
                  <button
                    class="danger"
                    onClick={() => void act('delete', () => api('DELETE', `/schedules/${encodeURIComponent(s.name)}`), schedules.reload, `Delete schedule ${s.name}?`)}
                  >
                    Delete
                  </button>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      <h2>Add a schedule</h2>
      <form class="filters" onSubmit={(e) => void add(e)}>
        <label>
          name
          <input name="name" required value={form.name} onInput={set('name')} />
        </label>
        <label>
          cron or every
          <input name="when" required placeholder="0 3 * * * or 5m" value={form.when} onInput={set('when')} />
        </label>
        <label>
          task type
          <input name="type" required value={form.type} onInput={set('type')} />
        </label>
        <label>
          queue
          <input name="queue" value={form.queue} onInput={set('queue')} />
        </label>
        <label>
          payload (JSON)
          <input name="payload" value={form.payload} onInput={set('payload')} />
        </label>
        <button type="submit">Add</button>
      </form>
      <Err error={error} />
    </section>
  );
}

function Cluster() {
  const cluster = useLoad(() => api<{ self: string | null; leader: string | null; nodes: ClusterNode[] }>('GET', '/cluster'), []);
  return (
    <section>
      <h1>Cluster</h1>
      <Err error={cluster.error} />
      <p>
        leader: <b class="mono">{cluster.data?.leader ?? '—'}</b>; this server: <span class="mono">{cluster.data?.self ?? '—'}</span>
      </p>
      <div class="scroll">
        <table data-testid="cluster">
          <thead>
            <tr>
              <th>node</th>
              <th>role</th>
              <th>host</th>
              <th>version</th>
              <th>up</th>
              <th>heartbeat</th>
            </tr>
          </thead>
          <tbody>
            {(cluster.data?.nodes ?? []).map((n) => (
              <tr key={n.id}>
                <td class="mono">
                  {n.id} {n.leader ? <span class="tag">leader</span> : null}
                </td>
                <td>{n.role}</td>
                <td>
                  {n.host} (pid {n.pid})
                </td>
                <td>{n.version ?? '—'}</td>
                <td>{Math.round(n.uptimeMs / 1000)} s</td>
                <td>{ago(n.lastHeartbeatAt)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </section>
  );
}

// ---- the shell ------------------------------------------------------------------------------------------

function TokenForm({ onSaved }: { onSaved: () => void }) {
  const [value, setValue] = useState('');
  return (
    <form
      class="token"
      onSubmit={(e) => {
        e.preventDefault();
        setToken(value.trim());
        onSaved();
      }}
    >
      <h1>API token</h1>
      <p>This server requires a token. It is kept in this tab only (sessionStorage).</p>
      <input name="token" type="password" autocomplete="off" required value={value} onInput={(e) => setValue(e.currentTarget.value)} />
      <button type="submit">Sign in</button>
    </form>
  );
}

const NAV: [string, string][] = [
  ['/', 'Overview'],
  ['/tasks', 'Tasks'],
  ['/queues', 'Queues'],
  ['/dead', 'Dead letters'],
  ['/workers', 'Workers'],
  ['/schedules', 'Schedules'],
  ['/cluster', 'Cluster'],
];

function App() {
  const [path, params] = useHash();
  const [needToken, setNeedToken] = useState(false);
  const [session, setSession] = useState(0);
  useEffect(() => whenUnauthorized(() => setNeedToken(true)), []);
  let page;
  const taskMatch = /^\/tasks\/([^/]+)$/.exec(path);
  if (taskMatch) page = <TaskPage id={decodeURIComponent(taskMatch[1] ?? '')} />;
  else if (path === '/tasks') page = <Tasks params={params} />;
  else if (path === '/queues') page = <Queues />;
  else if (path === '/dead') page = <Dead params={params} />;
  else if (path === '/workers') page = <Workers />;
  else if (path === '/schedules') page = <Schedules />;
  else if (path === '/cluster') page = <Cluster />;
  else page = <Overview />;
  const section = taskMatch ? '/tasks' : path;
  return (
    <>
      <header>
        <a class="brand" href="#/">
          Conveyor
        </a>
        <nav>
          {NAV.map(([href, label]) => (
            <a key={href} href={`#${href}`} class={section === href ? 'active' : ''}>
              {label}
            </a>
          ))}
        </nav>
        {getToken() !== null ? (
          <button
            class="link"
            onClick={() => {
              setToken(null);
              setNeedToken(true);
            }}
          >
            sign out
          </button>
        ) : null}
      </header>
      <main key={session}>
        {needToken ? (
          <TokenForm
            onSaved={() => {
              setNeedToken(false);
              setSession((n) => n + 1);
            }}
          />
        ) : (
          page
        )}
      </main>
    </>
  );
}

render(<App />, document.getElementById('app') as HTMLElement);
