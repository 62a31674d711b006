import { useCallback, useEffect, useRef, useState } from 'preact/hooks';

export interface Loaded<T> {
  data: T | undefined;
  error: string | undefined;
  reload: () => void;
}

/** Loads with `fn` when `deps` change; `reload()` loads again (kept data shows meanwhile). */
export function useLoad<T>(fn: () => Promise<T>, deps: unknown[]): Loaded<T> {
  const [data, setData] = useState<T | undefined>(undefined);
  const [error, setError] = useState<string | undefined>(undefined);
  const [tick, setTick] = useState(0);
  const fnRef = useRef(fn);
  fnRef.current = fn;
  useEffect(() => {
    let live = true;
    fnRef.current().then(
      (value) => {
        if (!live) return;
        setData(value);
        setError(undefined);
      },
      (err: unknown) => {
        if (live) setError((err as Error).message);
      },
    );
    return () => {
      live = false;
    };
  }, [...deps, tick]);
  const reload = useCallback(() => setTick((n) => n + 1), []);
  return { data, error, reload };
}

/** Calls `fn` at most once per `ms`, trailing. */
export function throttle(fn: () => void, ms: number): () => void {
  let timer: ReturnType<typeof setTimeout> | undefined;
  return () => {
    if (timer !== undefined) return;
    timer = setTimeout(() => {
      timer = undefined;
      fn();
    }, ms);
  };
}

/** The location hash as a path and its query: `#/tasks?state=dead` → ['/tasks', {state: 'dead'}]. */
export function useHash(): [string, URLSearchParams] {
  const read = (): string => location.hash.replace(/^#/, '') || '/';
  const [hash, setHash] = useState(read);
  useEffect(() => {
    const on = (): void => setHash(read());
    addEventListener('hashchange', on);
    on(); // the hash may have changed between the first render and this effect
    return () => removeEventListener('hashchange', on);
  }, []);
  const [path, q = ''] = hash.split('?', 2) as [string, string?];
  return [path, new URLSearchParams(q)];
}
