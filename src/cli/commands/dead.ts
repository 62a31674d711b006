import { Option, type Command } from 'commander';
import { ConveyorError } from '../../errors.js';
import { clientOptions, intFlag, withApi, type ClientFlags } from '../common.js';
import { DEAD_COLUMNS, json, stdio, table } from '../format.js';

interface DeadFlags extends ClientFlags {
  queue?: string;
  limit?: string;
  cursor?: string;
  all?: boolean;
  yes?: boolean;
}

export function registerDead(program: Command): void {
  const dead = program.command('dead').description('the dead-letter queue: tasks that failed for good');

  const list = dead
    .command('list')
    .description('dead tasks, newest first, with their last error')
    .addOption(new Option('--queue <name>', 'only this queue'))
    .addOption(new Option('--limit <n>', 'at most this many, 1–1000 (default 50)'))
    .addOption(new Option('--cursor <cursor>', 'continue after a previous page (its nextCursor)'));
  clientOptions(list).action(async (flags: DeadFlags) => {
    const limit = intFlag('limit', flags.limit, 1);
    await withApi(flags, async (api) => {
      const page = await api.deadList({ ...(flags.queue === undefined ? {} : { queue: flags.queue }), ...(limit === undefined ? {} : { limit }), ...(flags.cursor === undefined ? {} : { cursor: flags.cursor }) });
      if (flags.json) return stdio.out(json(page));
      stdio.out(table(page.tasks, DEAD_COLUMNS, '(no dead tasks)'));
      if (page.nextCursor !== null) stdio.out(`more: --cursor ${page.nextCursor}`);
    });
  });

  const retry = dead
    .command('retry')
    .description('send dead tasks back to pending with a fresh set of attempts: the ids given, or --all (of --queue, or of every queue)')
    .argument('[ids...]', 'ids of dead tasks')
    .addOption(new Option('--queue <name>', 'only this queue'))
    .addOption(new Option('--all', 'every dead task (of --queue, or of every queue)'));
  clientOptions(retry).action(async (ids: string[], flags: DeadFlags) => {
    if (ids.length === 0 && !flags.all) throw usage('dead retry: give task ids, or --all to retry every dead task', 'ids');
    if (ids.length > 0 && flags.all) throw usage('dead retry: give task ids or --all, not both', 'all');
    await withApi(flags, async (api) => {
      const retried = await api.deadRetry({ ...(flags.queue === undefined ? {} : { queue: flags.queue }), ...(ids.length > 0 ? { ids } : {}) });
      stdio.out(flags.json ? json({ retried }) : `retried ${retried} dead task${retried === 1 ? '' : 's'}`);
    });
  });

  const purge = dead
    .command('purge')
    .description('delete every dead task (of --queue, or of every queue); needs --yes')
    .addOption(new Option('--queue <name>', 'only this queue'))
    .addOption(new Option('--yes', 'confirm: the tasks are deleted for good'));
  clientOptions(purge).action(async (flags: DeadFlags) => {
    if (!flags.yes) throw usage('dead purge deletes dead tasks for good: add --yes to confirm', 'yes');
    await withApi(flags, async (api) => {
      const deleted = await api.deadPurge(flags.queue === undefined ? {} : { queue: flags.queue });
      stdio.out(flags.json ? json({ deleted }) : `deleted ${deleted} dead task${deleted === 1 ? '' : 's'}`);
    });
  });
}

function usage(message: string, path: string): ConveyorError {
  return new ConveyorError('CONVEYOR_VALIDATION', message, { issues: [{ path, message }] });
}
