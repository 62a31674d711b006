/**
 * Rejects with the signal's reason as soon as `signal` aborts, else settles as `promise` does: for
 * awaiting a call that takes no signal of its own (a DNS lookup, a store call that may hang). The
 * call itself goes on; its result is dropped.
 */
export function rejectOnAbort<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) {
    promise.catch(() => undefined);
    return Promise.reject(signal.reason as Error);
  }
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(signal.reason as Error);
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (err: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(err as Error);
      },
    );
  });
}

/** Like rejectOnAbort, but an abort resolves `undefined`: a loop that must stop, not fail. */
export async function unlessAborted<T>(promise: Promise<T>, signal: AbortSignal): Promise<T | undefined> {
  try {
    return await rejectOnAbort(promise, signal);
  } catch (err) {
    if (signal.aborted) return undefined;
    throw err;
  }
}
