import { Option, type Command } from 'commander';
import type { ScheduleInput } from '../../coordinator/schedules.js';
import type { Schedule } from '../../store/store.js';
import { clientOptions, intFlag, jsonArg, withApi, type ClientFlags } from '../common.js';
import { compactJson, duration, json, stdio, table, time, type Column } from '../format.js';

interface AddFlags extends ClientFlags {
  cron?: string;
  every?: string;
  timezone?: string;
  type: string;
  payload?: string;
  queue?: string;
  priority?: string;
  retries?: string;
  missedRuns?: 'skip' | 'once';
  paused?: boolean;
}

const SCHEDULE_COLUMNS: Column<Schedule>[] = [
  { header: 'NAME', value: (s) => s.name },
  { header: 'WHEN', value: (s) => describeTiming(s) },
  { header: 'TASK', value: (s) => compactJson(s.task, 50) },
  { header: 'NEXT', value: (s) => (s.paused ? 'paused' : time(s.nextRunAt)) },
  { header: 'LAST', value: (s) => time(s.lastRunAt) },
];

function describeTiming(s: Schedule): string {
  if (s.cron) return `cron "${s.cron}"${s.timezone ? ` ${s.timezone}` : ''}`;
  return typeof s.everyMs === 'number' ? `every ${duration(s.everyMs)}` : '-';
}

export function registerSchedules(program: Command): void {
  const schedules = program.command('schedules').description('recurring tasks (cron or interval): list, add, rm');

  const list = schedules.command('list').description('every schedule with its next and last run');
  clientOptions(list).action(async (flags: ClientFlags) => {
    await withApi(flags, async (api) => {
      const all = await api.schedules();
      stdio.out(flags.json ? json(all) : table(all, SCHEDULE_COLUMNS, '(no schedules)'));
    });
  });

  const add = schedules
    .command('add')
    .description('create or replace a schedule: --cron EXPR or --every DURATION, and the task it enqueues')
    .argument('<name>', 'schedule name (a known name is replaced)')
    .addOption(new Option('--cron <expr>', 'cron expression, e.g. "0 3 * * *"'))
    .addOption(new Option('--timezone <tz>', 'IANA time zone of --cron (default UTC)'))
    .addOption(new Option('--every <duration>', 'interval instead of --cron, at least 1s, e.g. 30s, 1h'))
    .addOption(new Option('--type <type>', 'task type to enqueue').makeOptionMandatory())
    .addOption(new Option('--payload <json>', 'task payload, JSON'))
    .addOption(new Option('--queue <name>', 'task queue (default "default")'))
    .addOption(new Option('--priority <p>', 'task priority, 0–10 or a name'))
    .addOption(new Option('--retries <n>', 'task retries'))
    .addOption(new Option('--missed-runs <policy>', 'after downtime: skip missed runs, or run once').choices(['skip', 'once']))
    .addOption(new Option('--paused', 'create it paused'));
  clientOptions(add).action(async (name: string, flags: AddFlags) => {
    const task: Record<string, unknown> = { type: flags.type };
    if (flags.payload !== undefined) task.payload = jsonArg('--payload', flags.payload);
    if (flags.queue !== undefined) task.queue = flags.queue;
    if (flags.priority !== undefined) task.priority = /^\d+$/.test(flags.priority) ? Number(flags.priority) : flags.priority;
    const retries = intFlag('retries', flags.retries);
    if (retries !== undefined) task.retries = retries;
    const input: ScheduleInput = { name, task };
    if (flags.cron !== undefined) input.cron = flags.cron;
    if (flags.timezone !== undefined) input.timezone = flags.timezone;
    if (flags.every !== undefined) input.every = flags.every;
    if (flags.missedRuns !== undefined) input.missedRuns = flags.missedRuns;
    if (flags.paused) input.paused = true;
    await withApi(flags, async (api) => {
      const saved = await api.saveSchedule(input);
      stdio.out(flags.json ? json(saved) : `schedule ${saved.name} saved: ${describeTiming(saved)}; next run ${saved.paused ? '(paused)' : time(saved.nextRunAt)}`);
    });
  });

  const rm = schedules.command('rm').description('delete schedules by name').argument('<names...>', 'schedule names');
  clientOptions(rm).action(async (names: string[], flags: ClientFlags) => {
    await withApi(flags, async (api) => {
      let removed = 0;
      for (const name of names) removed += await api.removeSchedule(name);
      stdio.out(flags.json ? json({ removed }) : `removed ${removed} schedule${removed === 1 ? '' : 's'}`);
      if (removed < names.length) process.exitCode = 1;
    });
  });
}
