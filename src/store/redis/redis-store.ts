import { randomBytes, randomUUID } from 'node:crypto';
import { Redis, type RedisOptions } from 'ioredis';
import { ConveyorError } from '../../errors.js';
import { silentLogger, type Logger } from '../../logger.js';
import { assertQueueName } from '../../names.js';
import { TASK_STATES, type ClaimedTask, type Task, type TaskError, type TaskState } from '../../types.js';

import type {
  AdvanceScheduleParams,
  CancelOutcome,
  ClaimTasksParams,
  DeleteFinishedTasksParams,
  FinishOutcome,
  FinishTasksParams,
  FinishTasksResult,
  HeartbeatParams,
  InsertTasksParams,
  InsertTasksResult,
  LeaderLease,
  LeaderParams,
  ListTasksParams,
  ListTasksResult,
  MaintenanceParams,
  KeyLookup,
  OldestPending,
  QueueCounts,
  QueueInfo,
  ReadEventsParams,
  ReadEventsResult,
  ReclaimResult,
  RenewLeasesParams,
  RenewLeasesResult,
  RetryOutcome,
  Schedule,
  StartTasksParams,
  StartTasksResult,
  StealTasksParams,
  Store,
  StoreCapabilities,
  UpsertSchedulesParams,
  WaitForWorkParams,
  WorkerInfo,
} from '../store.js';
import { BlockingWaiter } from './blocking-wait.js';
import { decodeClaimedTask, decodeTask, encodeBackoff, fitsCompletions, fitsPlainBatch, isPlainNewTask, packCompletions, newTaskAsStored, packPlainBatch, packTaskTail, STATE_BY_CODE, STATE_CODES, type Wire } from './codec.js';
import { groupByQueue, groupIdsByQueue, runsByQueue } from './grouping.js';
import { DependencyRelay } from './dependencies.js';
import { EventFeed } from './events.js';
import { RedisKeys } from './keys.js';
import { listTasksAcrossQueues, type QueueListPage } from './list-tasks.js';
import { ScheduleRegistry } from './schedules.js';
import { DEFAULT_EVENTS_RETAIN, defineScripts, runScript, type QueueScript } from './scripts.js';
import { TaskLocator } from './task-locator.js';
import { WorkerRegistry } from './worker-registry.js';

export interface RedisStoreOptions {
  /** `redis://…` or `rediss://…`; ignored when `redis` is given. */
  url?: string;
  /** Extra ioredis options (TLS, passwords, timeouts). */
  redisOptions?: RedisOptions;
  /** Namespace of every key; several Conveyors can share one Redis under different prefixes. */
  prefix?: string;
  /** Connection errors are logged here (at most one line per connection every 10 s). */
  logger?: Logger;
  /**
   * Task events kept per queue, in stream entries: each operation call that changes tasks writes one
   * entry holding all of its events (an insert of 1,000 tasks is one entry of 1,000 events), so the
   * number of events kept depends on batch sizes. Trimmed approximately (`MAXLEN ~`: a queue keeps
   * between this many and about 100 more) from 1,000 on, exactly below. Default 10,000; 0 = write
   * no events at all (readEvents then finds none). A reader that falls further behind than this
   * misses the oldest events.
   */
  eventsRetain?: number;
}

/** ioredis reports every failed reconnection; one line per connection per interval is enough. */
const CONNECTION_ERROR_LOG_INTERVAL_MS = 10_000;

function connectionErrorLogger(logger: Logger): (err: Error) => void {
  let lastAt = 0;
  let suppressed = 0;
  return (err) => {
    const now = Date.now();
    if (now - lastAt < CONNECTION_ERROR_LOG_INTERVAL_MS) {
      suppressed += 1;
      return;
    }
    logger.warn({ err, suppressed }, 'redis store: connection error; ioredis reconnects and calls are retried');
    lastAt = now;
    suppressed = 0;
  };
}

export const DEFAULT_REDIS_PREFIX = 'conveyor';
/** How many due scheduled tasks a claim promotes on the way, so delayed work runs without a leader. */
const CLAIM_PROMOTE_LIMIT = 1000;

type ScriptArg = string | number | Buffer;

/**
 * The distributed store: Lua scripts, one per operation and queue, on one Redis (or, by its key
 * layout, Redis Cluster). docs/architecture.md shows the key layout.
 */
export class RedisStore implements Store {
  readonly kind = 'redis' as const;
  readonly capabilities: StoreCapabilities = { crossProcess: true, blockingWait: true };
  readonly keys: RedisKeys;
  readonly redis: Redis;

  readonly #waiter: BlockingWaiter;
  readonly #relay: DependencyRelay;
  readonly #locator: TaskLocator;
  readonly #registry: WorkerRegistry;
  readonly #schedules: ScheduleRegistry;
  readonly #events: EventFeed;
  /** Queues this process already registered in the queue set. */
  readonly #registered = new Set<string>();
  /** KEYS of each queue's scripts, built once per queue. */
  readonly #queueKeys = new Map<string, string[]>();
  #closed = false;

  constructor(options: RedisStoreOptions = {}) {
    this.keys = new RedisKeys(options.prefix ?? DEFAULT_REDIS_PREFIX);
    const eventsRetain = options.eventsRetain ?? DEFAULT_EVENTS_RETAIN;
    if (!Number.isSafeInteger(eventsRetain) || eventsRetain < 0) {
      const message = `must be a whole number of stream entries, 0 or more (0 = no events), got ${String(eventsRetain)}`;
      throw new ConveyorError('CONVEYOR_VALIDATION', `invalid Redis store options: eventsRetain: ${message}`, { issues: [{ path: 'eventsRetain', message }] });
    }
    const redisOptions: RedisOptions = { enableAutoPipelining: true, ...options.redisOptions };
    this.redis = options.url ? new Redis(options.url, redisOptions) : new Redis(redisOptions);
    // Without a listener ioredis prints every failed reconnection to stderr itself.
    const onError = connectionErrorLogger(options.logger ?? silentLogger);
    this.redis.on('error', onError);
    defineScripts(this.redis, eventsRetain);
    this.#waiter = new BlockingWaiter(this.redis, connectionErrorLogger(options.logger ?? silentLogger));
    this.#relay = new DependencyRelay(this.redis, this.keys);
    this.#locator = new TaskLocator(this.redis, this.keys);
    this.#registry = new WorkerRegistry(this.redis, this.keys.workers(), () => this.#serverTime());
    this.#schedules = new ScheduleRegistry(this.redis, this.keys.schedules());
    this.#events = new EventFeed({
      redis: this.redis,
      streamKey: (queue) => this.keys.queueKey(queue, 'events'),
      listQueues: () => this.#allQueues(),
      streamTail: async (queue) => {
        const id = (await this.#queueScript('eventsTail', queue, ['', queue])) as string | null;
        return id ? String(id) : null;
      },
      onError: connectionErrorLogger(options.logger ?? silentLogger),
    });
  }

  async migrate(): Promise<void> {
    // Scripts load lazily (EVALSHA, then EVAL once); nothing to create. Fail early if unreachable.
    await this.redis.ping();
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#events.close();
    await this.#waiter.close();
    await this.redis.quit().catch(() => this.redis.disconnect());
  }

  // ---- hot path ----------------------------------------------------------------------------------

  async insertTasks(p: InsertTasksParams): Promise<InsertTasksResult> {
    const tasks = p.tasks;
    if (tasks.length === 0) return { items: [] };
    const position = new Map<string, number>();
    tasks.forEach((task, i) => {
      assertQueueName(task.queue);
      position.set(task.id, i);
    });

    // Validate every dependency before writing anything.
    const outside = new Set<string>();
    tasks.forEach((task, i) => {
      for (const dep of task.dependsOn) {
        const at = position.get(dep);
        if (at === undefined) outside.add(dep);
        else if (at >= i) throw dependencyNotFound(task.id, [dep]);
      }
    });
    const located = await this.#locator.locate([...outside]);
    for (const task of tasks) {
      const missing = task.dependsOn.filter((dep) => !position.has(dep) && !located.has(dep));
      if (missing.length > 0) throw dependencyNotFound(task.id, missing);
    }
    const queueOf = (id: string): string => located.get(id) ?? tasks[position.get(id)!]!.queue;
    await this.#register(tasks.map((t) => t.queue));

    const items: InsertTasksResult['items'] = [];
    // Consecutive tasks of one queue go in one script call; a task may depend on an earlier run.
    for (const run of runsByQueue(tasks)) {
      const queue = run[0]!.queue;
      const foreign = run.flatMap((task) =>
        task.dependsOn
          .filter((dep) => queueOf(dep) !== queue)
          .map((dep) => ({ dependencyId: dep, dependencyQueue: queueOf(dep), dependentQueue: queue, dependentId: task.id })),
      );
      const standing = foreign.length > 0 ? await this.#relay.link(foreign, p.now) : new Map<string, string>();
      for (const [edge, status] of standing) {
        if (status === 'missing') throw dependencyNotFound(edge.split('>')[0]!, [edge.split('>')[1]!]);
      }
      const args: ScriptArg[] = [p.now ?? '', queue, run.length];
      if (run.length <= 1_000 && run.every(fitsPlainBatch)) args.push('B', packPlainBatch(run));
      else for (const task of run) {
        if (isPlainNewTask(task)) {
          args.push(task.id, 'f', task.priority, task.deadline ?? '', packTaskTail(task));
          continue;
        }
        args.push(
          task.id,
          'g',
          task.type,
          JSON.stringify(task.payload ?? null),
          task.priority,
          task.maxAttempts,
          encodeBackoff(task.backoff),
          task.timeoutMs ?? '',
          task.deadline ?? '',
          task.runAt ?? '',
          task.delayMs ?? '',
          task.dependsOn.length > 0 ? JSON.stringify(task.dependsOn) : '',
          task.key ?? '',
          task.traceContext === undefined ? '' : JSON.stringify(task.traceContext),
          task.dependsOn.length,
        );
        for (const dep of task.dependsOn) {
          const depQueue = queueOf(dep);
          args.push(dep, depQueue, depQueue === queue ? '' : standing.get(`${task.id}>${dep}`)!);
        }
      }
      const [outboxUsed, createdAt, replies] = (await this.#queueScript('insertTasks', queue, args).catch(translateScriptError)) as [
        number,
        number,
        (Buffer | [number, ...unknown[]])[],
      ];
      run.forEach((task, i) => {
        const reply = replies[i]!;
        if (Array.isArray(reply) && reply[0] === 0) {
          items.push({ task: decodeTask(queue, reply[1] as Wire), created: false });
        } else {
          items.push({ task: newTaskAsStored(task, createdAt, reply), created: true });
          this.#locator.remember(task.id, queue);
        }
      });
      const owed = new Set(foreign.map((edge) => edge.dependencyQueue));
      if (outboxUsed === 1) owed.add(queue);
      if (owed.size > 0) await this.#relay.drain(owed, p.now);
    }
    return { items };
  }

  async claimTasks(p: ClaimTasksParams): Promise<ClaimedTask[]> {
    const claimed: ClaimedTask[] = [];
    const tokenPrefix = randomBytes(9).toString('base64url');
    const startLimit = p.startLimit ?? p.limit;
    for (const queue of p.queues) {
      const want = p.limit - claimed.length;
      if (want <= 0) break;
      const [outboxUsed, replies] = (await this.#queueScript('claimTasks', queue, [
        p.now ?? '',
        queue,
        want,
        p.leaseMs,
        p.workerId,
        `${tokenPrefix}${claimed.length}`,
        Math.max(CLAIM_PROMOTE_LIMIT, want),
        Math.max(0, startLimit - claimed.length),
      ])) as [number, Wire[]];
      // Not remembered in the locator: a worker finishes by lease (which names the queue), and
      // remembering every claimed id would cost a map insert and eviction per task.
      for (const wire of replies) claimed.push(decodeClaimedTask(queue, wire));
      if (outboxUsed === 1) await this.#relay.drain([queue], p.now);
    }
    return claimed;
  }

  async renewLeases(p: RenewLeasesParams): Promise<RenewLeasesResult> {
    const result: RenewLeasesResult = { renewed: [], lost: [], cancelRequested: [] };
    for (const [queue, leases] of groupByQueue(p.leases)) {
      const args: ScriptArg[] = [p.now ?? '', queue, p.leaseMs];
      for (const lease of leases) args.push(lease.id, lease.token, lease.progress === undefined ? '' : JSON.stringify(lease.progress));
      const reply = (await this.#queueScript('renewLeases', queue, args)) as number[];
      const expiresAt = Number(reply[reply.length - 1]);
      leases.forEach((lease, i) => {
        const status = Number(reply[i]);
        if (status === 0) {
          result.lost.push(lease.id);
          return;
        }
        result.renewed.push({ id: lease.id, leaseExpiresAt: expiresAt });
        if (status === 2) result.cancelRequested.push(lease.id);
      });
    }
    return result;
  }

  async startTasks(p: StartTasksParams): Promise<StartTasksResult> {
    const result: StartTasksResult = { started: [], lost: [], cancelRequested: [] };
    for (const [queue, leases] of groupByQueue(p.leases)) {
      const args: ScriptArg[] = [p.now ?? '', queue];
      for (const lease of leases) args.push(lease.id, lease.token);
      const reply = (await this.#queueScript('startTasks', queue, args)) as number[];
      leases.forEach((lease, i) => {
        const status = Number(reply[i]);
        if (status === 0) {
          result.lost.push(lease.id);
          return;
        }
        result.started.push(lease.id);
        if (status === 2) result.cancelRequested.push(lease.id);
      });
    }
    return result;
  }

  async stealTasks(p: StealTasksParams): Promise<ClaimedTask[]> {
    const stolen: ClaimedTask[] = [];
    const tokenPrefix = randomBytes(9).toString('base64url');
    for (const queue of p.queues) {
      const want = p.limit - stolen.length;
      if (want <= 0) break;
      const replies = (await this.#queueScript('stealTasks', queue, [p.now ?? '', queue, want, p.leaseMs, p.workerId, `${tokenPrefix}${stolen.length}`])) as Wire[];
      for (const wire of replies) stolen.push(decodeClaimedTask(queue, wire));
    }
    return stolen;
  }

  async finishTasks(p: FinishTasksParams): Promise<FinishTasksResult> {
    const outcomes = new Map<number, FinishOutcome>();
    const indexed = p.items.map((item, index) => ({ ...item, index }));
    const owed: string[] = [];
    for (const [queue, items] of groupByQueue(indexed)) {
      const args: ScriptArg[] = [p.now ?? '', queue];
      // The usual batch, only completions: one binary argument instead of six per item.
      if (items.every((item) => item.outcome === 'complete' && fitsCompletions(item.id, item.token))) {
        const completions = items.map((item) => ({
          id: item.id,
          token: item.token,
          result: item.outcome === 'complete' && item.result !== null && item.result !== undefined ? JSON.stringify(item.result) : '',
        }));
        args.push('C', packCompletions(completions));
      } else for (const item of items) {
        switch (item.outcome) {
          case 'complete':
            args.push(item.id, item.token, 'complete', item.result === null || item.result === undefined ? '' : JSON.stringify(item.result), '', '');
            break;
          case 'fail':
            args.push(item.id, item.token, 'fail', JSON.stringify(attemptError(item.error)), Math.max(0, Math.round(item.retryDelayMs)), item.permanent ? '1' : '0');
            break;
          case 'release':
            args.push(item.id, item.token, 'release', item.delayMs ?? '', '', '');
            break;
          case 'cancel':
            args.push(item.id, item.token, 'cancel', '', '', '');
            break;
        }
      }
      const [outboxUsed, states] = (await this.#queueScript('finishTasks', queue, args)) as [number, string[]];
      items.forEach((item, i) => {
        const state = states[i]!;
        outcomes.set(item.index, state === 'lease_lost' ? 'lease_lost' : (STATE_BY_CODE.get(state) as FinishOutcome));
      });
      if (outboxUsed === 1) owed.push(queue);
    }
    if (owed.length > 0) await this.#relay.drain(owed, p.now);
    return { items: p.items.map((item, i) => ({ id: item.id, outcome: outcomes.get(i)! })) };
  }

  async waitForWork(p: WaitForWorkParams): Promise<void> {
    const markers = p.queues.map((queue) => this.keys.queueKey(queue, 'marker'));
    await this.#waiter.wait(markers, p.timeoutMs, p.signal);
  }

  // ---- maintenance -------------------------------------------------------------------------------

  async promoteDueTasks(p: MaintenanceParams): Promise<number> {
    const queues = await this.#allQueues();
    // The leader's promoter is also the safety net for dependency resolutions owed across queues.
    await this.#relay.drain(queues, p.now);
    let moved = 0;
    for (const queue of queues) moved += Number(await this.#queueScript('promoteDueTasks', queue, [p.now ?? '', queue, p.limit]));
    return moved;
  }

  async reclaimExpiredLeases(p: MaintenanceParams): Promise<ReclaimResult> {
    const result: ReclaimResult = { retried: [], dead: [], cancelled: [] };
    for (const queue of await this.#allQueues()) {
      const [outboxUsed, retried, dead, cancelled] = (await this.#queueScript('reclaimExpiredLeases', queue, [p.now ?? '', queue, p.limit])) as [
        number,
        string[],
        string[],
        string[],
      ];
      result.retried.push(...retried);
      result.dead.push(...dead);
      result.cancelled.push(...cancelled);
      if (outboxUsed === 1) await this.#relay.drain([queue], p.now);
    }
    return result;
  }

  async expireDeadlines(p: MaintenanceParams): Promise<string[]> {
    const expired: string[] = [];
    for (const queue of await this.#allQueues()) {
      const [outboxUsed, ids] = (await this.#queueScript('expireDeadlines', queue, [p.now ?? '', queue, p.limit])) as [number, string[]];
      expired.push(...ids);
      if (outboxUsed === 1) await this.#relay.drain([queue], p.now);
    }
    return expired;
  }

  async deleteFinishedTasks(p: DeleteFinishedTasksParams): Promise<number> {
    const queues = p.queue ? [p.queue] : await this.#allQueues();
    let deleted = 0;
    for (const queue of queues) {
      deleted += Number(await this.#queueScript('deleteFinishedTasks', queue, [p.now ?? '', queue, STATE_CODES[p.state], p.olderThanMs, p.limit]));
    }
    return deleted;
  }

  // ---- administration ----------------------------------------------------------------------------

  async getTasks(p: { ids: string[] }): Promise<(Task | null)[]> {
    const located = await this.#locator.locate(p.ids);
    const found = new Map<string, Task>();
    for (const [queue, ids] of groupIdsByQueue(located)) {
      const replies = (await this.#queueScript('getTasks', queue, ['', queue, ...ids])) as (Wire | 0)[];
      for (const reply of replies) if (reply !== 0) found.set(String(reply[0]), decodeTask(queue, reply));
    }
    return p.ids.map((id) => found.get(id) ?? null);
  }

  async listTasks(p: ListTasksParams): Promise<ListTasksResult> {
    const queues = p.queue ? [p.queue] : await this.#allQueues();
    return listTasksAcrossQueues(queues, p, async (queue, cursor, examine, state, type): Promise<QueueListPage> => {
      const reply = (await this.#queueScript('listTasks', queue, ['', queue, cursor ?? '', examine, state, type])) as [
        number,
        ...[number, Wire][],
      ];
      const [oldestExamined, ...matches] = reply;
      return { oldestExamined: Number(oldestExamined), matches: matches.map(([position, wire]) => ({ position: Number(position), task: decodeTask(queue, wire) })) };
    });
  }

  async countTasks(p: { queue?: string }): Promise<QueueCounts[]> {
    const queues = p.queue ? [p.queue] : await this.#allQueues();
    const fields = TASK_STATES.map((state) => `n${STATE_CODES[state]}`);
    const pipeline = this.redis.pipeline();
    for (const queue of queues) pipeline.hmget(this.keys.queueKey(queue, 'meta'), ...fields);
    const replies = (await pipeline.exec()) ?? [];
    return queues.map((queue, q) => {
      const [err, values] = replies[q] ?? [];
      if (err) throw err;
      const counts = {} as Record<TaskState, number>;
      TASK_STATES.forEach((state, s) => {
        counts[state] = Number((values as (string | null)[])[s] ?? 0);
      });
      return { queue, counts };
    });
  }

  async oldestPending(p: { queue?: string }): Promise<OldestPending[]> {
    const queues = p.queue ? [p.queue] : await this.#allQueues();
    const replies = await Promise.all(queues.map((queue) => this.#queueScript('oldestPending', queue, ['', queue])));
    return queues.map((queue, i) => {
      const runAt = replies[i];
      return { queue, oldestRunAt: runAt === null || runAt === undefined ? null : Number(runAt) };
    });
  }

  /**
   * One HMGET of the queue's `idempotency` hash per queue asked (a plain read, no script), then the
   * tasks through `getTasks` of that queue. A key whose task retention deleted is gone from the hash
   * too; an id the hash names but the task hash lacks reads as null.
   */
  async findTasksByKey(p: { items: KeyLookup[] }): Promise<(Task | null)[]> {
    if (p.items.length === 0) return [];
    const byQueue = new Map<string, string[]>();
    for (const { queue, key } of p.items) {
      assertQueueName(queue);
      const keys = byQueue.get(queue);
      if (keys) keys.push(key);
      else byQueue.set(queue, [key]);
    }
    const idOf = new Map<string, string>();
    const found = new Map<string, Task>();
    for (const [queue, keys] of byQueue) {
      const unique = [...new Set(keys)];
      const ids = await this.redis.hmget(this.keys.queueKey(queue, 'idempotency'), ...unique);
      const present: string[] = [];
      unique.forEach((key, i) => {
        const id = ids[i];
        if (id) {
          idOf.set(`${queue}|${key}`, id);
          present.push(id);
        }
      });
      if (present.length === 0) continue;
      const replies = (await this.#queueScript('getTasks', queue, ['', queue, ...present])) as (Wire | 0)[];
      for (const reply of replies) if (reply !== 0) found.set(`${queue}|${String(reply[0])}`, decodeTask(queue, reply));
    }
    return p.items.map(({ queue, key }) => {
      const id = idOf.get(`${queue}|${key}`);
      return id === undefined ? null : (found.get(`${queue}|${id}`) ?? null);
    });
  }

  /**
   * The dependency's `<dependentsPrefix><id>` set (`queue|id` members) exists only while the task is
   * unfinished; its members are then read and kept when they are still `blocked` (a member may be a
   * dependent that was cancelled or expired since, or one whose cross-queue insert never happened).
   */
  async dependentsOf(p: { ids: string[] }): Promise<string[][]> {
    if (p.ids.length === 0) return [];
    const located = await this.#locator.locate(p.ids);
    const pipeline = this.redis.pipeline();
    const asked: string[] = [];
    for (const [id, queue] of located) {
      asked.push(id);
      pipeline.smembers(this.keys.queueKey(queue, 'dependentsPrefix') + id);
    }
    const replies = asked.length === 0 ? [] : ((await pipeline.exec()) ?? []);
    const membersOf = new Map<string, { queue: string; id: string }[]>();
    const candidates = new Map<string, string[]>();
    asked.forEach((id, i) => {
      const [err, members] = replies[i] ?? [];
      if (err) throw err;
      const parsed = (members as string[]).map((member) => {
        const bar = member.lastIndexOf('|');
        return { queue: member.slice(0, bar), id: member.slice(bar + 1) };
      });
      membersOf.set(id, parsed);
      for (const m of parsed) {
        const list = candidates.get(m.queue);
        if (list) list.push(m.id);
        else candidates.set(m.queue, [m.id]);
      }
    });
    const blocked = new Set<string>();
    for (const [queue, ids] of candidates) {
      const unique = [...new Set(ids)];
      const tasks = (await this.#queueScript('getTasks', queue, ['', queue, ...unique])) as (Wire | 0)[];
      for (const reply of tasks) {
        if (reply === 0) continue;
        const task = decodeTask(queue, reply);
        if (task.state === 'blocked') blocked.add(task.id);
      }
    }
    return p.ids.map((id) => {
      const ids = (membersOf.get(id) ?? []).map((m) => m.id).filter((dependent) => blocked.has(dependent));
      return [...new Set(ids)].sort();
    });
  }

  async cancelTasks(p: { ids: string[]; now?: number }): Promise<{ id: string; outcome: CancelOutcome }[]> {
    const outcomes = await this.#perTaskScript('cancelTasks', p.ids, p.now, 'not_found');
    return p.ids.map((id) => ({ id, outcome: outcomes.get(id) as CancelOutcome }));
  }

  async retryTasks(p: { ids: string[]; now?: number }): Promise<{ id: string; outcome: RetryOutcome }[]> {
    const outcomes = await this.#perTaskScript('retryTasks', p.ids, p.now, 'not_found');
    return p.ids.map((id) => ({ id, outcome: outcomes.get(id) as RetryOutcome }));
  }

  async listQueues(): Promise<QueueInfo[]> {
    const queues = await this.#allQueues();
    const pipeline = this.redis.pipeline();
    for (const queue of queues) pipeline.hget(this.keys.queueKey(queue, 'meta'), 'paused');
    const replies = (await pipeline.exec()) ?? [];
    return queues.map((name, i) => ({ name, paused: replies[i]?.[1] === '1' }));
  }

  async setQueuePaused(p: { queue: string; paused: boolean }): Promise<void> {
    await this.#register([p.queue]);
    await this.#queueScript('setQueuePaused', p.queue, ['', p.queue, p.paused ? '1' : '0']);
  }

  // ---- events ----------------------------------------------------------------------------------------

  /** See EventFeed (events.ts): the streams, the cursor, and the one connection blocked readers share. */
  readEvents(p: ReadEventsParams): Promise<ReadEventsResult> {
    return this.#events.read(p);
  }

  // ---- worker registry -------------------------------------------------------------------------------

  recordWorkerHeartbeat(p: HeartbeatParams): Promise<void> {
    return this.#registry.record(p);
  }

  removeWorker(p: { id: string }): Promise<void> {
    return this.#registry.remove(p.id);
  }

  listWorkers(p: { now?: number }): Promise<WorkerInfo[]> {
    return this.#registry.list(p.now);
  }

  deleteStaleWorkers(p: { now?: number; limit: number }): Promise<number> {
    return this.#registry.deleteStale(p.now, p.limit);
  }

  // ---- recurring tasks -------------------------------------------------------------------------------

  upsertSchedules(p: UpsertSchedulesParams): Promise<Schedule[]> {
    return this.#schedules.upsert(p);
  }

  deleteSchedules(p: { names: string[] }): Promise<number> {
    return this.#schedules.delete(p.names);
  }

  listSchedules(): Promise<Schedule[]> {
    return this.#schedules.list();
  }

  advanceSchedule(p: AdvanceScheduleParams): Promise<boolean> {
    return this.#schedules.advance(p);
  }

  // ---- leadership ----------------------------------------------------------------------------------

  async acquireLeadership(p: LeaderParams & { ttlMs: number }): Promise<LeaderLease | null> {
    const reply = (await runScript(this.redis, 'acquireLeadership', [this.keys.leader(p.name)], [p.now ?? '', p.nodeId, p.ttlMs, randomUUID()])) as
      | [string, string, number]
      | null;
    return reply ? { nodeId: reply[0], token: reply[1], expiresAt: Number(reply[2]) } : null;
  }

  async renewLeadership(p: LeaderParams & { token: string; ttlMs: number }): Promise<boolean> {
    const reply = await runScript(this.redis, 'renewLeadership', [this.keys.leader(p.name)], [p.now ?? '', p.nodeId, p.ttlMs, p.token]);
    return Number(reply) === 1;
  }

  async resignLeadership(p: LeaderParams & { token: string }): Promise<void> {
    await runScript(this.redis, 'resignLeadership', [this.keys.leader(p.name)], [p.nodeId, p.token]);
  }

  async getLeader(p: { name: string; now?: number }): Promise<LeaderLease | null> {
    const [nodeId, token, expiresAt] = await this.redis.hmget(this.keys.leader(p.name), 'n', 't', 'x');
    if (!nodeId || !token || !expiresAt) return null;
    const now = p.now ?? (await this.#serverTime());
    return Number(expiresAt) > now ? { nodeId, token, expiresAt: Number(expiresAt) } : null;
  }

  // ---- internals -------------------------------------------------------------------------------------

  #queueScript(name: QueueScript, queue: string, args: ScriptArg[]): Promise<unknown> {
    let keys = this.#queueKeys.get(queue);
    if (keys === undefined) {
      keys = this.keys.queueKeys(queue);
      this.#queueKeys.set(queue, keys);
    }
    return runScript(this.redis, name, keys, args);
  }

  /** Runs a per-queue script that takes task ids and answers { outboxUsed, one status per id }. */
  async #perTaskScript(name: 'cancelTasks' | 'retryTasks', ids: string[], now: number | undefined, unknown: string): Promise<Map<string, string>> {
    const located = await this.#locator.locate(ids);
    const outcomes = new Map<string, string>(ids.map((id) => [id, unknown]));
    for (const [queue, queueIds] of groupIdsByQueue(located)) {
      const [outboxUsed, statuses] = (await this.#queueScript(name, queue, [now ?? '', queue, ...queueIds])) as [number, string[]];
      queueIds.forEach((id, i) => outcomes.set(id, statuses[i]!));
      if (outboxUsed === 1) await this.#relay.drain([queue], now);
    }
    return outcomes;
  }

  async #register(queues: string[]): Promise<void> {
    const fresh = [...new Set(queues)].filter((queue) => !this.#registered.has(queue));
    if (fresh.length === 0) return;
    await this.redis.sadd(this.keys.queues(), ...fresh);
    for (const queue of fresh) this.#registered.add(queue);
    this.#events.queuesAdded();
  }

  async #allQueues(): Promise<string[]> {
    return (await this.redis.smembers(this.keys.queues())).sort();
  }

  async #serverTime(): Promise<number> {
    const [seconds, micros] = await this.redis.time();
    return Number(seconds) * 1000 + Math.floor(Number(micros) / 1000);
  }
}

export function createRedisStore(options: RedisStoreOptions = {}): RedisStore {
  return new RedisStore(options);
}

function dependencyNotFound(taskId: string, missing: string[]): ConveyorError {
  return new ConveyorError(
    'CONVEYOR_DEPENDENCY_NOT_FOUND',
    `task ${taskId} depends on ${missing.join(', ')}, which does not exist: a dependency must be submitted before (or earlier in the same batch as) its dependents`,
    { taskId, missing },
  );
}

function translateScriptError(err: unknown): never {
  const message = err instanceof Error ? err.message : String(err);
  const match = /CONVEYOR_DEPENDENCY_NOT_FOUND (\S+) (\S+)/.exec(message);
  if (match) throw dependencyNotFound(match[1]!, [match[2]!]);
  throw err;
}

function attemptError(error: { reason: TaskError['reason']; message: string; name?: string; stack?: string }): object {
  const out: Record<string, string> = { reason: error.reason, message: error.message };
  if (error.name) out.name = error.name;
  if (error.stack) out.stack = error.stack;
  return out;
}




