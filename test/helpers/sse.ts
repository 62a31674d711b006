/**
 * A Server-Sent Events client for tests: `fetch` with a streamed body, parsed per the WHATWG
 * framing (fields `id`, `event`, `data`, comments starting with `:`), so tests see exactly what a
 * browser's EventSource would, including the last event id it would send back on reconnect.
 */

export interface SseMessage {
  id: string | null;
  event: string;
  data: string;
}

export interface SseStream {
  status: number;
  /** The id a browser would send as Last-Event-ID now (updated by id-only blocks too). */
  readonly lastEventId: string | null;
  /** The next message (comments skipped); rejects after `timeoutMs`. */
  next(timeoutMs?: number): Promise<SseMessage>;
  /** The next `n` messages. */
  take(n: number, timeoutMs?: number): Promise<SseMessage[]>;
  close(): void;
}

export async function openSse(url: string, headers: Record<string, string> = {}): Promise<SseStream> {
  const controller = new AbortController();
  const res = await fetch(url, { headers: { accept: 'text/event-stream', ...headers }, signal: controller.signal });
  if (!res.body) throw new Error('no body');
  const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
  const queue: SseMessage[] = [];
  let waiting = null as (() => void) | null;
  let ended: Error | null = null;
  let lastEventId: string | null = null;
  let buffer = '';
  let block: { id: string | null; event: string; data: string[] } = { id: null, event: '', data: [] };

  const dispatch = (): void => {
    if (block.id !== null) lastEventId = block.id;
    if (block.data.length > 0) queue.push({ id: block.id ?? lastEventId, event: block.event || 'message', data: block.data.join('\n') });
    block = { id: null, event: '', data: [] };
    waiting?.();
  };

  void (async () => {
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += value;
        let newline: number;
        while ((newline = buffer.indexOf('\n')) >= 0) {
          const line = buffer.slice(0, newline).replace(/\r$/, '');
          buffer = buffer.slice(newline + 1);
          if (line === '') {
            dispatch();
            continue;
          }
          if (line.startsWith(':')) continue;
          const colon = line.indexOf(':');
          const field = colon < 0 ? line : line.slice(0, colon);
          const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
          if (field === 'id') block.id = value;
          else if (field === 'event') block.event = value;
          else if (field === 'data') block.data.push(value);
        }
      }
      ended = new Error('the stream ended');
    } catch (err) {
      ended = err as Error;
    }
    waiting?.();
  })();

  const next = async (timeoutMs = 15_000): Promise<SseMessage> => {
    const until = Date.now() + timeoutMs;
    for (;;) {
      const message = queue.shift();
      if (message) return message;
      if (ended) throw ended;
      const left = until - Date.now();
      if (left <= 0) throw new Error(`no SSE message within ${timeoutMs} ms`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        waiting = () => {
          clearTimeout(timer);
          waiting = null;
          resolve();
        };
      });
    }
  };

  return {
    status: res.status,
    get lastEventId() {
      return lastEventId;
    },
    next,
    async take(n, timeoutMs) {
      const out: SseMessage[] = [];
      while (out.length < n) out.push(await next(timeoutMs));
      return out;
    },
    close() {
      controller.abort();
    },
  };
}
