/**
 * `conveyor`: the command line. `bin/conveyor.js` calls `main(process.argv)`.
 *
 * Errors: a ConveyorError prints `error: <message> (<CODE>)` on stderr and exits 1 (a bad
 * configuration value stops start-up this way, naming the key); anything else prints
 * `error: <message>` and exits 1. Usage errors (unknown command or flag) are commander's: exit 1.
 */
import { Command } from 'commander';
import { isConveyorError } from '../errors.js';
import { VERSION } from '../version.js';
import { registerDead } from './commands/dead.js';
import { registerQueues } from './commands/queues.js';
import { registerSchedules } from './commands/schedules.js';
import { registerServer } from './commands/server.js';
import { registerStart } from './commands/start.js';
import { registerStatus } from './commands/status.js';
import { registerSubmit } from './commands/submit.js';
import { registerTasks } from './commands/tasks.js';
import { registerWorker } from './commands/worker.js';
import { registerWorkers } from './commands/workers.js';
import { stdio } from './format.js';

export function createProgram(): Command {
  const program = new Command('conveyor')
    .description('Conveyor: distributed task processing for TypeScript and Node.js (embedded SQLite, or Redis)')
    .version(VERSION, '-V, --version', 'print the version')
    .showHelpAfterError('(add --help for usage)')
    .addHelpText(
      'after',
      [
        '',
        'Client commands talk to the store directly (--store URL, CONVEYOR_STORE, the config file; default',
        'sqlite:./.conveyor/conveyor.db) or to a running server (--server URL, CONVEYOR_SERVER; token in',
        'CONVEYOR_TOKEN). Human tables by default; --json for scripts.',
        '',
        'Quick start:',
        '  npx conveyor start --handlers examples/handlers.js',
        "  npx conveyor submit email.send '{\"to\":\"ada@example.com\"}' --wait",
      ].join('\n'),
    );
  registerStart(program);
  registerServer(program);
  registerWorker(program);
  registerSubmit(program);
  registerStatus(program);
  registerTasks(program);
  registerDead(program);
  registerQueues(program);
  registerSchedules(program);
  registerWorkers(program);
  return program;
}

export async function main(argv: readonly string[] = process.argv): Promise<void> {
  const program = createProgram();
  try {
    await program.parseAsync([...argv]);
  } catch (err) {
    reportError(err);
    process.exitCode = 1;
  }
}

export function reportError(err: unknown): void {
  if (isConveyorError(err)) {
    stdio.err(`error: ${err.message} (${err.code})`);
    return;
  }
  const message = err instanceof Error ? err.message : String(err);
  stdio.err(`error: ${message}`);
  if (process.env.CONVEYOR_DEBUG && err instanceof Error && err.stack) stdio.err(err.stack);
}
