import { reportTasks, type MaintenanceService, type ServiceContext } from './maintenance-service.js';

export const DEADLINE_ENFORCER_INTERVAL_MS = 1_000;
export const DEADLINE_ENFORCER_BATCH = 1_000;

/** Unfinished tasks past their deadline go dead with reason `deadline_exceeded`. */
export function deadlineEnforcer(ctx: ServiceContext, intervalMs = DEADLINE_ENFORCER_INTERVAL_MS): MaintenanceService {
  return {
    name: 'deadline-enforcer',
    intervalMs,
    async tick() {
      const expired = await ctx.store.expireDeadlines({ limit: DEADLINE_ENFORCER_BATCH });
      if (expired.length > 0) ctx.logger.info({ expired: expired.length, taskIds: expired.slice(0, 20) }, 'deadline enforcer: tasks past their deadline are dead');
      const metrics = ctx.metrics;
      if (metrics !== undefined) await reportTasks(ctx, expired, (queue, type) => metrics.deadlineExpired(queue, type));
      return expired.length >= DEADLINE_ENFORCER_BATCH;
    },
  };
}
