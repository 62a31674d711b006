import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runCli } from './cli-process.js';

const cwd = mkdtempSync(join(tmpdir(), 'conveyor-cli-help-'));
afterAll(() => rmSync(cwd, { recursive: true, force: true }));

const COMMANDS = ['start', 'server', 'worker', 'submit', 'status', 'tasks', 'dead', 'queues', 'schedules', 'workers'];

describe('conveyor --help', () => {
  it('lists every command of the brief', async () => {
    const { code, stdout } = await runCli(['--help'], { cwd });
    expect(code).toBe(0);
    for (const command of COMMANDS) expect(stdout).toMatch(new RegExp(`^  ${command}\\b`, 'm'));
  });

  it('lists the subcommands and flags of each group', async () => {
    const expected: Record<string, string[]> = {
      tasks: ['list', 'get', 'cancel', 'retry'],
      dead: ['list', 'retry', 'purge'],
      queues: ['list', 'pause', 'resume'],
      schedules: ['list', 'add', 'rm'],
    };
    const helps = await Promise.all(Object.keys(expected).map((group) => runCli([group, '--help'], { cwd })));
    Object.values(expected).forEach((subcommands, i) => {
      expect(helps[i]!.code).toBe(0);
      for (const sub of subcommands) expect(helps[i]!.stdout).toMatch(new RegExp(`^  ${sub}\\b`, 'm'));
    });
    const [start, worker, submit] = await Promise.all([runCli(['start', '--help'], { cwd }), runCli(['worker', '--help'], { cwd }), runCli(['submit', '--help'], { cwd })]);
    for (const flag of ['--store', '--port', '--host', '--handlers', '--concurrency', '--config', '--queues']) expect(start.stdout).toContain(flag);
    for (const flag of ['--handlers', '--queues', '--concurrency', '--steal', '--prefetch', '--sandbox', '--store']) expect(worker.stdout).toContain(flag);
    for (const flag of ['--queue', '--priority', '--delay', '--deadline', '--retries', '--depends-on', '--key', '--wait', '--json', '--server', '--store']) {
      expect(submit.stdout).toContain(flag);
    }
  });
});

describe('bad input', () => {
  it('a bad flag value stops start-up with a message naming the key', async () => {
    const { code, stderr } = await runCli(['start', '--store', `sqlite:${join(cwd, 'bad.db')}`, '--port', '0', '--concurrency', '5:2'], { cwd });
    expect(code).not.toBe(0);
    expect(stderr).toMatch(/^error: .*concurrency.*--concurrency.*"5:2"/m);
    expect(stderr).toContain('CONVEYOR_CONFIG_INVALID');
  });

  it('a bad environment value names the variable', async () => {
    const { code, stderr } = await runCli(['worker', '--store', `sqlite:${join(cwd, 'bad.db')}`], { cwd, env: { CONVEYOR_PORT: 'eighty' } });
    expect(code).toBe(1);
    expect(stderr).toMatch(/port.*CONVEYOR_PORT/);
  });

  it('an unknown command or a missing argument exits non-zero', async () => {
    const [unknown, missing] = await Promise.all([runCli(['frobnicate'], { cwd }), runCli(['submit'], { cwd })]);
    expect(unknown.code).not.toBe(0);
    expect(unknown.stderr).toMatch(/unknown command/);
    expect(missing.code).not.toBe(0);
    expect(missing.stderr).toMatch(/missing required argument 'type'/);
  });

  it('a ConveyorError prints "error: <message> (<code>)" and exits 1', async () => {
    const store = `sqlite:${join(cwd, 'errors.db')}`;
    const [badJson, badId] = await Promise.all([
      runCli(['submit', 'x', '{not json', '--store', store], { cwd }),
      runCli(['tasks', 'get', 'nope', '--store', store], { cwd }),
    ]);
    expect(badJson.code).toBe(1);
    expect(badJson.stderr).toMatch(/^error: payload is not valid JSON.*\(CONVEYOR_VALIDATION\)$/m);
    expect(badId.code).toBe(1);
    expect(badId.stderr).toMatch(/^error: invalid task id.*\(CONVEYOR_VALIDATION\)$/m);
  });
});
