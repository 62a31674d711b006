export interface EventuallyOptions {
  timeoutMs?: number;
  intervalMs?: number;
}

/**
 * Retries `fn` (usually a block of assertions) until it stops throwing, and returns its result.
 * On timeout it throws the last failure, so the report shows the assertion that never held.
 */
export async function eventually<T>(fn: () => T | Promise<T>, { timeoutMs = 5_000, intervalMs = 25 }: EventuallyOptions = {}): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await fn();
    } catch (err) {
      if (Date.now() >= deadline) throw err;
    }
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}
