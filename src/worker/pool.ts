import type { ConcurrencyRange } from './concurrency.js';

/** How long the pool must stay under its size before it shrinks. */
export const POOL_SCALE_DOWN_IDLE_MS = 30_000;

/**
 * The worker's slots. With a fixed concurrency its size never changes. With `min:max` it grows by
 * a quarter (at least one slot) each time a claim comes back full while every slot is busy, that
 * is while tasks wait, up to `max`; and after `scaleDownIdleMs` in which fewer slots than its size
 * were ever busy at once, it shrinks to that peak (never below `min`). The shrink timer only runs
 * while the pool is above `min`, so a steady pool holds no timer.
 */
export class Pool {
  readonly min: number;
  readonly max: number;
  #size: number;
  #busy = 0;
  #peak = 0;
  #shrinkTimer: NodeJS.Timeout | undefined;
  readonly #scaleDownIdleMs: number;
  readonly #onResize: (size: number) => void;

  constructor(range: ConcurrencyRange, options: { scaleDownIdleMs?: number; onResize?: (size: number) => void } = {}) {
    this.min = range.min;
    this.max = range.max;
    this.#size = range.min;
    this.#scaleDownIdleMs = options.scaleDownIdleMs ?? POOL_SCALE_DOWN_IDLE_MS;
    this.#onResize = options.onResize ?? (() => undefined);
  }

  get size(): number {
    return this.#size;
  }

  get busy(): number {
    return this.#busy;
  }

  get free(): number {
    return Math.max(0, this.#size - this.#busy);
  }

  acquire(): void {
    this.#busy += 1;
    this.#peak = Math.max(this.#peak, this.#busy);
  }

  release(): void {
    this.#busy = Math.max(0, this.#busy - 1);
  }

  /** A claim came back full with every slot busy: tasks are waiting. */
  grow(): void {
    if (this.#size >= this.max) return;
    this.#resize(Math.min(this.max, this.#size + Math.max(1, Math.floor(this.#size / 4))));
    this.#armShrink();
  }

  stop(): void {
    clearTimeout(this.#shrinkTimer);
    this.#shrinkTimer = undefined;
  }

  #armShrink(): void {
    if (this.#shrinkTimer || this.#size <= this.min) return;
    this.#peak = this.#busy;
    this.#shrinkTimer = setTimeout(() => {
      this.#shrinkTimer = undefined;
      if (this.#peak < this.#size) this.#resize(Math.max(this.min, this.#peak));
      this.#armShrink();
    }, this.#scaleDownIdleMs);
    this.#shrinkTimer.unref();
  }

  #resize(size: number): void {
    if (size === this.#size) return;
    this.#size = size;
    this.#onResize(size);
  }
}
