/** Summaries of a row's samples (one per round) and of latency distributions. */

export interface Summary {
  median: number;
  min: number;
  max: number;
  samples: number[];
}

export function summarize(samples: readonly number[]): Summary | undefined {
  if (samples.length === 0) return undefined;
  const sorted = [...samples].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  // An even count takes the mean of the two middle values, so two rounds give their mean.
  const median = sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
  return { median, min: sorted[0]!, max: sorted[sorted.length - 1]!, samples: [...samples] };
}

/** The p-th percentile (0–100) by nearest rank, of values sorted ascending. */
export function percentile(sortedAscending: readonly number[], p: number): number {
  if (sortedAscending.length === 0) throw new Error('percentile of no values');
  const rank = Math.ceil((p / 100) * sortedAscending.length);
  return sortedAscending[Math.min(sortedAscending.length, Math.max(1, rank)) - 1]!;
}

/**
 * "Higher is better" whatever the row: conveyor/bullmq when more is better (throughput),
 * bullmq/conveyor when less is better (latency, memory, CPU). Above 1, Conveyor is ahead.
 */
export function ratio(conveyor: number | undefined, bullmq: number | undefined, better: 'higher' | 'lower'): number | undefined {
  if (conveyor === undefined || bullmq === undefined) return undefined;
  const [top, bottom] = better === 'higher' ? [conveyor, bullmq] : [bullmq, conveyor];
  if (bottom === 0) return undefined;
  return top / bottom;
}
