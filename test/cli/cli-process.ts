/**
 * Runs `node bin/conveyor.js …` for the CLI tests, from the TypeScript sources
 * (CONVEYOR_FROM_SOURCE=1: never a stale dist/), in a temporary working directory, with an
 * environment free of the caller's `CONVEYOR_*` and `REDIS_URL`. Long-running children are
 * SIGKILLed by `killAll()` (call it in afterAll/afterEach) and when the test process exits.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const BIN = fileURLToPath(new URL('../../bin/conveyor.js', import.meta.url));
export const EXAMPLE_HANDLERS = fileURLToPath(new URL('../../examples/handlers.js', import.meta.url));

export function cliEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [name, value] of Object.entries(process.env)) {
    if (!name.startsWith('CONVEYOR_') && name !== 'REDIS_URL') env[name] = value;
  }
  return { ...env, CONVEYOR_FROM_SOURCE: '1', CONVEYOR_LOG__LEVEL: 'warn', ...extra };
}

export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

const live = new Set<ChildProcessWithoutNullStreams>();

process.once('exit', () => {
  for (const child of live) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
});

export async function killAll(): Promise<void> {
  await Promise.all(
    [...live].map(
      (child) =>
        new Promise<void>((resolve) => {
          if (child.exitCode !== null || child.signalCode !== null) return resolve();
          child.once('exit', () => resolve());
          child.kill('SIGKILL');
        }),
    ),
  );
  live.clear();
}

export interface CliProcess {
  child: ChildProcessWithoutNullStreams;
  stdout(): string;
  stderr(): string;
  /** Resolves with the first match of `pattern` in stdout; rejects if the process exits first or after `timeoutMs`. */
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<RegExpMatchArray>;
  exit: Promise<CliResult>;
}

export function spawnCli(args: string[], options: { cwd: string; env?: Record<string, string> }): CliProcess {
  const child = spawn(process.execPath, [BIN, ...args], { cwd: options.cwd, env: cliEnv(options.env), stdio: ['pipe', 'pipe', 'pipe'] });
  live.add(child);
  let stdout = '';
  let stderr = '';
  const waiters = new Set<() => void>();
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    stdout += chunk;
    for (const check of waiters) check();
  });
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
    stderr += chunk;
  });
  const exit = new Promise<CliResult>((resolve) => {
    child.once('exit', (code, signal) => {
      live.delete(child);
      // Let the pipes drain before reporting.
      setImmediate(() => {
        resolve({ code, signal, stdout, stderr });
        for (const check of waiters) check();
      });
    });
  });
  const exited = (): boolean => child.exitCode !== null || child.signalCode !== null;
  return {
    child,
    stdout: () => stdout,
    stderr: () => stderr,
    exit,
    waitFor: (pattern, timeoutMs = 30_000) =>
      new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`no ${pattern} in the output of conveyor ${args.join(' ')} after ${timeoutMs}ms\nstdout: ${stdout}\nstderr: ${stderr}`));
        }, timeoutMs);
        const check = (): void => {
          const match = pattern.exec(stdout);
          if (match) {
            clearTimeout(timer);
            waiters.delete(check);
            resolve(match);
          } else if (exited()) {
            clearTimeout(timer);
            waiters.delete(check);
            reject(new Error(`conveyor ${args.join(' ')} exited (${child.exitCode ?? child.signalCode}) before printing ${pattern}\nstdout: ${stdout}\nstderr: ${stderr}`));
          }
        };
        waiters.add(check);
        check();
      }),
  };
}

/** Runs a command to its end. */
export async function runCli(args: string[], options: { cwd: string; env?: Record<string, string>; timeoutMs?: number }): Promise<CliResult> {
  const proc = spawnCli(args, options);
  proc.child.stdin.end();
  const timer = setTimeout(() => proc.child.kill('SIGKILL'), options.timeoutMs ?? 30_000);
  try {
    return await proc.exit;
  } finally {
    clearTimeout(timer);
  }
}
