import type { Command } from 'commander';
import type { QueueSummary } from '../../client/client.js';
import { clientOptions, withApi, type ClientFlags } from '../common.js';
import { json, stateColumns, stdio, table, type Column } from '../format.js';

export const QUEUE_COLUMNS: Column<QueueSummary>[] = [
  { header: 'QUEUE', value: (q) => q.name },
  { header: 'PAUSED', value: (q) => (q.paused ? 'yes' : 'no') },
  ...stateColumns<QueueSummary>(),
];

export function registerQueues(program: Command): void {
  const queues = program.command('queues').description('queues: list with counts per state, pause, resume');

  const list = queues.command('list').description('every queue with its pause flag and its tasks per state');
  clientOptions(list).action(async (flags: ClientFlags) => {
    await withApi(flags, async (api) => {
      const all = await api.queues();
      stdio.out(flags.json ? json(all) : table(all, QUEUE_COLUMNS, '(no queues)'));
    });
  });

  const pause = queues.command('pause').description('stop workers claiming from a queue (running tasks finish)').argument('<name>', 'queue name');
  clientOptions(pause).action(async (name: string, flags: ClientFlags) => {
    await withApi(flags, async (api) => {
      const queue = await api.pauseQueue(name);
      stdio.out(flags.json ? json(queue) : `queue ${queue.name} paused`);
    });
  });

  const resume = queues.command('resume').description('let workers claim from a paused queue again').argument('<name>', 'queue name');
  clientOptions(resume).action(async (name: string, flags: ClientFlags) => {
    await withApi(flags, async (api) => {
      const queue = await api.resumeQueue(name);
      stdio.out(flags.json ? json(queue) : `queue ${queue.name} resumed`);
    });
  });
}
