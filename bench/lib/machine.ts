/** What the numbers were measured on: the machine and the versions of everything compared. */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { cpus, release, totalmem, type as osType, arch } from 'node:os';
import { VERSION as CONVEYOR_VERSION } from '../../src/index.js';

export interface MachineInfo {
  cpu: string;
  cores: number;
  memoryBytes: number;
  os: string;
}

export interface Versions {
  node: string;
  conveyor: string;
  bullmq: string;
  redis: string;
}

export function machineInfo(): MachineInfo {
  const list = cpus();
  return {
    cpu: list[0]?.model.trim() ?? 'unknown',
    cores: list.length,
    memoryBytes: totalmem(),
    os: `${osType()} ${release()} ${arch()}`,
  };
}

/** BullMQ's version as installed (its package.json), not as declared in ours. */
function bullmqVersion(): string {
  const require = createRequire(import.meta.url);
  // bullmq's "exports" hides package.json; resolve the entry point and walk up to the package root.
  const entry = require.resolve('bullmq');
  const root = entry.slice(0, entry.lastIndexOf('/node_modules/bullmq/') + '/node_modules/bullmq/'.length);
  return (JSON.parse(readFileSync(`${root}package.json`, 'utf8')) as { version: string }).version;
}

export function versions(redisVersion: string): Versions {
  return { node: process.version, conveyor: CONVEYOR_VERSION, bullmq: bullmqVersion(), redis: redisVersion };
}

export function describeMachine(machine: MachineInfo, v: Versions): string {
  const gib = (machine.memoryBytes / 2 ** 30).toFixed(1);
  return [
    `machine: ${machine.cpu}, ${machine.cores} cores, ${gib} GiB, ${machine.os}`,
    `versions: node ${v.node}, conveyor ${v.conveyor}, bullmq ${v.bullmq}, redis ${v.redis}`,
  ].join('\n');
}
