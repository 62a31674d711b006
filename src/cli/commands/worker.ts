import { Option, type Command } from 'commander';
import { runNode, type NodeFlags } from '../node.js';
import { nodeOptions, workerOptions } from './start.js';

export function registerWorker(program: Command): void {
  const command = program
    .command('worker')
    .description('process tasks with the handlers of --handlers (plus the built-in `http` type); no API, no coordinator');
  nodeOptions(command);
  workerOptions(command);
  command.addOption(new Option('--metrics-port <port>', 'serve Prometheus GET /metrics on this port, bound to the `host` key (0 picks a free one; default: off; env CONVEYOR_METRICS_PORT)'));
  command.action(async (flags: NodeFlags) => {
    await runNode('worker', { api: false, coordinator: false, worker: true }, flags);
  });
}
