/**
 * HTTP load with autocannon's programmatic API: POST one JSON body over and over on N
 * connections for a while, after an unmeasured warm-up (the server's first requests run cold
 * code), and report the 2xx responses per second.
 */
import autocannon from 'autocannon';

export interface LoadOptions {
  url: string;
  body: string;
  connections: number;
  seconds: number;
  warmupSeconds: number;
}

export interface LoadResult {
  /** 2xx responses per second of the measured part. */
  okPerSecond: number;
  non2xx: number;
  errors: number;
}

function fire(options: LoadOptions, seconds: number): Promise<autocannon.Result> {
  return autocannon({
    url: options.url,
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: options.body,
    connections: options.connections,
    duration: seconds,
  });
}

export async function postLoad(options: LoadOptions): Promise<LoadResult> {
  if (options.warmupSeconds > 0) await fire(options, options.warmupSeconds);
  const result = await fire(options, options.seconds);
  const ok = result['2xx'];
  if (ok === 0) throw new Error(`POST ${options.url}: no 2xx response (${result.non2xx} non-2xx, ${result.errors} errors)`);
  return { okPerSecond: ok / result.duration, non2xx: result.non2xx, errors: result.errors };
}
