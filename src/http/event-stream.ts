/**
 * `GET /api/v1/events`: the store's task events as Server-Sent Events.
 *
 * Each connection reads the store's feed itself from its own position, so a client that
 * reconnects with `Last-Event-ID` (browsers' EventSource does it by itself) resumes exactly after
 * the last event it received, on any server of the cluster: every event's SSE `id` is a full feed
 * position. The stream opens with a `ready` event whose `id` is the starting position, so a client
 * that drops before any task event still resumes from where it first connected, not from "now".
 *
 * Framing: `id: <position>`, `event: <task:completed…>`, `data: <the TaskEvent as JSON>`. A comment
 * line every `heartbeatMs` of silence keeps proxies from closing an idle stream. A slow client is
 * not read ahead of: the loop waits for the socket to drain. Store errors are retried with backoff
 * while the connection stays open; the client sees nothing but a pause.
 */
import type { FastifyReply } from 'fastify';
import { followEvents } from '../events/follow.js';
import type { Logger } from '../logger.js';
import type { ReadEventsParams, Store } from '../store/store.js';
import type { TaskEvent } from '../types.js';

/** Events per store read. */
const READ_LIMIT = 500;
export const DEFAULT_HEARTBEAT_MS = 15_000;
/** How long a browser waits before reconnecting (the SSE `retry` field). */
const RECONNECT_MS = 2_000;

export interface EventStreamOptions {
  store: Store;
  filter: Pick<ReadEventsParams, 'queues' | 'names' | 'types'>;
  /** Where to start: a position, or null for now. Already checked by a first read (`first`). */
  first: { events: TaskEvent[]; cursor: string; startedAt: string };
  /** Ends the stream: the client went away, or the server is closing. */
  signal: AbortSignal;
  heartbeatMs?: number;
  logger: Logger;
}

/** One SSE message. `data` is one line: JSON has no raw newlines. */
export function sseMessage(event: TaskEvent): string {
  return `id: ${event.id}\nevent: ${event.name}\ndata: ${JSON.stringify(event)}\n\n`;
}

/** Writes the stream onto a hijacked reply until `signal` aborts; then ends the response. */
export async function streamEvents(reply: FastifyReply, options: EventStreamOptions): Promise<void> {
  const { store, filter, signal, logger } = options;
  const heartbeatMs = options.heartbeatMs ?? DEFAULT_HEARTBEAT_MS;
  const res = reply.raw;
  res.writeHead(200, {
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-cache, no-transform',
    connection: 'keep-alive',
    // nginx buffers responses unless told not to.
    'x-accel-buffering': 'no',
  });

  const write = async (chunk: string): Promise<void> => {
    if (res.write(chunk)) return;
    await new Promise<void>((resolve) => {
      const done = (): void => {
        res.off('drain', done);
        signal.removeEventListener('abort', done);
        resolve();
      };
      res.once('drain', done);
      signal.addEventListener('abort', done, { once: true });
    });
  };

  try {
    await write(`retry: ${RECONNECT_MS}\nid: ${options.first.startedAt}\nevent: ready\ndata: {}\n\n`);
    if (options.first.events.length > 0) await write(options.first.events.map(sseMessage).join(''));
    await followEvents(
      { store, after: options.first.cursor, read: { ...filter, limit: READ_LIMIT }, blockMs: heartbeatMs, signal, logger, what: 'event stream' },
      async ({ events, cursor }, after) => {
        // An empty read after a filtered stretch still moved on: say so, so a reconnect skips it.
        if (events.length > 0) await write(events.map(sseMessage).join(''));
        else if (cursor !== after) await write(`id: ${cursor}\n: keepalive\n\n`);
        else await write(': keepalive\n\n');
        return heartbeatMs;
      },
    );
  } finally {
    res.end();
  }
}
