/**
 * What the client commands talk to: a store opened directly (`--store URL`, through `Client`), or a
 * running server's HTTP API (`--server URL`, `CONVEYOR_SERVER`; token from `CONVEYOR_TOKEN`). Both
 * behind one small interface, so each command is written once.
 */
import { createClient, type CancelResult, type QueueSummary, type RetryResult, type SubmitResult } from '../client/client.js';
import type { ClusterView } from '../coordinator/coordinator.js';
import type { ScheduleInput } from '../coordinator/schedules.js';
import { ConveyorError, ERROR_CODES, type ErrorCode } from '../errors.js';
import { loadConfig, type LoadConfigOptions } from '../config/load.js';
import type { Config } from '../config/schema.js';
import type { SubmitTaskOptions } from '../schemas.js';
import { openStore } from '../store/open-store.js';
import type { ListTasksResult, Schedule, Store, WorkerInfo } from '../store/store.js';
import type { Task, TaskState } from '../types.js';

export interface ListFilter {
  queue?: string;
  state?: TaskState;
  type?: string;
  limit?: number;
  cursor?: string;
}

export interface Api {
  /** What it talks to, for messages: the store URL (password hidden) or the server URL. */
  readonly target: string;
  submit(input: SubmitTaskOptions): Promise<SubmitResult>;
  get(id: string): Promise<Task>;
  list(filter: ListFilter): Promise<ListTasksResult>;
  cancel(id: string): Promise<CancelResult>;
  retry(id: string): Promise<RetryResult>;
  queues(): Promise<QueueSummary[]>;
  pauseQueue(name: string): Promise<QueueSummary>;
  resumeQueue(name: string): Promise<QueueSummary>;
  deadList(filter: { queue?: string; limit?: number; cursor?: string }): Promise<ListTasksResult>;
  deadRetry(options: { queue?: string; ids?: string[] }): Promise<number>;
  deadPurge(options: { queue?: string }): Promise<number>;
  workers(): Promise<WorkerInfo[]>;
  cluster(): Promise<ClusterView>;
  schedules(): Promise<Schedule[]>;
  saveSchedule(input: ScheduleInput): Promise<Schedule>;
  removeSchedule(name: string): Promise<number>;
  close(): Promise<void>;
}

/** Options every client command takes. */
export interface ConnectionOptions {
  store?: string;
  server?: string;
  config?: string;
}

/** The configuration for a command: flags over `CONVEYOR_*` over the file over defaults. */
export function commandConfig(flags: Record<string, unknown>, file?: string): Config {
  const options: LoadConfigOptions = { flags };
  if (file !== undefined) options.file = file;
  return loadConfig(options);
}

/** `--server` (or `CONVEYOR_SERVER`) → the HTTP API; otherwise the store of `--store` or the configuration. */
export async function connect(options: ConnectionOptions): Promise<Api> {
  const server = options.server ?? (options.store === undefined ? process.env.CONVEYOR_SERVER?.trim() || undefined : undefined);
  if (options.server !== undefined && options.store !== undefined) {
    throw new ConveyorError('CONVEYOR_VALIDATION', 'give either --server (a running API) or --store (the store itself), not both', {
      issues: [{ path: 'server', message: 'cannot be combined with --store' }],
    });
  }
  if (server !== undefined) return new HttpApi(server, process.env.CONVEYOR_TOKEN?.trim() || undefined);
  const config = commandConfig({ store: options.store }, options.config);
  const store = await openStore(config.store, { prefix: config.prefix, eventsRetain: config.eventsRetain });
  return new DirectApi(store, config);
}

function hidePassword(url: string): string {
  return url.replace(/^([A-Za-z][A-Za-z0-9+.-]*:\/\/[^:@/]*:)[^@/]*@/, '$1***@');
}

class DirectApi implements Api {
  readonly target: string;
  readonly #store: Store;
  readonly #client;

  constructor(store: Store, config: Config) {
    this.#store = store;
    this.target = hidePassword(config.store);
    const b = config.defaults.backoff;
    this.#client = createClient({
      store,
      defaults: { retries: config.defaults.retries, backoff: { type: b.kind, delay: b.delayMs, maxDelay: b.maxDelayMs, jitter: b.jitter } },
      payloadLimits: { maxBytes: config.payloadLimit },
    });
  }

  submit(input: SubmitTaskOptions): Promise<SubmitResult> {
    return this.#client.submit(input);
  }
  get(id: string): Promise<Task> {
    return this.#client.get(id);
  }
  list(filter: ListFilter): Promise<ListTasksResult> {
    return this.#client.list(filter);
  }
  cancel(id: string): Promise<CancelResult> {
    return this.#client.cancel(id);
  }
  retry(id: string): Promise<RetryResult> {
    return this.#client.retry(id);
  }
  queues(): Promise<QueueSummary[]> {
    return this.#client.queues();
  }
  pauseQueue(name: string): Promise<QueueSummary> {
    return this.#client.pauseQueue(name);
  }
  resumeQueue(name: string): Promise<QueueSummary> {
    return this.#client.resumeQueue(name);
  }
  deadList(filter: { queue?: string; limit?: number; cursor?: string }): Promise<ListTasksResult> {
    return this.#client.dead.list(filter);
  }
  deadRetry(options: { queue?: string; ids?: string[] }): Promise<number> {
    return this.#client.dead.retry(options);
  }
  deadPurge(options: { queue?: string }): Promise<number> {
    return this.#client.dead.purge(options);
  }
  workers(): Promise<WorkerInfo[]> {
    return this.#client.workers();
  }
  cluster(): Promise<ClusterView> {
    return this.#client.cluster(null);
  }
  schedules(): Promise<Schedule[]> {
    return this.#client.schedules.list();
  }
  async saveSchedule(input: ScheduleInput): Promise<Schedule> {
    const [saved] = await this.#client.schedules.save(input);
    return saved!;
  }
  removeSchedule(name: string): Promise<number> {
    return this.#client.schedules.remove(name);
  }
  close(): Promise<void> {
    return this.#store.close();
  }
}

/**
 * The HTTP API of the brief (`/api/v1`). Responses are read leniently where the brief leaves the
 * envelope open: a list may come bare or under a named key.
 */
class HttpApi implements Api {
  readonly target: string;
  readonly #base: string;
  readonly #token: string | undefined;

  constructor(server: string, token: string | undefined) {
    let url: URL;
    try {
      url = new URL(server);
    } catch {
      throw new ConveyorError('CONVEYOR_VALIDATION', `--server ${JSON.stringify(server)} is not a URL (e.g. http://127.0.0.1:8080)`, {
        issues: [{ path: 'server', message: 'must be an http(s) URL' }],
      });
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') {
      throw new ConveyorError('CONVEYOR_VALIDATION', `--server ${JSON.stringify(server)} must be an http:// or https:// URL`, {
        issues: [{ path: 'server', message: 'must be an http(s) URL' }],
      });
    }
    this.target = url.origin;
    this.#base = `${url.origin}${url.pathname.replace(/\/+$/, '')}`;
    this.#token = token;
  }

  async #call<T>(method: string, path: string, body?: unknown): Promise<{ status: number; body: T }> {
    const headers: Record<string, string> = { accept: 'application/json' };
    if (body !== undefined) headers['content-type'] = 'application/json';
    if (this.#token) headers.authorization = `Bearer ${this.#token}`;
    let response: Response;
    try {
      response = await fetch(`${this.#base}${path}`, { method, headers, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
    } catch (err) {
      const cause = (err as { cause?: { code?: string; message?: string } }).cause;
      throw new Error(`cannot reach the server at ${this.target}: ${cause?.code ?? cause?.message ?? (err as Error).message}`);
    }
    const text = await response.text();
    let parsed: unknown = undefined;
    if (text !== '') {
      try {
        parsed = JSON.parse(text);
      } catch {
        parsed = text;
      }
    }
    if (!response.ok) throw httpError(response.status, parsed, `${method} ${path}`);
    return { status: response.status, body: parsed as T };
  }

  async submit(input: SubmitTaskOptions): Promise<SubmitResult> {
    const { status, body } = await this.#call<unknown>('POST', '/api/v1/tasks', input);
    return { task: unwrapTask(body), created: status === 201 };
  }
  async get(id: string): Promise<Task> {
    return unwrapTask((await this.#call<unknown>('GET', `/api/v1/tasks/${encodeURIComponent(id)}`)).body);
  }
  async list(filter: ListFilter): Promise<ListTasksResult> {
    return unwrapList((await this.#call<unknown>('GET', `/api/v1/tasks${query(filter)}`)).body);
  }
  async cancel(id: string): Promise<CancelResult> {
    const { body } = await this.#call<Record<string, unknown>>('POST', `/api/v1/tasks/${encodeURIComponent(id)}/cancel`, {});
    return { task: unwrapTask(body), outcome: (body?.outcome as CancelResult['outcome'] | undefined) ?? 'cancelled' };
  }
  async retry(id: string): Promise<RetryResult> {
    const { body } = await this.#call<Record<string, unknown>>('POST', `/api/v1/tasks/${encodeURIComponent(id)}/retry`, {});
    return { task: unwrapTask(body), outcome: 'retried' };
  }
  async queues(): Promise<QueueSummary[]> {
    return unwrapArray<QueueSummary>((await this.#call<unknown>('GET', '/api/v1/queues')).body, 'queues');
  }
  async pauseQueue(name: string): Promise<QueueSummary> {
    return unwrapOne<QueueSummary>((await this.#call<unknown>('POST', `/api/v1/queues/${encodeURIComponent(name)}/pause`, {})).body, 'queue');
  }
  async resumeQueue(name: string): Promise<QueueSummary> {
    return unwrapOne<QueueSummary>((await this.#call<unknown>('POST', `/api/v1/queues/${encodeURIComponent(name)}/resume`, {})).body, 'queue');
  }
  async deadList(filter: { queue?: string; limit?: number; cursor?: string }): Promise<ListTasksResult> {
    return unwrapList((await this.#call<unknown>('GET', `/api/v1/dead${query(filter)}`)).body);
  }
  async deadRetry(options: { queue?: string; ids?: string[] }): Promise<number> {
    return firstNumber((await this.#call<unknown>('POST', '/api/v1/dead/retry', options)).body);
  }
  async deadPurge(options: { queue?: string }): Promise<number> {
    return firstNumber((await this.#call<unknown>('DELETE', `/api/v1/dead${query(options)}`)).body);
  }
  async workers(): Promise<WorkerInfo[]> {
    return unwrapArray<WorkerInfo>((await this.#call<unknown>('GET', '/api/v1/workers')).body, 'workers');
  }
  async cluster(): Promise<ClusterView> {
    return (await this.#call<ClusterView>('GET', '/api/v1/cluster')).body;
  }
  async schedules(): Promise<Schedule[]> {
    return unwrapArray<Schedule>((await this.#call<unknown>('GET', '/api/v1/schedules')).body, 'schedules');
  }
  async saveSchedule(input: ScheduleInput): Promise<Schedule> {
    return unwrapOne<Schedule>((await this.#call<unknown>('POST', '/api/v1/schedules', input)).body, 'schedule');
  }
  async removeSchedule(name: string): Promise<number> {
    try {
      await this.#call<unknown>('DELETE', `/api/v1/schedules/${encodeURIComponent(name)}`);
      return 1;
    } catch (err) {
      if (err instanceof ConveyorError && err.code === 'CONVEYOR_SCHEDULE_NOT_FOUND') return 0;
      throw err;
    }
  }
  async close(): Promise<void> {}
}

function query(params: object): string {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(params) as [string, unknown][]) if (value !== undefined) search.set(key, String(value));
  const text = search.toString();
  return text === '' ? '' : `?${text}`;
}

/** An API error body `{"error": {"code", "message", "details"}}` as the ConveyorError it stands for. */
function httpError(status: number, body: unknown, what: string): Error {
  const error = (body as { error?: { code?: unknown; message?: unknown; details?: unknown } } | undefined)?.error;
  const message = typeof error?.message === 'string' ? error.message : `${what} answered HTTP ${status}`;
  const details = { status, ...(typeof error?.details === 'object' && error.details !== null ? (error.details as Record<string, unknown>) : {}) };
  const code = typeof error?.code === 'string' && error.code in ERROR_CODES ? (error.code as ErrorCode) : undefined;
  if (code) return new ConveyorError(code, message, details);
  const err = new Error(`${message}${typeof error?.code === 'string' ? ` (${error.code})` : ''}`);
  return Object.assign(err, { httpStatus: status });
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function unwrapTask(body: unknown): Task {
  if (isRecord(body) && isRecord(body.task)) return body.task as unknown as Task;
  return body as Task;
}

function unwrapList(body: unknown): ListTasksResult {
  if (Array.isArray(body)) return { tasks: body as Task[], nextCursor: null };
  const record = isRecord(body) ? body : {};
  const tasks = Array.isArray(record.tasks) ? (record.tasks as Task[]) : Array.isArray(record.items) ? (record.items as Task[]) : [];
  const cursor = record.nextCursor ?? record.cursor ?? null;
  return { tasks, nextCursor: typeof cursor === 'string' ? cursor : null };
}

function unwrapArray<T>(body: unknown, key: string): T[] {
  if (Array.isArray(body)) return body as T[];
  if (isRecord(body) && Array.isArray(body[key])) return body[key] as T[];
  if (isRecord(body) && Array.isArray(body.items)) return body.items as T[];
  return [];
}

function unwrapOne<T>(body: unknown, key: string): T {
  if (isRecord(body) && isRecord(body[key])) return body[key] as T;
  return body as T;
}

function firstNumber(body: unknown): number {
  if (typeof body === 'number') return body;
  if (isRecord(body)) for (const value of Object.values(body)) if (typeof value === 'number') return value;
  return 0;
}
