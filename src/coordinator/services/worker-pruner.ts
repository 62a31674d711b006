import type { MaintenanceService, ServiceContext } from './maintenance-service.js';

export const WORKER_PRUNER_INTERVAL_MS = 30_000;
const WORKER_PRUNER_BATCH = 1_000;

/** Deletes registry entries of nodes that stopped sending heartbeats. */
export function workerPruner(ctx: ServiceContext, intervalMs = WORKER_PRUNER_INTERVAL_MS): MaintenanceService {
  return {
    name: 'worker-pruner',
    intervalMs,
    async tick() {
      const deleted = await ctx.store.deleteStaleWorkers({ limit: WORKER_PRUNER_BATCH });
      if (deleted > 0) ctx.logger.info({ deleted }, 'worker pruner: deleted stale registrations');
      return deleted >= WORKER_PRUNER_BATCH;
    },
  };
}
