/**
 * Child processes of the bench (worker processes, the Conveyor server, the bare Fastify server),
 * seen from the parent: spawned with an IPC channel (a child exits when it closes, so none
 * outlives the bench), their messages awaited by type, their stderr kept to explain a failure,
 * and each one killed by the run's cleanup whatever happens.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { Cleanup } from './cleanup.js';

export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** Starting a child means loading tsx and compiling the sources: slow on a loaded machine. */
export const READY_TIMEOUT_MS = 60_000;
/** How long a child gets to exit after SIGTERM before SIGKILL. */
const TERM_GRACE_MS = 10_000;
const STDERR_KEEP = 8_000;

const live = new Set<ChildProcess>();
// Last resort when the bench exits without its cleanup (an uncaught error): no orphans.
process.once('exit', () => {
  for (const child of live) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
});

export interface ChildExit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface Child {
  name: string;
  pid: number;
  exited: Promise<ChildExit>;
  alive(): boolean;
  /** Its stdout so far (when spawned with `stdout: 'pipe'`). */
  stdout(): string;
  /** The tail of its stderr. */
  stderr(): string;
  send(message: object): void;
  /** The first message with this `type` (already received or to come); rejects if the child exits first or after `timeoutMs`. */
  message<T extends { type: string }>(type: T['type'], timeoutMs?: number): Promise<T>;
  /** The first match of `pattern` in stdout; rejects if the child exits first or after `timeoutMs`. */
  stdoutMatch(pattern: RegExp, timeoutMs?: number): Promise<RegExpMatchArray>;
  /** SIGTERM, then SIGKILL after a grace; resolves once it exited. */
  terminate(): Promise<ChildExit>;
}

export interface SpawnOptions {
  /** Node arguments before the script (e.g. `--import tsx`). */
  execArgv: string[];
  script: string;
  args?: string[];
  env?: NodeJS.ProcessEnv;
  /** Default: the repository root (where `--import tsx` resolves tsx). */
  cwd?: string;
  stdout?: 'pipe' | 'ignore';
}

export function spawnChild(cleanup: Cleanup, name: string, options: SpawnOptions): Child {
  const child = spawn(process.execPath, [...options.execArgv, options.script, ...(options.args ?? [])], {
    cwd: options.cwd ?? REPO_ROOT,
    env: options.env ?? process.env,
    stdio: ['ignore', options.stdout ?? 'ignore', 'pipe', 'ipc'],
  });
  live.add(child);
  let stdout = '';
  let stderr = '';
  const listeners = new Set<() => void>();
  const messages: { type: string }[] = [];
  const notify = (): void => {
    for (const listener of [...listeners]) listener();
  };
  child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
    stdout += chunk;
    notify();
  });
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
    stderr = (stderr + chunk).slice(-STDERR_KEEP);
  });
  child.on('message', (message: { type: string }) => {
    messages.push(message);
    notify();
  });
  let exit: ChildExit | undefined;
  const exited = new Promise<ChildExit>((resolve) => {
    const settle = (how: ChildExit): void => {
      if (exit !== undefined) return;
      live.delete(child);
      exit = how;
      resolve(how);
      notify();
    };
    // Let the pipes drain before anyone reads stderr.
    child.once('exit', (code, signal) => setImmediate(() => settle({ code, signal })));
    child.once('error', (err) => {
      stderr += `\n${String(err)}`;
      // Spawning itself failed: no 'exit' follows.
      if (child.pid === undefined) settle({ code: null, signal: null });
    });
  });
  const alive = (): boolean => exit === undefined && child.exitCode === null && child.signalCode === null;
  const describe = (): string => `${name} (pid ${child.pid})${exit ? ` exited (${exit.code ?? exit.signal})` : ''}; stderr:\n${stderr.trim() || '(empty)'}`;

  /** Waits until `find` returns a value, the child exits, or the time runs out. */
  const waitUntil = <T>(what: string, find: () => T | undefined, timeoutMs: number): Promise<T> =>
    new Promise<T>((resolve, reject) => {
      const check = (): void => {
        const found = find();
        if (found !== undefined) {
          done();
          resolve(found);
        } else if (exit !== undefined) {
          done();
          reject(new Error(`waiting for ${what}, but ${describe()}`));
        }
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`no ${what} within ${timeoutMs} ms from ${describe()}`));
      }, timeoutMs);
      const done = (): void => {
        clearTimeout(timer);
        listeners.delete(check);
      };
      listeners.add(check);
      check();
    });

  const terminate = async (): Promise<ChildExit> => {
    if (alive()) {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), TERM_GRACE_MS);
      const how = await exited;
      clearTimeout(timer);
      return how;
    }
    return exited;
  };
  // Whatever else happens, the run's cleanup ends the child.
  const unregister = cleanup.add(`child ${name}`, async () => {
    if (alive()) child.kill('SIGKILL');
    await exited;
  });
  void exited.then(() => unregister());

  return {
    name,
    pid: child.pid ?? -1,
    exited,
    alive,
    stdout: () => stdout,
    stderr: () => stderr,
    send: (message) => {
      if (!alive() || !child.connected) throw new Error(`cannot send to ${describe()}`);
      child.send(message);
    },
    message: <T extends { type: string }>(type: T['type'], timeoutMs = READY_TIMEOUT_MS) =>
      waitUntil(`message ${JSON.stringify(type)}`, () => messages.find((m) => m.type === type) as T | undefined, timeoutMs),
    stdoutMatch: (pattern, timeoutMs = READY_TIMEOUT_MS) => waitUntil(`${pattern} on stdout`, () => pattern.exec(stdout) ?? undefined, timeoutMs),
    terminate,
  };
}
