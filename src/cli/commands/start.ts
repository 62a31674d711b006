import { Option, type Command } from 'commander';
import { runNode, type NodeFlags } from '../node.js';

/** Flags `start`, `server` and `worker` share. */
export function nodeOptions(command: Command): Command {
  return command
    .addOption(new Option('--store <url>', 'store URL: sqlite:PATH, sqlite::memory:, redis://…, rediss://… (default sqlite:./.conveyor/conveyor.db; env CONVEYOR_STORE, REDIS_URL)'))
    .addOption(new Option('--config <file>', 'configuration file (default: CONVEYOR_CONFIG, or ./conveyor.yaml when present)'));
}

export function apiOptions(command: Command): Command {
  return command
    .addOption(new Option('--port <port>', 'port of the HTTP API, 0 for a free one (default 8080; env CONVEYOR_PORT)'))
    .addOption(new Option('--host <host>', 'address the HTTP API binds to (default 127.0.0.1; env CONVEYOR_HOST)'));
}

export function workerOptions(command: Command): Command {
  return command
    .addOption(new Option('--handlers <file>', 'ES module whose default export maps task types to handlers (the built-in `http` type is always there)'))
    .addOption(new Option('--queues <names>', 'queues to take tasks from, comma-separated, in order of preference (default "default")'))
    .addOption(new Option('--concurrency <n>', 'tasks at once: N, or MIN:MAX to scale with the backlog (default 10)'))
    .addOption(new Option('--prefetch <n>', 'tasks claimed beyond the free slots and held ready (default 0)'))
    .addOption(new Option('--steal', 'when idle, take prefetched tasks from busy workers'))
    .addOption(new Option('--sandbox', 'run handlers in worker threads, so CPU-bound handlers cannot block lease renewal'));
}

export function registerStart(program: Command): void {
  const command = program
    .command('start')
    .description('all in one process: HTTP API, coordinator and a worker pool (standalone mode; SQLite by default)');
  nodeOptions(command);
  apiOptions(command);
  workerOptions(command);
  command.action(async (flags: NodeFlags) => {
    await runNode('start', { api: true, coordinator: true, worker: true }, flags);
  });
}
