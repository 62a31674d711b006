/**
 * Notices commits made by other connections to the same file (other processes, mostly), which
 * cannot tell this one anything: `PRAGMA data_version` moves when another connection committed.
 *
 * One watch per store serves every kind of waiter (claims waiting for work, readers waiting for
 * events): it polls every `intervalMs` while at least one listener is subscribed, and not at all
 * otherwise, so an idle store runs no timer.
 */
export class DataVersionWatch {
  private readonly listeners = new Set<() => void>();
  private poll: NodeJS.Timeout | null = null;
  private lastVersion = 0;

  /**
   * `read` reads `PRAGMA data_version`; null when no other connection can write (`:memory:`):
   * then nothing is ever polled.
   */
  constructor(
    private readonly read: (() => number) | null,
    private readonly intervalMs: number,
  ) {}

  /**
   * Calls `onChange` after each poll that found another connection's commit. The reference version
   * is read before this returns (when it is the first listener), so a commit made after
   * `subscribe` returned is always reported. Returns the unsubscribe function.
   */
  subscribe(onChange: () => void): () => void {
    this.listeners.add(onChange);
    this.start();
    return () => {
      if (this.listeners.delete(onChange) && this.listeners.size === 0) this.stop();
    };
  }

  /** Stops polling and drops every listener. */
  close(): void {
    this.listeners.clear();
    this.stop();
  }

  private start(): void {
    const read = this.read;
    if (read === null || this.poll !== null) return;
    try {
      this.lastVersion = read();
    } catch {
      return;
    }
    this.poll = setInterval(() => this.check(read), this.intervalMs);
    // The waiters' own timers keep the process alive for as long as a wait lasts.
    this.poll.unref();
  }

  private stop(): void {
    if (this.poll === null) return;
    clearInterval(this.poll);
    this.poll = null;
  }

  private check(read: () => number): void {
    let version: number;
    try {
      version = read();
    } catch {
      return;
    }
    if (version === this.lastVersion) return;
    this.lastVersion = version;
    for (const listener of [...this.listeners]) listener();
  }
}
