#!/usr/bin/env node
/**
 * Makes sure `redis-server` is installed before the tests run (`npm test` runs this first).
 *
 * - On the PATH already: exit 0, silently.
 * - Else, where apt-get exists and we are root (or sudo works without a password): apt-get update,
 *   apt-get install -y redis-server, then check `redis-server --version`.
 * - Else: print the command to run and exit 1.
 *
 * It never starts or stops a Redis: the test harness starts its own on a free port. Debian may start
 * a system redis service when the package is installed; that one is left alone.
 */
import { spawnSync } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';
import process from 'node:process';

const say = (line) => process.stderr.write(`${line}\n`);

function onPath(command) {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (dir === '') continue;
    try {
      accessSync(join(dir, command), constants.X_OK);
      return true;
    } catch {
      // not in this directory
    }
  }
  return false;
}

function run(argv, options = {}) {
  const [command, ...args] = argv;
  const result = spawnSync(command, args, { stdio: 'inherit', ...options });
  if (result.error) throw result.error;
  return result.status ?? 1;
}

const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;

function printInstructions(reason) {
  const command =
    process.platform === 'darwin'
      ? 'brew install redis'
      : onPath('apt-get')
        ? `${isRoot ? '' : 'sudo '}apt-get install -y redis-server`
        : 'install redis-server with your package manager (Debian/Ubuntu: sudo apt-get install -y redis-server; macOS: brew install redis)';
  say(
    [
      `redis-server is not on the PATH, and the tests need it (they start their own on a free port). ${reason}`,
      'Install it, then run `npm test` again:',
      '',
      `    ${command}`,
      '',
    ].join('\n'),
  );
}

if (onPath('redis-server')) process.exit(0);

if (process.platform !== 'linux' || !onPath('apt-get')) {
  printInstructions('This script installs it only with apt-get.');
  process.exit(1);
}

const sudoWorks = !isRoot && onPath('sudo') && spawnSync('sudo', ['-n', 'true'], { stdio: 'ignore' }).status === 0;
if (!isRoot && !sudoWorks) {
  printInstructions(onPath('sudo') ? 'Installing it needs root, and sudo asks for a password.' : 'Installing it needs root.');
  process.exit(1);
}

// sudo drops most of the environment, so DEBIAN_FRONTEND goes through `env`.
const prefix = isRoot ? [] : ['sudo', '-n'];
const apt = (...args) => [...prefix, 'env', 'DEBIAN_FRONTEND=noninteractive', 'apt-get', ...args];
const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };

say('redis-server is not on the PATH; installing it with apt-get (the tests start their own server)…');
if (run(apt('update'), { env }) !== 0) {
  printInstructions('`apt-get update` failed.');
  process.exit(1);
}
if (run(apt('install', '-y', 'redis-server'), { env }) !== 0) {
  printInstructions('`apt-get install -y redis-server` failed.');
  process.exit(1);
}

// Debian puts it in /usr/bin; check through the PATH the tests will use.
const version = spawnSync('redis-server', ['--version'], { encoding: 'utf8' });
if (version.error || version.status !== 0) {
  printInstructions('It was installed, but `redis-server --version` does not run from this PATH.');
  process.exit(1);
}
say(`installed: ${version.stdout.trim()}`);
