/**
 * How big each workload is: the full bench (N = 100,000) or `--quick` (small enough that every
 * scenario together takes a few minutes on a loaded two-core machine).
 */
export interface Sizes {
  /** Tasks per enqueue, drain, memory, CPU and SQLite workload. */
  n: number;
  /** Tasks for the drain at concurrency 1, which is slow by nature. */
  drainC1: number;
  /** Latency scenario: submit rate (tasks/s), total length and warm-up discarded, in seconds. */
  latencyRate: number;
  latencySeconds: number;
  latencyWarmupSeconds: number;
  /** HTTP scenario: autocannon connections, measured seconds per route, and warm-up seconds. */
  httpConnections: number;
  httpSeconds: number;
  httpWarmupSeconds: number;
  /** Tasks per request on the batch route. */
  httpBatchSize: number;
  /** Rounds when `--rounds` is not given. */
  defaultRounds: number;
}

export const FULL_SIZES: Sizes = {
  n: 100_000,
  drainC1: 10_000,
  latencyRate: 1_000,
  latencySeconds: 10,
  latencyWarmupSeconds: 1,
  httpConnections: 50,
  httpSeconds: 10,
  httpWarmupSeconds: 1,
  httpBatchSize: 100,
  defaultRounds: 3,
};

export const QUICK_SIZES: Sizes = {
  n: 10_000,
  drainC1: 1_000,
  latencyRate: 1_000,
  latencySeconds: 3,
  latencyWarmupSeconds: 1,
  httpConnections: 50,
  httpSeconds: 3,
  httpWarmupSeconds: 1,
  httpBatchSize: 100,
  defaultRounds: 2,
};
