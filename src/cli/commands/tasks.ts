import { Option, type Command } from 'commander';
import { TASK_STATES, type TaskState } from '../../types.js';
import { clientOptions, intFlag, withApi, type ClientFlags } from '../common.js';
import type { ListFilter } from '../connection.js';
import { json, stdio, table, TASK_COLUMNS, taskDetails } from '../format.js';

interface ListFlags extends ClientFlags {
  queue?: string;
  state?: string;
  type?: string;
  limit?: string;
  cursor?: string;
}

export function registerTasks(program: Command): void {
  const tasks = program.command('tasks').description('list, inspect, cancel and retry tasks');

  const list = tasks
    .command('list')
    .description('tasks, newest first')
    .addOption(new Option('--queue <name>', 'only this queue'))
    .addOption(new Option('--state <state>', 'only this state').choices([...TASK_STATES]))
    .addOption(new Option('--type <type>', 'only this task type'))
    .addOption(new Option('--limit <n>', 'at most this many, 1–1000 (default 50)'))
    .addOption(new Option('--cursor <cursor>', 'continue after a previous page (its nextCursor)'));
  clientOptions(list).action(async (flags: ListFlags) => {
    const filter: ListFilter = {};
    if (flags.queue !== undefined) filter.queue = flags.queue;
    if (flags.state !== undefined) filter.state = flags.state as TaskState;
    if (flags.type !== undefined) filter.type = flags.type;
    const limit = intFlag('limit', flags.limit, 1);
    if (limit !== undefined) filter.limit = limit;
    if (flags.cursor !== undefined) filter.cursor = flags.cursor;
    await withApi(flags, async (api) => {
      const page = await api.list(filter);
      if (flags.json) return stdio.out(json(page));
      stdio.out(table(page.tasks, TASK_COLUMNS, '(no tasks)'));
      if (page.nextCursor !== null) stdio.out(`more: --cursor ${page.nextCursor}`);
    });
  });

  const get = tasks.command('get').description('one task, with its payload, progress, result and last error').argument('<id>', 'task id');
  clientOptions(get).action(async (id: string, flags: ClientFlags) => {
    await withApi(flags, async (api) => {
      const task = await api.get(id);
      stdio.out(flags.json ? json(task) : taskDetails(task));
    });
  });

  const cancel = tasks
    .command('cancel')
    .description('cancel a task: one not started ends cancelled (its dependents too); a running one is asked to stop')
    .argument('<id>', 'task id');
  clientOptions(cancel).action(async (id: string, flags: ClientFlags) => {
    await withApi(flags, async (api) => {
      const result = await api.cancel(id);
      if (flags.json) return stdio.out(json(result));
      const said = { cancelled: 'cancelled', cancel_requested: 'cancel requested (it is running: its worker aborts it)', already_finished: `already finished (${result.task.state}): nothing done` };
      stdio.out(`${result.task.id}: ${said[result.outcome]}`);
    });
  });

  const retry = tasks.command('retry').description('send a dead or cancelled task back to pending with a fresh set of attempts').argument('<id>', 'task id');
  clientOptions(retry).action(async (id: string, flags: ClientFlags) => {
    await withApi(flags, async (api) => {
      const result = await api.retry(id);
      stdio.out(flags.json ? json(result) : `${result.task.id}: retried (${result.task.state})`);
    });
  });
}
