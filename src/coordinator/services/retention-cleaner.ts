import type { FinishedState } from '../../types.js';
import type { MaintenanceService, ServiceContext } from './maintenance-service.js';

export const RETENTION_CLEANER_INTERVAL_MS = 60_000;
const RETENTION_BATCH = 1_000;
/** One run deletes at most this many batches, so it stays short; the next run continues. */
const RETENTION_BATCHES_PER_RUN = 20;

/** How long finished tasks are kept, by state. Idempotency keys live exactly as long as their task. */
export interface RetentionPolicy {
  completedMs: number;
  deadMs: number;
  cancelledMs: number;
}

export const DEFAULT_RETENTION: RetentionPolicy = {
  completedMs: 24 * 60 * 60 * 1000,
  deadMs: 7 * 24 * 60 * 60 * 1000,
  cancelledMs: 7 * 24 * 60 * 60 * 1000,
};

export interface RetentionConfig {
  /** For every queue without its own entry. */
  default?: Partial<RetentionPolicy>;
  /** Per queue; unset fields fall back to `default`, then to DEFAULT_RETENTION. */
  queues?: Record<string, Partial<RetentionPolicy>>;
}

const AGE_FIELD: Record<FinishedState, keyof RetentionPolicy> = { completed: 'completedMs', dead: 'deadMs', cancelled: 'cancelledMs' };

export function retentionFor(config: RetentionConfig, queue: string): RetentionPolicy {
  return { ...DEFAULT_RETENTION, ...config.default, ...config.queues?.[queue] };
}

/**
 * Retention: deletes finished tasks older than their queue's policy, in bounded batches. `now`
 * (tests) is passed to the store; production uses the store's clock.
 */
export function retentionCleaner(ctx: ServiceContext & { now?: () => number }, config: RetentionConfig = {}, intervalMs = RETENTION_CLEANER_INTERVAL_MS): MaintenanceService {
  return {
    name: 'retention-cleaner',
    intervalMs,
    async tick(signal) {
      let batches = 0;
      let deleted = 0;
      for (const { name: queue } of await ctx.store.listQueues()) {
        const policy = retentionFor(config, queue);
        for (const state of ['completed', 'dead', 'cancelled'] as const) {
          for (;;) {
            if (signal.aborted) return false;
            const n = await ctx.store.deleteFinishedTasks({
              queue,
              state,
              olderThanMs: policy[AGE_FIELD[state]],
              limit: RETENTION_BATCH,
              ...(ctx.now ? { now: ctx.now() } : {}),
            });
            deleted += n;
            if (n < RETENTION_BATCH) break;
            // Only full batches count against the budget: a run always reaches every queue.
            if (++batches >= RETENTION_BATCHES_PER_RUN) return true;
          }
        }
      }
      if (deleted > 0) ctx.logger.info({ deleted }, 'retention cleaner: deleted finished tasks past their retention');
      return false;
    },
  };
}
