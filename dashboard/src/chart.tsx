/** Throughput over the last 15 minutes (completed and failed per second), drawn with uPlot. */
import { useEffect, useRef } from 'preact/hooks';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import type { TaskEvent } from './api.js';

export const WINDOW_S = 15 * 60;

/** Per-second counts of finished attempts, fed from task events. */
export class Throughput {
  readonly #buckets = new Map<number, [number, number]>();

  add(event: TaskEvent): void {
    const failed = event.name === 'task:failed' || event.name === 'task:dead';
    if (!failed && event.name !== 'task:completed') return;
    const second = Math.floor(event.at / 1000);
    if (second < Date.now() / 1000 - WINDOW_S) return;
    const bucket = this.#buckets.get(second) ?? [0, 0];
    bucket[failed ? 1 : 0] += 1;
    this.#buckets.set(second, bucket);
  }

  /** uPlot data: seconds, completed/s, failed/s over the window ending now. */
  series(): [number[], number[], number[]] {
    const now = Math.floor(Date.now() / 1000);
    const xs: number[] = [];
    const done: number[] = [];
    const failed: number[] = [];
    for (const s of this.#buckets.keys()) if (s <= now - WINDOW_S) this.#buckets.delete(s);
    for (let s = now - WINDOW_S + 1; s <= now; s++) {
      const b = this.#buckets.get(s);
      xs.push(s);
      done.push(b?.[0] ?? 0);
      failed.push(b?.[1] ?? 0);
    }
    return [xs, done, failed];
  }

  totals(): { completed: number; failed: number } {
    let completed = 0;
    let failed = 0;
    for (const [c, f] of this.#buckets.values()) {
      completed += c;
      failed += f;
    }
    return { completed, failed };
  }
}

export function ThroughputChart({ source }: { source: Throughput }) {
  const ref = useRef<HTMLDivElement>(null);
  useEffect(() => {
    const el = ref.current;
    if (el === null) return;
    const width = (): number => Math.max(280, el.clientWidth);
    const plot = new uPlot(
      {
        width: width(),
        height: 200,
        legend: { show: true },
        scales: { y: { range: (_u, _min, max) => [0, Math.max(1, max)] } },
        series: [
          {},
          { label: 'completed/s', stroke: '#2e7d32', fill: 'rgba(46,125,50,0.12)', points: { show: false } },
          { label: 'failed/s', stroke: '#c62828', points: { show: false } },
        ],
        axes: [{}, { size: 50 }],
      },
      source.series(),
      el,
    );
    const timer = setInterval(() => plot.setData(source.series()), 1000);
    const onResize = (): void => plot.setSize({ width: width(), height: 200 });
    addEventListener('resize', onResize);
    return () => {
      clearInterval(timer);
      removeEventListener('resize', onResize);
      plot.destroy();
    };
  }, [source]);
  return <div class="chart" ref={ref} data-testid="throughput-chart" />;
}
