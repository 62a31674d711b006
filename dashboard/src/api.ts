/**
 * The dashboard's only way to the server: the public HTTP API under /api/v1. The token (when auth
 * is on) lives in sessionStorage and goes out as `Authorization: Bearer`; a 401 asks for it again.
 */
import { TASK_STATES, type TaskEvent, type TaskState } from '../../src/types.js';

const TOKEN_KEY = 'conveyor.token';
const API = '/api/v1';

// The task's JSON is the server's `Task` as it is (src/types.ts holds types and constants only, no
// server code), so the page's types cannot drift from the API's.
export type { Task, TaskError, TaskEvent, TaskState } from '../../src/types.js';
export const STATES: readonly TaskState[] = TASK_STATES;
export type Counts = Record<TaskState, number>;

export interface Queue {
  name: string;
  paused: boolean;
  counts: Counts;
  /** Due time of the pending task that has waited longest; null when none is pending. */
  oldestPendingAt: number | null;
}

export interface Worker {
  id: string;
  role?: string;
  host: string;
  pid: number;
  queues: string[];
  types: string[];
  concurrency: { min: number; max: number; current: number };
  running: number;
  startedAt: number;
  lastHeartbeatAt: number;
}

export interface ClusterNode {
  id: string;
  role: string;
  leader: boolean;
  host: string;
  pid: number;
  version: string | null;
  startedAt: number;
  uptimeMs: number;
  lastHeartbeatAt: number;
}

export interface Schedule {
  name: string;
  cron: string | null;
  timezone: string | null;
  everyMs: number | null;
  task: Record<string, unknown>;
  missedRuns: string;
  paused: boolean;
  lastRunAt: number | null;
  nextRunAt: number | null;
}

/** GET /api/v1/activity: the cluster's last 15 minutes, counted by the server. */
export interface Activity {
  windowSeconds: number;
  now: number;
  countedSince: number;
  series: { seconds: number[]; completed: number[]; failed: number[] };
  queues: { queue: string; completed: number; failed: number; claimed: number; waitMsAvg: number | null }[];
}

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

export function getToken(): string | null {
  return sessionStorage.getItem(TOKEN_KEY);
}

export function setToken(token: string | null): void {
  if (token === null) sessionStorage.removeItem(TOKEN_KEY);
  else sessionStorage.setItem(TOKEN_KEY, token);
}

/** Called on a 401: the app shows the token form. */
let onUnauthorized: () => void = () => {};
export function whenUnauthorized(fn: () => void): void {
  onUnauthorized = fn;
}

function headers(json: boolean): Record<string, string> {
  const h: Record<string, string> = { accept: 'application/json' };
  const token = getToken();
  if (token !== null) h.authorization = `Bearer ${token}`;
  if (json) h['content-type'] = 'application/json';
  return h;
}

export async function api<T>(method: string, path: string, body?: unknown): Promise<T> {
  const res = await fetch(`${API}${path}`, {
    method,
    headers: headers(body !== undefined),
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await res.text();
  const parsed: unknown = text === '' ? undefined : JSON.parse(text);
  if (!res.ok) {
    const error = (parsed as { error?: { code?: string; message?: string } } | undefined)?.error;
    if (res.status === 401) onUnauthorized();
    throw new ApiError(res.status, error?.code ?? 'HTTP', error?.message ?? `${method} ${path}: HTTP ${res.status}`);
  }
  return parsed as T;
}

export const query = (params: Record<string, string | number | null | undefined>): string => {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== null && v !== undefined && v !== '') q.set(k, String(v));
  const s = q.toString();
  return s === '' ? '' : `?${s}`;
};

/**
 * Reads GET /api/v1/events with fetch (EventSource cannot send Authorization) and calls `onEvent`
 * for each task event. Reconnects after a drop with the last id (`after`), so nothing is missed
 * while the feed retains it. Returns a function that stops it.
 */
export function subscribe(params: { after?: string; events?: string[] }, onEvent: (event: TaskEvent) => void, onState?: (live: boolean) => void): () => void {
  const controller = new AbortController();
  let last = params.after;
  const run = async (): Promise<void> => {
    while (!controller.signal.aborted) {
      try {
        const res = await fetch(`${API}/events${query({ after: last, event: params.events?.join(',') })}`, { headers: headers(false), signal: controller.signal });
        if (res.status === 401) {
          onUnauthorized();
          return;
        }
        if (!res.ok || res.body === null) throw new Error(`events: HTTP ${res.status}`);
        onState?.(true);
        const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
        let buffer = '';
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          buffer += value;
          let end: number;
          while ((end = buffer.search(/\r?\n\r?\n/)) >= 0) {
            const block = buffer.slice(0, end);
            buffer = buffer.slice(end).replace(/^\r?\n\r?\n/, '');
            let name = 'message';
            let data = '';
            for (const line of block.split(/\r?\n/)) {
              if (line.startsWith('id:')) last = line.slice(3).trim();
              else if (line.startsWith('event:')) name = line.slice(6).trim();
              else if (line.startsWith('data:')) data += line.slice(5).trim();
            }
            if (name.startsWith('task:') && data !== '') onEvent(JSON.parse(data) as TaskEvent);
          }
        }
      } catch {
        if (controller.signal.aborted) return;
      }
      onState?.(false);
      await new Promise((resolve) => setTimeout(resolve, 2000));
    }
  };
  void run();
  return () => controller.abort();
}
