import type { Command } from 'commander';
import { runNode, type NodeFlags } from '../node.js';
import { apiOptions, nodeOptions } from './start.js';

export function registerServer(program: Command): void {
  const command = program
    .command('server')
    .description('HTTP API and coordinator, no handlers (distributed mode: run `conveyor worker` processes on the same store)');
  nodeOptions(command);
  apiOptions(command);
  command.action(async (flags: NodeFlags) => {
    await runNode('server', { api: true, coordinator: true, worker: false }, flags);
  });
}
