import { ConveyorError } from '../../errors.js';
import { assertQueueName } from '../../names.js';

/**
 * The only place that builds Redis keys.
 *
 * Hash-tag scheme: every key of one queue carries the queue name as its hash tag,
 * `<prefix>:{<queue>}:<suffix>`, so every per-queue script touches one slot and the store works on
 * Redis Cluster with queues spread over shards. The few keys that span queues (the queue registry,
 * the worker registry, the schedules, leader leases) have no tag and are touched only by single-key
 * commands or single-key scripts.
 *
 * Scripts receive the per-queue keys below as KEYS, always all of them and always in this order;
 * src/store/redis/scripts.ts generates the Lua `local K_<name> = KEYS[i]` header from this list, so
 * the two cannot drift. The few keys made per task or per priority are built inside Lua from the
 * `…Prefix` keys (same tag, so same slot).
 */
export const QUEUE_KEY_NAMES = [
  /** hash: `paused` ("1"), `trimmed` (entries dropped from the head of `all`), `n<state code>` counts */
  'meta',
  /** zset, one member `next` scored with the earliest time work is due: what idle workers block on */
  'marker',
  /** hash: task id → packed record (codec.ts); one hash per queue costs far less than a key per task */
  'tasks',
  /** zset by runAt: delayed tasks and retries waiting for their time */
  'scheduled',
  /** zset by lease expiry */
  'processing',
  /** zset by claim time: processing tasks claimed as prefetch and not started yet (stealable) */
  'prefetched',
  /** zset by createdAt: tasks waiting on dependencies */
  'blocked',
  /**
   * lists of finished task ids in the order they finished, which retention reads from the head;
   * an entry whose task left that state (retried, deleted) is skipped and dropped
   */
  'completed',
  'dead',
  'cancelled',
  /** zset by deadline, for unfinished tasks that have one */
  'deadlines',
  /** list of every task id in arrival order, for listing newest first; deleted ids are skipped */
  'all',
  /** hash: idempotency key → task id */
  'idempotency',
  /** list of `queue|taskId|depId|outcome|at` dependency resolutions owed to other queues */
  'outbox',
  /**
   * stream of task events (lib/events.lua): one entry per script call that changed tasks, field `e`
   * = one MessagePack array of compact events; capped at the store's `eventsRetain` entries
   */
  'events',
  /** `<pendingPrefix><priority>`: list of ready task ids, FIFO; entries of tasks that left `pending` are skipped */
  'pendingPrefix',
  /** `<dependentsPrefix><id>`: set of `queue|id` tasks waiting on task id */
  'dependentsPrefix',
  /** `<waitingPrefix><id>`: set of dependency ids task id still waits on */
  'waitingPrefix',
  /**
   * `<claimLogPrefix><token prefix>`: ids a claim or steal handed out, kept 60 s, so that a call
   * re-sent after a reconnect (its first reply lost) answers the same tasks instead of leasing more
   */
  'claimLogPrefix',
] as const;

export type QueueKeyName = (typeof QUEUE_KEY_NAMES)[number];

const PREFIX_PATTERN = /^[A-Za-z0-9_.:-]{1,64}$/;

export class RedisKeys {
  readonly prefix: string;

  constructor(prefix: string) {
    if (!PREFIX_PATTERN.test(prefix)) {
      throw new ConveyorError(
        'CONVEYOR_INVALID_NAME',
        `Redis key prefix ${JSON.stringify(prefix)} is invalid: use 1–64 letters, digits, "_", ".", ":" or "-" (no braces: the store adds its own hash tags)`,
        { field: 'prefix', value: prefix },
      );
    }
    this.prefix = prefix;
  }

  /** Hash: worker id → JSON WorkerInfo with its expiry (`expiresAt`). */
  workers(): string {
    return `${this.prefix}:workers`;
  }

  /**
   * Hash: schedule name → JSON of its Schedule, opening with its state in a fixed order
   * (`{"lastRunAt":…,"nextRunAt":…,"createdAt":…,"updatedAt":…,` then the definition) so the
   * schedule scripts read and rewrite the state without re-encoding the task template (schedules.ts).
   */
  schedules(): string {
    return `${this.prefix}:schedules`;
  }

  /** Set of every queue name that ever held a task or was paused. */
  queues(): string {
    return `${this.prefix}:queues`;
  }

  /** Hash { n: nodeId, t: token, x: expiresAt } of one leader lease. */
  leader(name: string): string {
    if (!PREFIX_PATTERN.test(name)) {
      throw new ConveyorError('CONVEYOR_INVALID_NAME', `leader lease name ${JSON.stringify(name)} is invalid`, { field: 'name', value: name });
    }
    return `${this.prefix}:leader:${name}`;
  }

  /** The tag shared by every key of the queue. */
  queueTag(queue: string): string {
    assertQueueName(queue);
    return `${this.prefix}:{${queue}}`;
  }

  /** KEYS for a per-queue script, in QUEUE_KEY_NAMES order. */
  queueKeys(queue: string): string[] {
    const tag = this.queueTag(queue);
    return QUEUE_KEY_NAMES.map((name) => {
      switch (name) {
        case 'pendingPrefix':
          return `${tag}:p:`;
        case 'dependentsPrefix':
          return `${tag}:d:`;
        case 'waitingPrefix':
          return `${tag}:w:`;
        case 'claimLogPrefix':
          return `${tag}:c:`;
        default:
          return `${tag}:${name}`;
      }
    });
  }

  queueKey(queue: string, name: QueueKeyName): string {
    return this.queueKeys(queue)[QUEUE_KEY_NAMES.indexOf(name)]!;
  }

}
