/**
 * Pieces every client command shares: the connection options (`--store`, `--server`, `--config`,
 * `--json`) and running an action against a connection that is closed afterwards.
 */
import { Option, type Command } from 'commander';
import { ConveyorError } from '../errors.js';
import { connect, type Api, type ConnectionOptions } from './connection.js';

export interface ClientFlags extends ConnectionOptions {
  json?: boolean;
}

/** Adds `--store`, `--server`, `--config` and `--json` to a client command. */
export function clientOptions(command: Command): Command {
  return command
    .addOption(new Option('--store <url>', 'talk to this store directly (default: CONVEYOR_STORE, the config file, or sqlite:./.conveyor/conveyor.db)'))
    .addOption(new Option('--server <url>', 'talk to a running server\'s HTTP API instead (env CONVEYOR_SERVER; token from CONVEYOR_TOKEN)'))
    .addOption(new Option('--config <file>', 'configuration file (default: CONVEYOR_CONFIG, or ./conveyor.yaml when present)'))
    .addOption(new Option('--json', 'print JSON for scripts instead of a table'));
}

/** Opens the connection, runs `fn`, closes it whatever happens. */
export async function withApi<T>(flags: ClientFlags, fn: (api: Api) => Promise<T>): Promise<T> {
  const api = await connect(flags);
  try {
    return await fn(api);
  } finally {
    await api.close().catch(() => undefined);
  }
}

/** A whole number from a flag, or a CONVEYOR_VALIDATION error naming it. */
export function intFlag(name: string, value: string | undefined, min = 0): number | undefined {
  if (value === undefined) return undefined;
  if (!/^\d+$/.test(value.trim()) || Number(value) < min) {
    throw new ConveyorError('CONVEYOR_VALIDATION', `--${name} must be a whole number of at least ${min} (got ${JSON.stringify(value)})`, {
      issues: [{ path: name, message: `must be a whole number of at least ${min}` }],
    });
  }
  return Number(value);
}

/** JSON from a flag or argument, or a CONVEYOR_VALIDATION error naming it. */
export function jsonArg(name: string, text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    throw new ConveyorError('CONVEYOR_VALIDATION', `${name} is not valid JSON: ${(err as Error).message} (quote it for the shell: '{"to":"a@b.c"}')`, {
      issues: [{ path: name, message: 'is not valid JSON' }],
    });
  }
}

/** `a,b , c` → ['a', 'b', 'c']. */
export function listFlag(value: string | undefined): string[] | undefined {
  if (value === undefined) return undefined;
  return value
    .split(',')
    .map((item) => item.trim())
    .filter((item) => item !== '');
}
