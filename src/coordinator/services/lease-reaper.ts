import { reportTasks, type MaintenanceService, type ServiceContext } from './maintenance-service.js';

export const LEASE_REAPER_INTERVAL_MS = 1_000;
export const LEASE_REAPER_BATCH = 1_000;

/**
 * Takes back the tasks of workers that died or froze: a lease that expired goes back to pending
 * (its attempt spent), or dead when no attempt is left, or cancelled when a cancel was asked for.
 */
export function leaseReaper(ctx: ServiceContext, intervalMs = LEASE_REAPER_INTERVAL_MS): MaintenanceService {
  return {
    name: 'lease-reaper',
    intervalMs,
    async tick() {
      const { retried, dead, cancelled } = await ctx.store.reclaimExpiredLeases({ limit: LEASE_REAPER_BATCH });
      const total = retried.length + dead.length + cancelled.length;
      if (total > 0) {
        ctx.logger.warn(
          { retried: retried.length, dead: dead.length, cancelled: cancelled.length, taskIds: [...retried, ...dead, ...cancelled].slice(0, 20) },
          'lease reaper: took back tasks whose lease expired',
        );
        const metrics = ctx.metrics;
        if (metrics !== undefined) {
          await reportTasks(ctx, retried, (queue, type) => metrics.leaseReclaimed(queue, type, 'retried'));
          await reportTasks(ctx, dead, (queue, type) => metrics.leaseReclaimed(queue, type, 'dead'));
          await reportTasks(ctx, cancelled, (queue, type) => metrics.leaseReclaimed(queue, type, 'cancelled'));
        }
      }
      return total >= LEASE_REAPER_BATCH;
    },
  };
}
