/**
 * Output of the CLI: human tables by default, JSON (one document, pretty-printed) with `--json`.
 * Everything goes through `out`/`err`, never `console`.
 */
import type { Task, TaskState } from '../types.js';
import { TASK_STATES } from '../types.js';

export interface Output {
  out(text: string): void;
  err(text: string): void;
}

export const stdio: Output = {
  out: (text) => void process.stdout.write(text.endsWith('\n') ? text : `${text}\n`),
  err: (text) => void process.stderr.write(text.endsWith('\n') ? text : `${text}\n`),
};

export function json(value: unknown): string {
  return JSON.stringify(value, null, 2);
}

export interface Column<T> {
  header: string;
  value: (row: T) => string;
  /** Right-aligned (numbers). */
  right?: boolean;
}

/** A plain-text table: a header, then one line per row, columns padded to their widest cell. */
export function table<T>(rows: readonly T[], columns: readonly Column<T>[], empty = '(none)'): string {
  if (rows.length === 0) return empty;
  const cells = rows.map((row) => columns.map((c) => oneLine(c.value(row))));
  const widths = columns.map((c, i) => Math.max(c.header.length, ...cells.map((r) => r[i]!.length)));
  const line = (values: string[]): string =>
    values
      .map((v, i) => (columns[i]!.right ? v.padStart(widths[i]!) : v.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  return [line(columns.map((c) => c.header)), ...cells.map(line)].join('\n');
}

/** Key/value lines, keys padded. */
export function fields(entries: readonly (readonly [string, string])[]): string {
  const width = Math.max(...entries.map(([k]) => k.length));
  return entries.map(([k, v]) => `${`${k}:`.padEnd(width + 2)}${v}`).join('\n');
}

function oneLine(text: string): string {
  return text.replace(/\s*\n\s*/g, ' ');
}

export function time(ms: number | null | undefined): string {
  if (ms === null || ms === undefined) return '-';
  return new Date(ms).toISOString().replace('T', ' ').replace(/\.\d+Z$/, 'Z');
}

/** 1234 → "1.2s"; 93_000 → "1m33s"; 5_400_000 → "1h30m". */
export function duration(ms: number): string {
  if (ms < 1_000) return `${Math.round(ms)}ms`;
  const s = Math.floor(ms / 1_000);
  if (s < 60) return `${(ms / 1_000).toFixed(1)}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m${String(s % 60).padStart(2, '0')}s`;
  const h = Math.floor(m / 60);
  if (h < 48) return `${h}h${String(m % 60).padStart(2, '0')}m`;
  return `${Math.floor(h / 24)}d${String(h % 24).padStart(2, '0')}h`;
}

export function compactJson(value: unknown, max = 60): string {
  if (value === null || value === undefined) return '-';
  const text = JSON.stringify(value);
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

export const TASK_COLUMNS: Column<Task>[] = [
  { header: 'ID', value: (t) => t.id },
  { header: 'QUEUE', value: (t) => t.queue },
  { header: 'TYPE', value: (t) => t.type },
  { header: 'STATE', value: (t) => t.state },
  { header: 'PRI', value: (t) => String(t.priority), right: true },
  { header: 'ATTEMPT', value: (t) => `${t.attempt}/${t.maxAttempts}`, right: true },
  { header: 'CREATED', value: (t) => time(t.createdAt) },
];

export const DEAD_COLUMNS: Column<Task>[] = [
  { header: 'ID', value: (t) => t.id },
  { header: 'QUEUE', value: (t) => t.queue },
  { header: 'TYPE', value: (t) => t.type },
  { header: 'ATTEMPTS', value: (t) => String(t.attempt), right: true },
  { header: 'DIED', value: (t) => time(t.finishedAt) },
  { header: 'ERROR', value: (t) => (t.error ? `${t.error.reason}: ${t.error.message}`.slice(0, 80) : '-') },
];

/** Everything about one task, for `tasks get` and `submit --wait`. */
export function taskDetails(task: Task): string {
  const entries: [string, string][] = [
    ['id', task.id],
    ['queue', task.queue],
    ['type', task.type],
    ['state', task.state + (task.cancelRequested ? ' (cancel requested)' : '')],
    ['priority', String(task.priority)],
    ['attempt', `${task.attempt} of ${task.maxAttempts}`],
    ['payload', compactJson(task.payload, 200)],
  ];
  if (task.progress !== null) entries.push(['progress', compactJson(task.progress, 200)]);
  if (task.result !== null) entries.push(['result', compactJson(task.result, 200)]);
  if (task.error) entries.push(['error', `${task.error.reason}: ${task.error.message} (attempt ${task.error.attempt})`]);
  if (task.dependsOn.length > 0) entries.push(['depends on', task.dependsOn.join(', ')]);
  if (task.key !== null) entries.push(['key', task.key]);
  if (task.timeoutMs !== null) entries.push(['timeout', duration(task.timeoutMs)]);
  if (task.deadline !== null) entries.push(['deadline', time(task.deadline)]);
  entries.push(['created', time(task.createdAt)], ['run at', time(task.runAt)]);
  if (task.startedAt !== null) entries.push(['started', time(task.startedAt)]);
  if (task.finishedAt !== null) entries.push(['finished', time(task.finishedAt)]);
  if (task.workerId !== null) entries.push(['worker', task.workerId]);
  if (task.leaseExpiresAt !== null) entries.push(['lease expires', time(task.leaseExpiresAt)]);
  return fields(entries);
}

/** Count columns, one per state, for queue tables. */
export function stateColumns<T extends { counts: Record<TaskState, number> }>(): Column<T>[] {
  return TASK_STATES.map((state) => ({ header: state.toUpperCase(), value: (row: T) => String(row.counts[state] ?? 0), right: true }));
}
