/** Throughput over the last 15 minutes (completed and failed per second), drawn with uPlot. */
import { useEffect, useRef } from 'preact/hooks';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import type { Activity } from './api.js';

/** The chart of GET /api/v1/activity's series; redrawn when `activity` changes. */
export function ThroughputChart({ activity }: { activity: Activity | undefined }) {
  const ref = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | null>(null);
  useEffect(() => {
    const el = ref.current;
    if (el === null) return;
    const width = (): number => Math.max(280, el.clientWidth);
    plot.current = new uPlot(
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
      [[], [], []],
      el,
    );
    const onResize = (): void => plot.current?.setSize({ width: width(), height: 200 });
    addEventListener('resize', onResize);
    return () => {
      removeEventListener('resize', onResize);
      plot.current?.destroy();
      plot.current = null;
    };
  }, []);
  useEffect(() => {
    if (activity === undefined) return;
    const { seconds, completed, failed } = activity.series;
    plot.current?.setData([seconds, completed, failed]);
  }, [activity]);
  return <div class="chart" ref={ref} data-testid="throughput-chart" />;
}
