import type { Command } from 'commander';
import type { WorkerInfo } from '../../store/store.js';
import { clientOptions, withApi, type ClientFlags } from '../common.js';
import { duration, json, stdio, table, type Column } from '../format.js';

export function workerColumns(leader: string | null): Column<WorkerInfo>[] {
  return [
    { header: 'ID', value: (w) => w.id + (w.id === leader ? ' (leader)' : '') },
    { header: 'ROLE', value: (w) => w.role ?? 'worker' },
    { header: 'HOST', value: (w) => `${w.host}:${w.pid}` },
    { header: 'QUEUES', value: (w) => w.queues.join(',') || '-' },
    { header: 'RUNNING', value: (w) => String(w.running), right: true },
    { header: 'POOL', value: (w) => (w.role === 'server' ? '-' : `${w.concurrency.current} (${w.concurrency.min}:${w.concurrency.max})`), right: true },
    { header: 'UP', value: (w) => duration(Math.max(0, Date.now() - w.startedAt)), right: true },
    { header: 'VERSION', value: (w) => w.version ?? '-' },
  ];
}

export function registerWorkers(program: Command): void {
  const command = program.command('workers').description('live workers and server nodes (their heartbeat has not expired)');
  clientOptions(command).action(async (flags: ClientFlags) => {
    await withApi(flags, async (api) => {
      const [workers, cluster] = await Promise.all([api.workers(), api.cluster()]);
      stdio.out(flags.json ? json(workers) : table(workers, workerColumns(cluster.leader), '(no workers)'));
    });
  });
}
