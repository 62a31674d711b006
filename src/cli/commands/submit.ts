import { Option, type Command } from 'commander';
import { ConveyorError } from '../../errors.js';
import { parseDuration } from '../../duration.js';
import type { SubmitTaskOptions } from '../../schemas.js';
import { FINISHED_STATES, type Task } from '../../types.js';
import { clientOptions, intFlag, jsonArg, listFlag, withApi, type ClientFlags } from '../common.js';
import type { Api } from '../connection.js';
import { compactJson, json, stdio, taskDetails } from '../format.js';

interface SubmitFlags extends ClientFlags {
  queue?: string;
  priority?: string;
  delay?: string;
  runAt?: string;
  deadline?: string;
  timeout?: string;
  retries?: string;
  dependsOn?: string;
  key?: string;
  wait?: boolean;
  waitTimeout?: string;
}

/** How often `--wait` looks at the task. */
const WAIT_POLL_MS = 250;

export function registerSubmit(program: Command): void {
  const command = program
    .command('submit')
    .description('submit a task; with --wait, show its progress until it ends (exit code 1 if it died or was cancelled)')
    .argument('<type>', 'the task type (the handler\'s name)')
    .argument('[payload]', 'the payload, JSON (default null)')
    .addOption(new Option('--queue <name>', 'queue (default "default")'))
    .addOption(new Option('--priority <p>', '0–10 or low, normal (default), high, critical'))
    .addOption(new Option('--delay <duration>', 'run after this long, e.g. 30s, 5m'))
    .addOption(new Option('--run-at <time>', 'run at this time: ISO 8601 or epoch ms'))
    .addOption(new Option('--deadline <time>', 'complete by this time (ISO 8601, epoch ms, or a duration from now such as 10m), else it dies'))
    .addOption(new Option('--timeout <duration>', 'timeout of each attempt, e.g. 30s'))
    .addOption(new Option('--retries <n>', 'retries after the first attempt (default 3)'))
    .addOption(new Option('--depends-on <ids>', 'comma-separated ids of tasks that must complete first'))
    .addOption(new Option('--key <key>', 'idempotency key: a second submit with it returns the first task'))
    .addOption(new Option('--wait', 'wait until the task ends, showing its progress'))
    .addOption(new Option('--wait-timeout <duration>', 'with --wait: give up waiting after this long (exit code 1; the task goes on)'));
  clientOptions(command);
  command.action(async (type: string, payloadText: string | undefined, flags: SubmitFlags) => {
    const input: SubmitTaskOptions = { type };
    if (payloadText !== undefined) input.payload = jsonArg('payload', payloadText) as SubmitTaskOptions['payload'];
    if (flags.queue !== undefined) input.queue = flags.queue;
    if (flags.priority !== undefined) input.priority = (/^\d+$/.test(flags.priority) ? Number(flags.priority) : flags.priority) as SubmitTaskOptions['priority'];
    if (flags.delay !== undefined) input.delay = flags.delay;
    if (flags.runAt !== undefined) input.runAt = timeFlag(flags.runAt);
    if (flags.deadline !== undefined) input.deadline = timeFlag(flags.deadline, true);
    if (flags.timeout !== undefined) input.timeout = flags.timeout;
    const retries = intFlag('retries', flags.retries);
    if (retries !== undefined) input.retries = retries;
    const dependsOn = listFlag(flags.dependsOn);
    if (dependsOn !== undefined) input.dependsOn = dependsOn;
    if (flags.key !== undefined) input.key = flags.key;
    const waitTimeoutMs = flags.waitTimeout === undefined ? undefined : parseDuration(flags.waitTimeout, 'wait-timeout');

    const failed = await withApi(flags, async (api) => {
      const { task, created } = await api.submit(input);
      if (!flags.wait) {
        stdio.out(flags.json ? json({ ...task, created }) : `${created ? 'submitted' : 'already submitted (same key)'} ${task.id} (${task.type} on ${task.queue}, ${task.state})`);
        return false;
      }
      if (!flags.json) stdio.err(`${created ? 'submitted' : 'already submitted (same key)'} ${task.id} (${task.type} on ${task.queue}); waiting…`);
      const done = await waitUntilFinished(api, task, flags.json === true, waitTimeoutMs);
      if (flags.json) stdio.out(json(done));
      else stdio.out(taskDetails(done));
      if (done.state !== 'completed') {
        const why = done.error ? `: ${done.error.reason}: ${done.error.message}` : '';
        stdio.err(`error: task ${done.id} ended ${done.state}${why}`);
        return true;
      }
      return false;
    });
    if (failed) process.exitCode = 1;
  });
}

/** A time flag: epoch ms, ISO 8601, or (when `relative`) a duration from now such as "10m". */
function timeFlag(value: string, relative = false): string | number {
  const text = value.trim();
  if (/^\d+$/.test(text)) return Number(text);
  if (relative && /^\d+(\.\d+)?\s*[a-z]+$/i.test(text)) return Date.now() + parseDuration(text, 'deadline');
  return text;
}

/** Polls the task until it is finished, printing changes of state and progress on stderr. */
async function waitUntilFinished(api: Api, submitted: Task, quiet: boolean, timeoutMs: number | undefined): Promise<Task> {
  const finished = new Set<string>(FINISHED_STATES);
  const giveUpAt = timeoutMs === undefined ? Infinity : Date.now() + timeoutMs;
  let last = '';
  let task = submitted;
  for (;;) {
    const shown = `${task.state}${task.attempt > 0 ? ` (attempt ${task.attempt}/${task.maxAttempts})` : ''}${task.progress === null ? '' : ` progress ${compactJson(task.progress)}`}`;
    if (!quiet && shown !== last) stdio.err(`  ${task.id}: ${shown}`);
    last = shown;
    if (finished.has(task.state)) return task;
    if (Date.now() >= giveUpAt) {
      throw new ConveyorError('CONVEYOR_WAIT_TIMEOUT', `task ${task.id} did not finish within --wait-timeout (it is ${task.state}; it goes on)`, {
        id: task.id,
        state: task.state,
      });
    }
    await new Promise((resolve) => setTimeout(resolve, WAIT_POLL_MS));
    task = await api.get(task.id);
  }
}
