import type { PeriodicTask } from '../../lifecycle/periodic.js';
import type { MetricsSink } from '../../observability/metrics-sink.js';
import type { Store } from '../../store/store.js';
import type { Logger } from '../../worker/handlers.js';

/** What every maintenance service gets: the store, a logger, and its own settings. */
export interface ServiceContext {
  store: Store;
  logger: Logger;
  /** Where the services report what they did (reclaimed leases, deadline deaths, occurrences). */
  metrics?: MetricsSink | undefined;
}

/** A leader-only duty: a periodic task, run by the Maintainer while this node leads. */
export type MaintenanceService = PeriodicTask;

/**
 * For metrics: calls `report(queue, type)` for each of `ids` (tasks a maintenance call just changed;
 * the store answers with ids only, so they are read back, in batches). Only when a sink is set, and
 * only when something happened, so an idle leader makes no extra call. A failed read is logged, not
 * thrown: the change is done, only its counting is lost.
 */
export async function reportTasks(ctx: ServiceContext, ids: readonly string[], report: (queue: string, type: string) => void): Promise<void> {
  if (ctx.metrics === undefined || ids.length === 0) return;
  try {
    for (let i = 0; i < ids.length; i += REPORT_BATCH) {
      const batch = ids.slice(i, i + REPORT_BATCH);
      const tasks = await ctx.store.getTasks({ ids: batch });
      // Gone already (retention, purge) is as good as impossible; counted under "unknown" so totals stay right.
      for (const task of tasks) report(task?.queue ?? 'unknown', task?.type ?? 'unknown');
    }
  } catch (err) {
    ctx.logger.warn({ err, tasks: ids.length }, 'metrics: could not read back the tasks a maintenance call changed; they are not counted');
  }
}

const REPORT_BATCH = 1_000;
