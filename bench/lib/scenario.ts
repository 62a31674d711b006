/**
 * What a scenario is: a name, the rows it produces, and one `run` per system. The runner
 * (bench/run.ts) calls the two runs of a scenario interleaved, round after round, and gathers
 * one sample per row and system per round.
 */
import type { BenchRedis } from './bench-redis.js';
import type { Cleanup } from './cleanup.js';
import type { Sizes } from './sizes.js';

/** The two columns of the table. For a few rows the "bullmq" column is another baseline (the row name says so). */
export const SYSTEMS = ['conveyor', 'bullmq'] as const;
export type SystemName = (typeof SYSTEMS)[number];

export interface RowDef {
  /** Key of the row in the values a run returns. */
  id: string;
  /** What the table and the JSON call the row. */
  label: string;
  unit: string;
  /**
   * Which way is better. The ratio is always printed "higher is better": conveyor/bullmq for
   * throughput, bullmq/conveyor for latency, memory and CPU.
   */
  better: 'higher' | 'lower';
}

export interface RunContext {
  /** The bench's private redis-server, FLUSHALLed before every run. */
  redis: BenchRedis;
  sizes: Sizes;
  /** Register what must be undone even if the run fails or the user presses Ctrl-C. */
  cleanup: Cleanup;
  /** A progress line on stderr. */
  log(message: string): void;
}

/** A run's measurements, by row id. A run may leave a row out (it then has no sample this round). */
export type RunValues = Record<string, number>;

export interface Scenario {
  /** Short name, matched by `--only`. */
  name: string;
  rows: readonly RowDef[];
  run: Record<SystemName, (ctx: RunContext) => Promise<RunValues>>;
}
