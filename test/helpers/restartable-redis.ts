/**
 * A private redis-server that a test can stop and start again, keeping its data: AOF on with an
 * fsync per write (`--appendonly yes --appendfsync always`), in a temporary directory of its own,
 * on one port chosen at the first start and kept across restarts (clients reconnect to the same
 * address). Like test/helpers/redis-server.ts, it only ever talks to a server it started.
 *
 *   const redis = await startRestartableRedis();
 *   await redis.stop();   // SIGTERM, waits for the exit (the AOF is on disk)
 *   await redis.start();  // same port, same directory: the data is back
 *   await redis.close();  // stops it and deletes the directory
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';

export interface RestartableRedis {
  readonly port: number;
  readonly url: string;
  readonly dir: string;
  /** True between a start and a stop. */
  running(): boolean;
  /** Starts it again (same port, same directory) and resolves once it answers PING. */
  start(): Promise<void>;
  /** SIGTERM (Redis shuts down cleanly, AOF flushed) and waits for the exit. */
  stop(): Promise<void>;
  /** Stops it if running and deletes its directory. */
  close(): Promise<void>;
}

const READY_TIMEOUT_MS = 15_000;
const STOP_TIMEOUT_MS = 10_000;
const FIRST_START_ATTEMPTS = 3;

export async function startRestartableRedis(): Promise<RestartableRedis> {
  const dir = mkdtempSync(join(tmpdir(), 'conveyor-redis-aof-'));
  let lastError: unknown;
  // Another process may take the probed port before redis-server binds it: try another one.
  for (let attempt = 1; attempt <= FIRST_START_ATTEMPTS; attempt++) {
    const server = new Server(await findFreePort(), dir);
    try {
      await server.start();
      return server;
    } catch (err) {
      lastError = err;
      await server.stop().catch(() => undefined);
    }
  }
  rmSync(dir, { recursive: true, force: true });
  throw new Error(`redis-server (AOF) did not start after ${FIRST_START_ATTEMPTS} attempts`, { cause: lastError });
}

class Server implements RestartableRedis {
  readonly port: number;
  readonly dir: string;
  #child: ChildProcess | undefined;
  #exited: Promise<void> | undefined;
  #output = '';
  readonly #killOnExit = (): void => {
    this.#child?.kill('SIGKILL');
    rmSync(this.dir, { recursive: true, force: true });
  };

  constructor(port: number, dir: string) {
    this.port = port;
    this.dir = dir;
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  running(): boolean {
    return this.#child !== undefined && this.#child.exitCode === null && this.#child.signalCode === null;
  }

  async start(): Promise<void> {
    if (this.running()) return;
    const child = spawn(
      'redis-server',
      [
        '--port', String(this.port),
        '--bind', '127.0.0.1',
        '--save', '',
        '--appendonly', 'yes',
        '--appendfsync', 'always',
        '--daemonize', 'no',
        '--dir', this.dir,
      ],
      { cwd: this.dir, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    this.#child = child;
    this.#output = '';
    child.stdout?.on('data', (chunk: Buffer) => (this.#output = (this.#output + chunk.toString()).slice(-8_000)));
    child.stderr?.on('data', (chunk: Buffer) => (this.#output = (this.#output + chunk.toString()).slice(-8_000)));
    this.#exited = new Promise((resolve) => child.once('exit', () => resolve()));
    process.once('exit', this.#killOnExit);
    try {
      await waitForPing(this.port, child, this.#exited);
    } catch (err) {
      throw new Error(`redis-server on port ${this.port} did not answer PING: ${String(err)}\n${this.#output}`);
    }
  }

  async stop(): Promise<void> {
    const child = this.#child;
    if (child === undefined) return;
    process.removeListener('exit', this.#killOnExit);
    if (this.running()) {
      child.kill('SIGTERM');
      const stopped = await Promise.race([this.#exited!.then(() => true), delay(STOP_TIMEOUT_MS).then(() => false)]);
      if (!stopped) {
        child.kill('SIGKILL');
        await this.#exited;
      }
    }
    this.#child = undefined;
  }

  async close(): Promise<void> {
    await this.stop();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** PING until PONG; while Redis loads its AOF it answers LOADING, which counts as not ready. */
async function waitForPing(port: number, child: ChildProcess, exited: Promise<void>): Promise<void> {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  let lastError: unknown;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`redis-server exited with code ${child.exitCode}`);
    const client = new Redis({ host: '127.0.0.1', port, lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
    client.on('error', () => undefined);
    try {
      await client.connect();
      if ((await client.ping()) === 'PONG') return;
    } catch (err) {
      lastError = err;
    } finally {
      client.disconnect();
    }
    await Promise.race([delay(50), exited]);
  }
  throw new Error(`timed out after ${READY_TIMEOUT_MS} ms`, { cause: lastError });
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
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
