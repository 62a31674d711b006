import { readFileSync } from 'node:fs';
import type { Redis } from 'ioredis';
import { ERROR_HISTORY_LIMIT, TASK_EVENT_NAMES } from '../../types.js';
import { recordLuaHeader } from './codec.js';
import { DEFAULT_EVENTS_RETAIN } from '../store.js';
import { QUEUE_KEY_NAMES } from './keys.js';

/**
 * Loads the Lua scripts (one per store operation, in ./scripts) and registers them with ioredis
 * `defineCommand`, which sends EVALSHA and falls back to EVAL after a server restart.
 *
 * Per-queue scripts get a generated header that names their KEYS from QUEUE_KEY_NAMES and the
 * record layout from codec.ts, so each lives in one TypeScript module alone. `--- @include "lib/x"` lines pull in shared fragments.
 */

/** Scripts whose KEYS are one queue's keys. */
export const QUEUE_SCRIPTS = [
  'cancelTasks',
  'claimTasks',
  'deleteFinishedTasks',
  'eventsTail',
  'expireDeadlines',
  'finishTasks',
  'getTasks',
  'insertTasks',
  'linkDependencies',
  'listTasks',
  'oldestPending',
  'promoteDueTasks',
  'reclaimExpiredLeases',
  'renewLeases',
  'resolveDependencies',
  'retryTasks',
  'setQueuePaused',
  'startTasks',
  'stealTasks',
] as const;

/** Scripts with one key of their own (a leader lease, the schedules hash). */
export const SINGLE_KEY_SCRIPTS = ['acquireLeadership', 'advanceSchedule', 'renewLeadership', 'resignLeadership', 'upsertSchedules'] as const;

export type QueueScript = (typeof QUEUE_SCRIPTS)[number];
export type SingleKeyScript = (typeof SINGLE_KEY_SCRIPTS)[number];
type ScriptName = QueueScript | SingleKeyScript;

const SCRIPTS_DIR = new URL('./scripts/', import.meta.url);
const INCLUDE = /^--- @include "([a-z/]+)"$/gm;

function readScript(name: string, seen: Set<string> = new Set()): string {
  const source = readFileSync(new URL(`${name}.lua`, SCRIPTS_DIR), 'utf8');
  return source.replace(INCLUDE, (_line, include: string) => {
    // A fragment included twice would redeclare its locals; once is enough.
    if (seen.has(include)) return '';
    seen.add(include);
    return readScript(include, seen);
  });
}

export { DEFAULT_EVENTS_RETAIN };
/**
 * Below this, the events stream is trimmed exactly (`MAXLEN =`); from it on, approximately
 * (`MAXLEN ~`: whole stream nodes of up to 100 entries at a time, which is cheaper), so a queue
 * keeps between `retain` and about `retain + 100` entries.
 */
const EXACT_TRIM_BELOW = 1_000;

function queueHeader(eventsRetain: number): string {
  const lines = QUEUE_KEY_NAMES.map((name, i) => `local K_${name} = KEYS[${i + 1}]`);
  lines.push(`local ERROR_HISTORY_LIMIT = ${ERROR_HISTORY_LIMIT}`);
  lines.push(recordLuaHeader());
  // Event codes: the index of each name in TASK_EVENT_NAMES (lib/events.lua, events.ts).
  TASK_EVENT_NAMES.forEach((name, i) => lines.push(`local EV_${name.slice('task:'.length)} = ${i}`));
  lines.push(`local EVENTS_RETAIN = ${eventsRetain}`);
  lines.push(`local EVENTS_TRIM = '${eventsRetain < EXACT_TRIM_BELOW ? '=' : '~'}'`);
  return `${lines.join('\n')}\n`;
}

/**
 * The full text of a script as Redis receives it (exported for tests and docs). The events
 * retention is a constant of the per-queue scripts, so it costs no argument per call; a store with
 * another retention registers scripts of its own (another SHA).
 */
export function scriptSource(name: ScriptName, eventsRetain: number = DEFAULT_EVENTS_RETAIN): string {
  const body = readScript(name);
  return (QUEUE_SCRIPTS as readonly string[]).includes(name) ? queueHeader(eventsRetain) + body : body;
}

/** Script sources per events retention (usually one). */
const cache = new Map<number, Map<ScriptName, string>>();

export function defineScripts(redis: Redis, eventsRetain: number = DEFAULT_EVENTS_RETAIN): void {
  if (!Number.isSafeInteger(eventsRetain) || eventsRetain < 0) {
    throw new RangeError(`eventsRetain must be a whole number ≥ 0, got ${eventsRetain}`);
  }
  let sources = cache.get(eventsRetain);
  if (sources === undefined) {
    sources = new Map([...QUEUE_SCRIPTS, ...SINGLE_KEY_SCRIPTS].map((name) => [name, scriptSource(name, eventsRetain)]));
    cache.set(eventsRetain, sources);
  }
  for (const name of QUEUE_SCRIPTS) {
    redis.defineCommand(name, { numberOfKeys: QUEUE_KEY_NAMES.length, lua: sources.get(name)! });
  }
  for (const name of SINGLE_KEY_SCRIPTS) {
    redis.defineCommand(name, { numberOfKeys: 1, lua: sources.get(name)! });
  }
}

type ScriptArg = string | number | Buffer;
type ScriptFn = (...keysAndArgs: ScriptArg[]) => Promise<unknown>;

/** Scripts whose replies hold packed task records (binary): they are read as Buffers. */
const BINARY_REPLIES: ReadonlySet<ScriptName> = new Set(['claimTasks', 'getTasks', 'insertTasks', 'listTasks', 'stealTasks']);

/** Calls a script registered by defineScripts. */
export function runScript(redis: Redis, name: ScriptName, keys: string[], args: ScriptArg[]): Promise<unknown> {
  // ioredis' `<name>Buffer` variant leaves bulk strings as Buffers instead of decoding them as UTF-8.
  const fn = (redis as unknown as Record<string, ScriptFn>)[BINARY_REPLIES.has(name) ? `${name}Buffer` : name];
  if (!fn) throw new Error(`Redis script ${name} is not defined: call defineScripts first`);
  return fn.call(redis, ...keys, ...args);
}
