import type { MaintenanceService, ServiceContext } from './maintenance-service.js';

export const PROMOTER_INTERVAL_MS = 1_000;
export const PROMOTER_BATCH = 1_000;

/**
 * Moves due scheduled tasks to pending. Claims already take due tasks on their own; this keeps the
 * counts true while no worker claims, wakes idle workers, and (Redis) settles dependency
 * resolutions owed across queues.
 */
export function promoter(ctx: ServiceContext, intervalMs = PROMOTER_INTERVAL_MS): MaintenanceService {
  return {
    name: 'promoter',
    intervalMs,
    async tick() {
      const moved = await ctx.store.promoteDueTasks({ limit: PROMOTER_BATCH });
      if (moved > 0) ctx.logger.debug({ moved }, 'promoter: due tasks are pending');
      return moved >= PROMOTER_BATCH;
    },
  };
}
