/**
 * The conversation between the bench and a worker child process (bench/workers/*-worker.ts),
 * over Node's IPC channel:
 *
 *   child: connects to the store, builds its worker (not running) → { ready }
 *   parent: { go }  (the parent starts its clock here)  → child starts the worker → { started }
 *   parent: { stop } (once the store says every task completed) → child stops → { stopped, samples }
 *
 * so that process start-up, tsx compiling the sources and connecting are never timed. A child
 * exits as soon as its IPC channel closes: a bench that dies, however it dies, leaves no worker.
 *
 * This module also holds the child's side (`serveWorker`), shared by both workers.
 */

export interface WorkerConfig {
  /** Conveyor: `redis://…` or `sqlite:/path`; BullMQ: `redis://…`. */
  store: string;
  queue: string;
  concurrency: number;
  /** `noop`: the handler does nothing; `latency`: it records when it started against the submit time in the payload. */
  mode: 'noop' | 'latency';
}

export type ParentMessage = { type: 'go' } | { type: 'stop' };

export type ChildMessage =
  | { type: 'ready' }
  | { type: 'started' }
  /** `samples`: flat pairs [submitTime, startMinusSubmit, …] in ms, latency mode only. */
  | { type: 'stopped'; samples: number[] };

/** The payload of a latency task carries its submit time on the shared wall clock, in ms. */
export interface LatencyPayload {
  t: number;
}

/** Milliseconds since the epoch with sub-millisecond precision, comparable across processes. */
export function wallClockMs(): number {
  return performance.timeOrigin + performance.now();
}

/** What a worker child builds: a worker that is ready to start, and how to stop it. */
export interface ChildWorker {
  start(): Promise<void>;
  stop(): Promise<void>;
}

/**
 * A handler body for both systems: nothing in `noop` mode; in `latency` mode, the time from submit
 * to handler start, kept in the process until the end (sending each sample would load the very
 * event loop being measured).
 */
export function createRecorder(mode: WorkerConfig['mode']): { onTask(payload: unknown): void; samples: number[] } {
  const samples: number[] = [];
  if (mode === 'noop') return { onTask: () => undefined, samples };
  return {
    samples,
    onTask: (payload) => {
      const now = wallClockMs();
      const t = (payload as LatencyPayload | null)?.t;
      if (typeof t === 'number') samples.push(t, now - t);
    },
  };
}

function send(message: ChildMessage): Promise<void> {
  return new Promise((resolve, reject) => {
    process.send!(message, undefined, {}, (err) => (err ? reject(err) : resolve()));
  });
}

function fail(err: unknown): never {
  process.stderr.write(`bench worker ${process.pid}: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
}

/** The child's side: reads its config from argv[2], builds the worker, then follows the parent. */
export function serveWorker(build: (config: WorkerConfig, recorder: ReturnType<typeof createRecorder>) => Promise<ChildWorker>): void {
  process.on('uncaughtException', fail);
  process.on('unhandledRejection', fail);
  if (process.send === undefined) fail(new Error('must be started by bench/run.ts, with an IPC channel'));
  // The parent is gone (or done with us): nothing left to do.
  process.on('disconnect', () => process.exit(2));
  const raw = process.argv[2];
  if (raw === undefined) fail(new Error("usage: node --import tsx bench/workers/<system>-worker.ts '<WorkerConfig as JSON>'"));
  const config = JSON.parse(raw) as WorkerConfig;
  const recorder = createRecorder(config.mode);

  void (async () => {
    const worker = await build(config, recorder);
    process.on('message', (message: ParentMessage) => {
      if (message.type === 'go') {
        void worker.start().then(() => send({ type: 'started' }), fail);
      } else if (message.type === 'stop') {
        void (async () => {
          await worker.stop();
          await send({ type: 'stopped', samples: recorder.samples });
          process.exit(0);
        })().catch(fail);
      }
    });
    await send({ type: 'ready' });
  })().catch(fail);
}
