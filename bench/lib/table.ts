/** The human-readable output: one line per row, aligned columns, numbers rounded for reading. */
import type { RowDef } from './scenario.js';
import type { Summary } from './stats.js';

export interface RowResult {
  row: RowDef;
  conveyor: Summary | undefined;
  bullmq: Summary | undefined;
  ratio: number | undefined;
}

/** Three significant digits at most below 100, whole numbers with separators above. */
export function formatNumber(value: number): string {
  const abs = Math.abs(value);
  if (abs >= 100) return Math.round(value).toLocaleString('en-US');
  if (abs >= 10) return value.toFixed(1);
  return value.toFixed(2);
}

function formatSummary(summary: Summary | undefined): string {
  if (summary === undefined) return 'failed';
  if (summary.samples.length === 1) return formatNumber(summary.median);
  return `${formatNumber(summary.median)} (${formatNumber(summary.min)}–${formatNumber(summary.max)})`;
}

export function formatRatio(value: number | undefined): string {
  return value === undefined ? '—' : `${value.toFixed(2)}×`;
}

export function renderTable(results: readonly RowResult[]): string {
  const header = ['scenario', 'unit', 'conveyor median (min–max)', 'bullmq median (min–max)', 'ratio'];
  const lines = results.map((r) => [r.row.label, r.row.unit, formatSummary(r.conveyor), formatSummary(r.bullmq), formatRatio(r.ratio)]);
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((line) => line[i]!.length)));
  // Text columns left-aligned, numbers right-aligned.
  const alignRight = [false, false, true, true, true];
  const render = (cells: string[]): string =>
    cells.map((cell, i) => (alignRight[i] ? cell.padStart(widths[i]!) : cell.padEnd(widths[i]!))).join(' | ').trimEnd();
  const separator = widths.map((w) => '-'.repeat(w)).join('-|-');
  return [render(header), separator, ...lines.map(render)].join('\n');
}
