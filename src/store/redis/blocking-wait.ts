import type { Redis } from 'ioredis';

const UNBLOCK_RETRY_MS = 20;

interface Blocker {
  connection: Redis;
  clientId: number;
}

/**
 * Idle workers block in Redis instead of polling: `BZPOPMIN` on the marker keys of their queues,
 * on a connection of their own (a blocked connection can carry nothing else). Writes that make work
 * available set the marker's score to the time it is due (0 = now), which wakes one waiter; a claim
 * that leaves work behind sets it again, passing the wake-up on.
 *
 * Connections are pooled: concurrent waits each take one, and an abort unblocks its wait at once
 * with `CLIENT UNBLOCK` sent on the main connection, so the connection stays usable.
 *
 * Redis Cluster note: BZPOPMIN over several queues' markers spans slots; a cluster deployment needs
 * one wait per queue (to be done with cluster support).
 */
export class BlockingWaiter {
  readonly #main: Redis;
  readonly #idle: Blocker[] = [];
  readonly #all = new Set<Blocker>();
  #closed = false;

  readonly #onError: (err: Error) => void;

  constructor(main: Redis, onError: (err: Error) => void) {
    this.#main = main;
    this.#onError = onError;
  }

  async wait(markerKeys: string[], timeoutMs: number, signal?: AbortSignal): Promise<void> {
    if (this.#closed || signal?.aborted || markerKeys.length === 0 || timeoutMs <= 0) return;
    const blocker = await this.#take();
    let waiting = true;
    // The abort may land before BZPOPMIN reaches the server (they travel on different connections):
    // CLIENT UNBLOCK answers 0 then, so try again shortly while the wait is still on.
    const unblock = (): void => {
      if (!waiting) return;
      this.#main
        .client('UNBLOCK', blocker.clientId)
        .then((unblocked) => {
          if (Number(unblocked) === 0 && waiting) setTimeout(unblock, UNBLOCK_RETRY_MS).unref();
        })
        .catch(() => undefined);
    };
    signal?.addEventListener('abort', unblock, { once: true });
    const until = Date.now() + timeoutMs;
    // Future markers taken off while waiting: kept out of Redis until the wait ends, so that we do
    // not pop them again at once, then given back for the other waiters unless we act on them.
    const held = new Map<string, number>();
    try {
      while (!signal?.aborted) {
        const wakeAt = Math.min(until, ...held.values());
        const remaining = wakeAt - Date.now();
        if (remaining <= 0) break;
        // Redis takes fractional seconds; 0 would mean "forever".
        const reply = await blocker.connection.bzpopmin(...markerKeys, Math.max(remaining, 10) / 1000);
        if (!reply) continue;
        const score = Number(reply[2]);
        if (score <= Date.now()) break;
        held.set(reply[0], Math.min(score, held.get(reply[0]) ?? Infinity));
      }
    } catch {
      // A connection error is the caller's cue to try a claim; its own error handling backs off.
    } finally {
      waiting = false;
      signal?.removeEventListener('abort', unblock);
      const now = Date.now();
      for (const [key, score] of held) if (score > now) await this.#restore(key, score);
      this.#give(blocker);
    }
  }

  async close(): Promise<void> {
    this.#closed = true;
    for (const blocker of this.#all) blocker.connection.disconnect();
    this.#all.clear();
    this.#idle.length = 0;
  }

  /** A future marker we took but will not act on goes back for the other waiters. */
  async #restore(key: string, score: number): Promise<void> {
    await this.#main.zadd(key, 'LT', score, 'next').catch(() => undefined);
  }

  async #take(): Promise<Blocker> {
    const idle = this.#idle.pop();
    if (idle) return idle;
    const connection = this.#main.duplicate();
    connection.on('error', this.#onError);
    const blocker: Blocker = { connection, clientId: -1 };
    // The id changes when ioredis reconnects; CLIENT UNBLOCK needs the current one.
    const refresh = async (): Promise<void> => {
      blocker.clientId = Number(await connection.client('ID'));
    };
    connection.on('ready', () => void refresh().catch(() => undefined));
    await refresh();
    this.#all.add(blocker);
    return blocker;
  }

  #give(blocker: Blocker): void {
    if (this.#closed) blocker.connection.disconnect();
    else this.#idle.push(blocker);
  }
}
