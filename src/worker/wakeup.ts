/**
 * A coalescing wake-up: any number of `notify()` calls between two waits count as one, and a
 * notify that comes before the wait is not lost (River's fetch limiter, in small).
 *
 * The claim loop waits once per claim with the same signal: the abort listener is added to a
 * signal once and kept while waits use that signal (adding and removing an EventTarget listener
 * per wait cost more than the rest of a claim cycle at concurrency 1).
 */
export class Wakeup {
  #pending = false;
  #resolve: (() => void) | undefined;
  #signal: AbortSignal | undefined;
  readonly #onAbort = (): void => {
    this.#wake();
  };

  notify(): void {
    if (!this.#wake()) this.#pending = true;
  }

  /** Resolves on the next notify (or at once if one came since the last wait), or on abort. */
  wait(signal?: AbortSignal): Promise<void> {
    if (this.#pending || signal?.aborted) {
      this.#pending = false;
      return Promise.resolve();
    }
    this.#listenTo(signal);
    // A second waiter replaces the first, which is released: one waiter at a time.
    this.#wake();
    return new Promise((resolve) => {
      this.#resolve = resolve;
    });
  }

  /** Releases the waiter, if any; says whether there was one. */
  #wake(): boolean {
    const resolve = this.#resolve;
    if (resolve === undefined) return false;
    this.#resolve = undefined;
    resolve();
    return true;
  }

  #listenTo(signal: AbortSignal | undefined): void {
    if (signal === this.#signal) return;
    this.#signal?.removeEventListener('abort', this.#onAbort);
    this.#signal = signal;
    signal?.addEventListener('abort', this.#onAbort, { once: true });
  }
}
