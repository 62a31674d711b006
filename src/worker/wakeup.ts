/**
 * A coalescing wake-up: any number of `notify()` calls between two waits count as one, and a
 * notify that comes before the wait is not lost (River's fetch limiter, in small).
 */
export class Wakeup {
  #pending = false;
  #resolve: (() => void) | undefined;

  notify(): void {
    if (this.#resolve) {
      const resolve = this.#resolve;
      this.#resolve = undefined;
      resolve();
    } else {
      this.#pending = true;
    }
  }

  /** Resolves on the next notify (or at once if one came since the last wait), or on abort. */
  wait(signal?: AbortSignal): Promise<void> {
    if (this.#pending || signal?.aborted) {
      this.#pending = false;
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      const done = (): void => {
        signal?.removeEventListener('abort', done);
        this.#resolve = undefined;
        resolve();
      };
      this.#resolve = done;
      signal?.addEventListener('abort', done, { once: true });
    });
  }
}
