import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { MetricsSink } from '../observability/metrics-sink.js';
import type { Store, WorkerInfo } from '../store/store.js';
import { silentLogger, type Logger } from '../worker/handlers.js';
import { Heartbeat, HEARTBEAT_INTERVAL_MS } from '../worker/heartbeat.js';
import { DEFAULT_LEADER_LEASE_MS, LEADER_LEASE_NAME, LeaderElector } from './leader-elector.js';
import { Maintainer } from './maintainer.js';
import { cronScheduler, CRON_SCHEDULER_INTERVAL_MS } from './services/cron-scheduler.js';
import { deadlineEnforcer, DEADLINE_ENFORCER_INTERVAL_MS } from './services/deadline-enforcer.js';
import { leaseReaper, LEASE_REAPER_INTERVAL_MS } from './services/lease-reaper.js';
import { promoter, PROMOTER_INTERVAL_MS } from './services/promoter.js';
import { retentionCleaner, RETENTION_CLEANER_INTERVAL_MS, type RetentionConfig } from './services/retention-cleaner.js';
import { workerPruner, WORKER_PRUNER_INTERVAL_MS } from './services/worker-pruner.js';
import { VERSION } from '../version.js';

export interface CoordinatorIntervals {
  promoterMs: number;
  leaseReaperMs: number;
  deadlineEnforcerMs: number;
  retentionCleanerMs: number;
  workerPrunerMs: number;
  cronSchedulerMs: number;
}

export const DEFAULT_COORDINATOR_INTERVALS: CoordinatorIntervals = {
  promoterMs: PROMOTER_INTERVAL_MS,
  leaseReaperMs: LEASE_REAPER_INTERVAL_MS,
  deadlineEnforcerMs: DEADLINE_ENFORCER_INTERVAL_MS,
  retentionCleanerMs: RETENTION_CLEANER_INTERVAL_MS,
  workerPrunerMs: WORKER_PRUNER_INTERVAL_MS,
  cronSchedulerMs: CRON_SCHEDULER_INTERVAL_MS,
};

export interface CoordinatorOptions {
  store: Store;
  /** Defaults to `<host>-<pid>-<random>`. */
  nodeId?: string;
  /** The leader lease: a dead leader is replaced within about this long. Default 10 s. */
  leaseMs?: number;
  retention?: RetentionConfig;
  intervals?: Partial<CoordinatorIntervals>;
  logger?: Logger;
  heartbeatIntervalMs?: number;
  /**
   * Where the leader reports reclaimed leases, deadline deaths and schedule occurrences; while this
   * node leads, the cluster gauges (tasks per queue and state, oldest pending age) are read from
   * its store at scrape time. Absent: nothing is measured.
   */
  metrics?: MetricsSink;
}

/** A node of the cluster as the cluster view shows it. */
export interface ClusterNode {
  id: string;
  role: 'worker' | 'server';
  leader: boolean;
  host: string;
  pid: number;
  version: string | null;
  startedAt: number;
  uptimeMs: number;
  lastHeartbeatAt: number;
}

export interface ClusterView {
  /** The node asking, when it is part of the cluster. */
  self: string | null;
  leader: string | null;
  nodes: ClusterNode[];
}

/**
 * The coordinator: any server node runs one; the store elects one leader at a time among them, and
 * only the leader runs the maintenance duties (promote due tasks, reclaim expired leases, expire
 * deadlines, enforce retention, prune stale registrations, enqueue recurring tasks). Every node
 * registers in the cluster view with role `server`.
 */
export class Coordinator {
  readonly nodeId: string;
  readonly #store: Store;
  readonly #logger: Logger;
  readonly #elector: LeaderElector;
  readonly #maintainer: Maintainer;
  readonly #heartbeat: Heartbeat;
  #startedAt = 0;
  #started = false;
  readonly #metrics: MetricsSink | undefined;
  #untrack: (() => void) | undefined;

  constructor(options: CoordinatorOptions) {
    this.#store = options.store;
    this.nodeId = options.nodeId ?? `${hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`;
    this.#logger = (options.logger ?? silentLogger).child({ nodeId: this.nodeId });
    const intervals = { ...DEFAULT_COORDINATOR_INTERVALS, ...options.intervals };
    this.#metrics = options.metrics;
    const ctx = { store: this.#store, logger: this.#logger, metrics: options.metrics };
    this.#maintainer = new Maintainer(
      [
        promoter(ctx, intervals.promoterMs),
        leaseReaper(ctx, intervals.leaseReaperMs),
        deadlineEnforcer(ctx, intervals.deadlineEnforcerMs),
        retentionCleaner(ctx, options.retention, intervals.retentionCleanerMs),
        workerPruner(ctx, intervals.workerPrunerMs),
        cronScheduler(ctx, intervals.cronSchedulerMs),
      ],
      this.#logger,
    );
    this.#elector = new LeaderElector({
      store: this.#store,
      nodeId: this.nodeId,
      leaseMs: options.leaseMs ?? DEFAULT_LEADER_LEASE_MS,
      logger: this.#logger,
      onElected: (term) => this.#maintainer.runTerm(term),
    });
    this.#heartbeat = new Heartbeat(this.#store, () => this.#describe(), this.#logger, options.heartbeatIntervalMs ?? HEARTBEAT_INTERVAL_MS);
  }

  get isLeader(): boolean {
    return this.#elector.isLeader;
  }

  async start(): Promise<void> {
    if (this.#started) return;
    this.#started = true;
    this.#startedAt = Date.now();
    await this.#heartbeat.start();
    this.#elector.start();
    this.#untrack = this.#metrics?.trackCoordinator(this, this.#store);
  }

  /** Stops the duties at once, resigns the lease (a follower takes over), deregisters. */
  async stop(): Promise<void> {
    if (!this.#started) return;
    this.#started = false;
    this.#untrack?.();
    this.#untrack = undefined;
    await this.#elector.stop();
    await this.#maintainer.drain();
    await this.#heartbeat.stop();
  }

  cluster(): Promise<ClusterView> {
    return getClusterView(this.#store, this.nodeId);
  }

  #describe(): Omit<WorkerInfo, 'lastHeartbeatAt'> {
    return {
      id: this.nodeId,
      role: 'server',
      version: VERSION,
      host: hostname(),
      pid: process.pid,
      queues: [],
      types: [],
      concurrency: { min: 0, max: 0, current: 0 },
      running: 0,
      startedAt: this.#startedAt,
    };
  }
}

export function createCoordinator(options: CoordinatorOptions): Coordinator {
  return new Coordinator(options);
}

/** Nodes (servers and workers) with their role, which one leads, and their uptime. */
export async function getClusterView(store: Store, self: string | null = null): Promise<ClusterView> {
  const [leader, nodes] = await Promise.all([store.getLeader({ name: LEADER_LEASE_NAME }), store.listWorkers({})]);
  const now = Date.now();
  return {
    self,
    leader: leader?.nodeId ?? null,
    nodes: nodes.map((node) => ({
      id: node.id,
      role: node.role ?? 'worker',
      leader: node.id === leader?.nodeId,
      host: node.host,
      pid: node.pid,
      version: node.version ?? null,
      startedAt: node.startedAt,
      uptimeMs: Math.max(0, now - node.startedAt),
      lastHeartbeatAt: node.lastHeartbeatAt,
    })),
  };
}
