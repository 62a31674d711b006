import type { Command } from 'commander';
import { clientOptions, withApi, type ClientFlags } from '../common.js';
import { json, stdio, table } from '../format.js';
import { QUEUE_COLUMNS } from './queues.js';
import { workerColumns } from './workers.js';

export function registerStatus(program: Command): void {
  const command = program.command('status').description('at a glance: queues with their counts, workers, and the leader');
  clientOptions(command).action(async (flags: ClientFlags) => {
    await withApi(flags, async (api) => {
      const [queues, workers, cluster] = await Promise.all([api.queues(), api.workers(), api.cluster()]);
      if (flags.json) return stdio.out(json({ target: api.target, leader: cluster.leader, queues, workers, nodes: cluster.nodes }));
      const servers = workers.filter((w) => w.role === 'server').length;
      stdio.out(
        [
          `conveyor at ${api.target}`,
          `leader: ${cluster.leader ?? '(none: no server or `conveyor start` is running)'}`,
          '',
          table(queues, QUEUE_COLUMNS, '(no queues yet)'),
          '',
          `${workers.length - servers} worker${workers.length - servers === 1 ? '' : 's'}, ${servers} server${servers === 1 ? '' : 's'}`,
          table(workers, workerColumns(cluster.leader), '(no workers)'),
        ].join('\n'),
      );
    });
  });
}
