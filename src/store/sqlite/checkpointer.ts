import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';

/**
 * WAL checkpoints on a thread of their own, so that the thread running the store's transactions
 * never waits for one.
 *
 * A checkpoint copies the pages committed to the WAL into the database file and syncs both files.
 * SQLite runs it inside the commit that pushed the WAL past `wal_autocheckpoint` pages, so that one
 * commit in every few dozen waited for the copy and two fsyncs: measured, a quarter of the time of
 * inserting tasks and an eighth of claiming and completing them. Here a second connection, on a
 * worker thread, runs a PASSIVE checkpoint (which never blocks the writer, nor waits for it) after
 * every few write transactions; the store's own connection keeps its automatic checkpoints, at a
 * larger threshold (`FALLBACK_AUTOCHECKPOINT_PAGES`), for when this thread falls behind or is gone.
 * What is durable when is unchanged: the checkpoints sync the same files, just from another thread,
 * and usually sooner.
 *
 * The thread starts after `START_AFTER_WRITES` write transactions, so that short-lived stores (tests,
 * the CLI) never start one; it holds no timer, only waits for messages, and never keeps the process
 * alive.
 */

/** The store's own connection checkpoints past this many WAL pages (16 MiB of 4 KiB pages). */
export const FALLBACK_AUTOCHECKPOINT_PAGES = 4000;
/** A checkpoint is asked for after this many write transactions… */
const WRITES_PER_CHECKPOINT = 8;
/** …and at most once per this many milliseconds (a checkpoint takes a few ms; asking is cheap). */
const MIN_INTERVAL_MS = 10;
const START_AFTER_WRITES = 64;

/** The thread's code: CommonJS, evaluated as is, so it needs neither a file of its own nor a loader. */
const THREAD_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const Database = require(workerData.driver);
let db = null;
parentPort.on('message', (message) => {
  if (message === 'close') {
    try {
      if (db !== null) db.close();
    } catch {}
    parentPort.close();
    return;
  }
  try {
    if (db === null) {
      db = new Database(workerData.path, { timeout: workerData.busyTimeoutMs });
      db.pragma('synchronous = NORMAL');
    }
    db.pragma('wal_checkpoint(PASSIVE)');
  } catch {
    // A checkpoint that fails (the file is busy, gone, closing) is left to the next one, and to the
    // store's own connection, which checkpoints past its threshold.
  }
});
`;

export class Checkpointer {
  private thread: Worker | null = null;
  private exited: Promise<void> | null = null;
  private writes = 0;
  private writesSinceAsked = 0;
  private lastAskedAt = 0;
  private closed = false;

  constructor(private readonly options: { path: string; busyTimeoutMs: number }) {}

  /** Called after each committed write transaction. */
  noteWrite(): void {
    if (this.closed) return;
    this.writes++;
    this.writesSinceAsked++;
    if (this.writesSinceAsked < WRITES_PER_CHECKPOINT || this.writes < START_AFTER_WRITES) return;
    const now = Date.now();
    if (now - this.lastAskedAt < MIN_INTERVAL_MS) return;
    this.lastAskedAt = now;
    this.writesSinceAsked = 0;
    this.start()?.postMessage('checkpoint');
  }

  /** Lets the thread finish what it is doing, close its connection and exit. */
  async close(): Promise<void> {
    this.closed = true;
    const thread = this.thread;
    if (thread === null) return;
    this.thread = null;
    thread.postMessage('close');
    await this.exited;
  }

  private start(): Worker | null {
    if (this.thread !== null) return this.thread;
    let thread: Worker;
    try {
      thread = new Worker(THREAD_SOURCE, {
        eval: true,
        // Plain Node: the thread runs only the code above, whatever loaders the process runs under.
        execArgv: [],
        workerData: {
          driver: createRequire(import.meta.url).resolve('better-sqlite3'),
          path: this.options.path,
          busyTimeoutMs: this.options.busyTimeoutMs,
        },
      });
    } catch {
      // No thread (resource limits): the store's connection checkpoints by itself.
      this.closed = true;
      return null;
    }
    thread.unref();
    this.exited = new Promise((resolve) => {
      thread.once('exit', () => {
        // Gone (closed, or failed to load): stop asking; the store's connection checkpoints by itself.
        if (this.thread === thread) this.thread = null;
        this.closed = true;
        resolve();
      });
    });
    // An error ends the thread ('exit' follows); the store does not depend on it.
    thread.on('error', () => {});
    this.thread = thread;
    return thread;
  }
}
