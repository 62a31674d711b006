import type { PeriodicTask } from '../../lifecycle/periodic.js';
import type { Store } from '../../store/store.js';
import type { Logger } from '../../worker/handlers.js';

/** What every maintenance service gets: the store, a logger, and its own settings. */
export interface ServiceContext {
  store: Store;
  logger: Logger;
}

/** A leader-only duty: a periodic task, run by the Maintainer while this node leads. */
export type MaintenanceService = PeriodicTask;
