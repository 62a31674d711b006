import { runPeriodically } from '../lifecycle/periodic.js';
import type { Logger } from '../worker/handlers.js';
import type { MaintenanceService } from './services/maintenance-service.js';

/**
 * Runs the leader-only services for the length of a term: `runTerm` starts every service on the
 * term's signal and resolves once they all stopped. A term is its own AbortSignal, so a stale
 * term's services stop on their own and can never tear down a newer term's (River's epoch).
 */
export class Maintainer {
  readonly #services: MaintenanceService[];
  readonly #logger: Logger;
  #terms = new Set<Promise<void>>();

  constructor(services: MaintenanceService[], logger: Logger) {
    this.#services = services;
    this.#logger = logger;
  }

  get serviceNames(): string[] {
    return this.#services.map((service) => service.name);
  }

  runTerm(term: AbortSignal): void {
    this.#logger.info({ services: this.serviceNames }, 'maintainer: starting leader duties');
    const running = Promise.all(this.#services.map((service) => runPeriodically(service, term, this.#logger))).then(() => {
      this.#logger.info({}, 'maintainer: leader duties stopped');
    });
    this.#terms.add(running);
    void running.finally(() => this.#terms.delete(running));
  }

  /** Resolves once every term's services have stopped (their signals must be aborted first). */
  async drain(): Promise<void> {
    await Promise.all([...this.#terms]);
  }
}
