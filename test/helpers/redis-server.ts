/**
 * Starts a private `redis-server` for the tests: a free port on 127.0.0.1, no persistence, a fresh
 * temporary working directory. The tests only ever talk to a server started here, so they can
 * never touch anyone else's data.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { Redis } from 'ioredis';

export interface RedisServer {
  port: number;
  url: string;
  stop(): Promise<void>;
}

export const REDIS_INSTALL_COMMAND = 'apt-get install -y redis-server';

const READY_TIMEOUT_MS = 10_000;
/** Another process may grab the free port between our probe and redis-server binding it. */
const START_ATTEMPTS = 3;

export async function startRedisServer(): Promise<RedisServer> {
  if (!isOnPath('redis-server')) {
    throw new Error(
      `redis-server is not on the PATH, and the tests start their own Redis server. Install it with: ${REDIS_INSTALL_COMMAND}`,
    );
  }
  let lastError: unknown;
  for (let attempt = 1; attempt <= START_ATTEMPTS; attempt++) {
    try {
      return await startOnce(await findFreePort());
    } catch (err) {
      lastError = err;
    }
  }
  throw new Error(`redis-server did not start after ${START_ATTEMPTS} attempts`, { cause: lastError });
}

async function startOnce(port: number): Promise<RedisServer> {
  const dir = mkdtempSync(join(tmpdir(), 'conveyor-redis-'));
  const child = spawn(
    'redis-server',
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--daemonize', 'no', '--dir', dir],
    { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  // Never leave an orphan server (or its folder) behind, even when the run exits without stop().
  const killOnExit = (): void => {
    child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  };
  process.once('exit', killOnExit);

  const stop = async (): Promise<void> => {
    process.removeListener('exit', killOnExit);
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      await exited;
    }
    rmSync(dir, { recursive: true, force: true });
  };

  try {
    await waitForPing(port, child, exited);
  } catch (err) {
    await stop();
    throw new Error(`redis-server on port ${port} did not answer PING: ${String(err)}\n${output}`);
  }
  return { port, url: `redis://127.0.0.1:${port}`, stop };
}

async function waitForPing(port: number, child: ChildProcess, exited: Promise<number | null>): Promise<void> {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  let lastError: unknown;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`redis-server exited with code ${child.exitCode}`);
    const client = new Redis({ host: '127.0.0.1', port, lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
    // A connection refused before redis-server listens is expected: swallow it and retry.
    client.on('error', () => undefined);
    try {
      await client.connect();
      if ((await client.ping()) === 'PONG') return;
    } catch (err) {
      lastError = err;
    } finally {
      client.disconnect();
    }
    await Promise.race([new Promise((resolve) => setTimeout(resolve, 50)), exited]);
  }
  throw new Error(`timed out after ${READY_TIMEOUT_MS} ms`, { cause: lastError });
}

/** Binds port 0 to let the OS pick a free port, then releases it for redis-server. */
function findFreePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      if (address === null || typeof address === 'string') {
        server.close();
        reject(new Error('could not read the probe server address'));
        return;
      }
      server.close(() => resolve(address.port));
    });
  });
}

function isOnPath(command: string): boolean {
  for (const dir of (process.env['PATH'] ?? '').split(delimiter)) {
    if (dir === '') continue;
    try {
      accessSync(join(dir, command), constants.X_OK);
      return true;
    } catch {
      // Not in this directory; keep looking.
    }
  }
  return false;
}

/**
 * Deletes every key that starts with `prefix`. Only for a server started by this module, where
 * each test's keys carry a prefix of their own.
 */
export async function deleteKeysWithPrefix(url: string, prefix: string): Promise<void> {
  const redis = new Redis(url, { maxRetriesPerRequest: 1 });
  try {
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
      if (keys.length > 0) await redis.del(...keys);
      cursor = next;
    } while (cursor !== '0');
  } finally {
    redis.disconnect();
  }
}
