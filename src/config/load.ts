/**
 * Loads the configuration: defaults < file (`conveyor.yaml`) < environment (`CONVEYOR_*`) < flags,
 * merged deeply (objects merge key by key; arrays and scalars replace), then parsed once by the one
 * schema (schema.ts). Every value remembers where it came from, so an invalid one is reported with
 * its key, its value, its source (file and line, environment variable, flag) and what is allowed.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { isMap, isNode, isScalar, isSeq, LineCounter, parseDocument, type Document } from 'yaml';
import { z } from 'zod';
import { ConveyorError } from '../errors.js';
import { formatIssuePath, toValidationIssues } from '../schemas.js';
import { configSchema, type Config } from './schema.js';

export interface LoadConfigOptions {
  /** `--config FILE`: must exist. Without it, `CONVEYOR_CONFIG`, then `conveyor.yaml`/`.yml` in `cwd` if present. */
  file?: string;
  /** Default `process.env`. */
  env?: NodeJS.ProcessEnv;
  /**
   * Command-line flags by key: `port`, `shutdownGrace` (or `shutdown-grace`), nested keys dotted
   * (`log.level`) or as objects. Undefined values are ignored; strings are read like environment
   * values; `config` is taken as `file` when that is not given.
   */
  flags?: Record<string, unknown>;
  /** Where `conveyor.yaml` is looked for and relative paths start. Default `process.cwd()`. */
  cwd?: string;
}

/** Looked for in `cwd` when no file is named. */
export const CONFIG_FILE_NAMES = ['conveyor.yaml', 'conveyor.yml'] as const;
export const ENV_PREFIX = 'CONVEYOR_';
/** Nested keys in environment variable names: `CONVEYOR_LOG__LEVEL` → `log.level`. */
export const ENV_NESTING = '__';
/** `CONVEYOR_*` variables that are not configuration keys: the file to read, and the CLI's client settings. */
export const NON_CONFIG_ENV: readonly string[] = ['CONVEYOR_CONFIG', 'CONVEYOR_SERVER', 'CONVEYOR_TOKEN', 'CONVEYOR_FROM_SOURCE'];

type Path = (string | number)[];

type Source =
  | { kind: 'file'; file: string; line: (path: Path) => number | undefined }
  | { kind: 'env'; name: string }
  | { kind: 'flag'; name: string };

function describeSource(source: Source, path: Path): string {
  switch (source.kind) {
    case 'file': {
      const line = source.line(path);
      return line === undefined ? source.file : `${source.file} line ${line}`;
    }
    case 'env':
      return `environment variable ${source.name}`;
    case 'flag':
      return `flag --${source.name}`;
  }
}

function invalid(message: string, details: Record<string, unknown> = {}): ConveyorError {
  return new ConveyorError('CONVEYOR_CONFIG_INVALID', message, details);
}

/**
 * Reads, merges and validates the configuration.
 *
 * @throws ConveyorError CONVEYOR_CONFIG_INVALID naming each invalid key, its value (secrets masked),
 *   where it came from and what is allowed; also for a missing `--config` file or a YAML syntax error.
 */
export function loadConfig(options: LoadConfigOptions = {}): Config {
  const cwd = resolve(options.cwd ?? process.cwd());
  const env = options.env ?? process.env;
  const flags = options.flags ?? {};
  const merged = new MergedSources();

  const file = readConfigFile(chooseFile(options, flags, env, cwd));
  if (file) merged.apply([], file.values, file.source);
  for (const entry of envEntries(env, cwd)) merged.apply(entry.path, entry.value, entry.source);
  for (const entry of flagEntries(flags, cwd)) merged.apply(entry.path, entry.value, entry.source);

  const parsed = configSchema.safeParse(merged.value);
  if (!parsed.success) throw issuesError(parsed.error, merged);
  return parsed.data;
}

// ---- the file -----------------------------------------------------------------------------------

interface ChosenFile {
  path: string;
  /** Named explicitly (then it must exist), and by what. */
  givenBy?: string;
}

function chooseFile(options: LoadConfigOptions, flags: Record<string, unknown>, env: NodeJS.ProcessEnv, cwd: string): ChosenFile | undefined {
  if (options.file !== undefined) return { path: resolve(cwd, options.file), givenBy: '--config' };
  if (typeof flags.config === 'string') return { path: resolve(cwd, flags.config), givenBy: '--config' };
  const fromEnv = env.CONVEYOR_CONFIG?.trim();
  if (fromEnv) return { path: resolve(cwd, fromEnv), givenBy: 'environment variable CONVEYOR_CONFIG' };
  const present = CONFIG_FILE_NAMES.map((name) => resolve(cwd, name)).filter((path) => existsSync(path));
  if (present.length > 1) {
    throw invalid(`both ${present.join(' and ')} exist: keep one, or choose with --config FILE`, { files: present });
  }
  return present[0] === undefined ? undefined : { path: present[0] };
}

function readConfigFile(chosen: ChosenFile | undefined): { values: Record<string, unknown>; source: Source } | undefined {
  if (!chosen) return undefined;
  const { path } = chosen;
  let text: string;
  try {
    if (!statSync(path).isFile()) throw invalid(`configuration file ${path} is not a file`, { file: path });
    text = readFileSync(path, 'utf8');
  } catch (err) {
    if (err instanceof ConveyorError) throw err;
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'it does not exist' : code === 'EACCES' ? 'permission denied' : (err as Error).message;
    const by = chosen.givenBy ? ` (given by ${chosen.givenBy})` : '';
    throw invalid(`cannot read configuration file ${path}${by}: ${why}`, { file: path });
  }

  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: true, uniqueKeys: true });
  const [first] = doc.errors;
  if (first) {
    const pos = first.linePos?.[0];
    const where = pos ? `line ${pos.line}, column ${pos.col}` : 'somewhere';
    // yaml's message repeats the position and adds a code excerpt; keep its first clause.
    const what = (first.message.split('\n')[0] ?? '').replace(/ at line \d+, column \d+:?$/, '');
    const more = doc.errors.length > 1 ? ` (and ${doc.errors.length - 1} more)` : '';
    throw invalid(`configuration file ${path} is not valid YAML: ${where}: ${what}${more}`, {
      file: path,
      line: pos?.line,
      column: pos?.col,
    });
  }

  const values: unknown = doc.toJS() ?? {};
  if (!isPlainObject(values)) {
    throw invalid(`configuration file ${path} must hold a mapping of keys (store, port, log, …); got ${Array.isArray(values) ? 'a list' : `a ${typeof values}`}`, {
      file: path,
    });
  }
  if (typeof values.handlers === 'string') values.handlers = resolveModulePath(dirname(path), values.handlers);
  return { values, source: { kind: 'file', file: path, line: (p) => lineOf(doc, lineCounter, p) } };
}

/** The line of the deepest key (or list item) of `path` present in the document. */
function lineOf(doc: Document, lines: LineCounter, path: Path): number | undefined {
  let node: unknown = doc.contents;
  let line: number | undefined;
  for (const part of path) {
    let next: unknown;
    let at: unknown;
    if (isMap(node)) {
      const pair = node.items.find((p) => String(isScalar(p.key) ? p.key.value : p.key) === String(part));
      at = pair?.key;
      next = pair?.value;
    } else if (isSeq(node) && typeof part === 'number') {
      at = next = node.items[part];
    }
    if (!isNode(at) || !at.range) break;
    line = lines.linePos(at.range[0]).line;
    node = next;
  }
  return line;
}

/** Handlers paths become absolute: from the file, relative to its folder; otherwise to `cwd`. */
function resolveModulePath(base: string, value: string): string {
  return value.startsWith('file:') ? value : resolve(base, value);
}

// ---- environment and flags ----------------------------------------------------------------------

interface Entry {
  path: Path;
  value: unknown;
  source: Source;
}

/** `SHUTDOWN_GRACE` → `shutdownGrace`; a segment with lower-case letters is kept as written. */
function camelFromEnv(segment: string): string {
  if (!/^[A-Z0-9_]+$/.test(segment)) return segment;
  return segment.toLowerCase().replace(/_+([a-z0-9])/g, (_, c: string) => c.toUpperCase());
}

/** `shutdown-grace` → `shutdownGrace`. */
function camelFromKebab(segment: string): string {
  return segment.replace(/-+([A-Za-z0-9])/g, (_, c: string) => c.toUpperCase());
}

function kebab(segment: string): string {
  return segment.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
}

/** Queue names under `retention.queues` are taken as written, never re-cased. */
function isQueueNameSegment(parents: Path): boolean {
  return parents.length === 2 && parents[0] === 'retention' && parents[1] === 'queues';
}

function keyPath(segments: string[], convert: (segment: string) => string): Path {
  const path: Path = [];
  for (const segment of segments) path.push(isQueueNameSegment(path) ? segment : convert(segment));
  return path;
}

function envEntries(env: NodeJS.ProcessEnv, cwd: string): Entry[] {
  const entries: Entry[] = [];
  for (const [name, raw] of Object.entries(env)) {
    if (!name.startsWith(ENV_PREFIX) || NON_CONFIG_ENV.includes(name) || raw === undefined || raw.trim() === '') continue;
    const path = keyPath(name.slice(ENV_PREFIX.length).split(ENV_NESTING), camelFromEnv);
    const source: Source = { kind: 'env', name };
    entries.push({ path, value: fromText(raw, path, source, cwd), source });
  }
  const redisUrl = env.REDIS_URL?.trim();
  if (redisUrl && !env.CONVEYOR_STORE?.trim()) entries.push({ path: ['store'], value: redisUrl, source: { kind: 'env', name: 'REDIS_URL' } });
  // The less specific first, so CONVEYOR_LOG__LEVEL wins over a level inside CONVEYOR_LOG.
  return entries.sort((a, b) => a.path.length - b.path.length);
}

function flagEntries(flags: Record<string, unknown>, cwd: string): Entry[] {
  const entries: Entry[] = [];
  for (const [key, value] of Object.entries(flags)) {
    if (value === undefined || key === 'config') continue;
    const path = keyPath(key.split('.'), camelFromKebab);
    const source: Source = { kind: 'flag', name: path.map((p) => kebab(String(p))).join('-') };
    entries.push({ path, value: fromFlag(value, path, source, cwd), source });
  }
  return entries.sort((a, b) => a.path.length - b.path.length);
}

function fromFlag(value: unknown, path: Path, source: Source, cwd: string): unknown {
  if (typeof value === 'string') return fromText(value, path, source, cwd);
  if (isPlainObject(value)) {
    const out: Record<string, unknown> = {};
    for (const [key, inner] of Object.entries(value)) setOwn(out, key, fromFlag(inner, [...path, key], source, cwd));
    return out;
  }
  return value;
}

/**
 * A value written as text (environment, flags), read as the schema expects at `path`: numbers,
 * `true`/`false`, comma lists, JSON for objects and lists of objects; otherwise the string itself.
 */
function fromText(raw: string, path: Path, source: Source, cwd: string): unknown {
  const text = raw.trim();
  if (path.length === 1 && path[0] === 'handlers') return resolveModulePath(cwd, text);
  const kinds = kindsAt(path);
  if (!kinds) return text;
  if ((kinds.has('object') && text.startsWith('{')) || (kinds.has('array') && text.startsWith('['))) {
    try {
      return JSON.parse(text) as unknown;
    } catch {
      // JSON.parse quotes the input in its message, and this may hold a token: say only where.
      throw invalid(`invalid configuration: ${formatIssuePath(path)} (from ${describeSource(source, path)}): starts like JSON but is not valid JSON`, {
        issues: [{ path: formatIssuePath(path), message: 'is not valid JSON', source: describeSource(source, path) }],
      });
    }
  }
  if (kinds.has('array')) {
    return text
      .split(',')
      .map((item) => item.trim())
      .filter((item) => item !== '');
  }
  if (kinds.has('boolean') && /^(true|false)$/i.test(text)) return text.toLowerCase() === 'true';
  if (kinds.has('number') && !kinds.has('string') && /^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(text)) return Number(text);
  return text;
}

// ---- the schema, walked by path -----------------------------------------------------------------

/** The parts of a zod definition this walk reads. */
interface Def {
  type: string;
  innerType?: z.ZodType;
  in?: z.ZodType;
  shape?: Record<string, z.ZodType>;
  valueType?: z.ZodType;
  element?: z.ZodType;
  options?: z.ZodType[];
}

function defOf(schema: z.ZodType): Def {
  return schema.def as unknown as Def;
}

/** Past defaults, optionals and transforms, to the schema that checks the input. */
function unwrap(schema: z.ZodType): z.ZodType {
  let current = schema;
  for (;;) {
    const def = defOf(current);
    if (def.innerType && ['default', 'prefault', 'optional', 'nullable', 'readonly', 'catch', 'nonoptional'].includes(def.type)) {
      current = def.innerType;
    } else if (def.type === 'pipe' && def.in) {
      current = def.in;
    } else {
      return current;
    }
  }
}

function schemaAt(path: Path): z.ZodType | undefined {
  let current: z.ZodType | undefined = unwrap(configSchema);
  for (const part of path) {
    const def: Def = defOf(current);
    if (def.type === 'object') current = def.shape?.[String(part)];
    else if (def.type === 'record') current = def.valueType;
    else if (def.type === 'array' && /^\d+$/.test(String(part))) current = def.element;
    else current = undefined;
    if (!current) return undefined;
    current = unwrap(current);
  }
  return current;
}

type Kind = 'string' | 'number' | 'boolean' | 'array' | 'object';

/** What input types the schema takes at `path`; undefined for an unknown key. */
function kindsAt(path: Path): Set<Kind> | undefined {
  const schema = schemaAt(path);
  return schema ? kindsOf(schema) : undefined;
}

function kindsOf(schema: z.ZodType): Set<Kind> {
  const def = defOf(unwrap(schema));
  switch (def.type) {
    case 'string':
    case 'enum':
    case 'literal':
      return new Set(['string']);
    case 'number':
      return new Set(['number']);
    case 'boolean':
      return new Set(['boolean']);
    case 'array':
      return new Set(['array']);
    case 'object':
    case 'record':
      return new Set(['object']);
    case 'union':
      return new Set((def.options ?? []).flatMap((option) => [...kindsOf(option)]));
    default:
      return new Set(['string']);
  }
}

/** The keys a strict object at `path` allows, for "unknown key" messages. */
function keysAt(path: Path): string[] {
  const schema = schemaAt(path);
  const shape = schema ? defOf(schema).shape : undefined;
  return shape ? Object.keys(shape) : [];
}

// ---- merging, with the source of every value ----------------------------------------------------

function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return false;
  const proto: unknown = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

/** An own property only: `target["__proto__"]` must never reach Object.prototype. */
function ownValue(target: Record<string, unknown>, key: string): unknown {
  return Object.hasOwn(target, key) ? target[key] : undefined;
}

/** Sets an own property even for a key such as "__proto__", which the schema then reports as unknown. */
function setOwn(target: Record<string, unknown>, key: string, value: unknown): void {
  Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
}

class MergedSources {
  readonly value: Record<string, unknown> = {};
  readonly #sources = new Map<string, { path: Path; source: Source }>();

  /** Merges `value` at `path`: objects key by key; anything else (arrays too) replaces. Null and undefined are "not set". */
  apply(path: Path, value: unknown, source: Source): void {
    if (value === undefined || value === null) return;
    let target = this.value;
    for (const [i, part] of path.slice(0, -1).entries()) {
      const key = String(part);
      if (!isPlainObject(ownValue(target, key))) {
        setOwn(target, key, {});
        this.#forget(path.slice(0, i + 1));
      }
      target = ownValue(target, key) as Record<string, unknown>;
    }
    const last = path[path.length - 1];
    if (last === undefined) {
      if (!isPlainObject(value)) return;
      for (const [key, inner] of Object.entries(value)) this.apply([key], inner, source);
      return;
    }
    this.#merge(target, String(last), path, value, source);
  }

  #merge(target: Record<string, unknown>, key: string, path: Path, value: unknown, source: Source): void {
    if (value === undefined || value === null) return;
    if (isPlainObject(value)) {
      if (!isPlainObject(ownValue(target, key))) this.#set(target, key, path, {}, source);
      const inner = ownValue(target, key) as Record<string, unknown>;
      for (const [k, v] of Object.entries(value)) this.#merge(inner, k, [...path, k], v, source);
      return;
    }
    this.#set(target, key, path, Array.isArray(value) ? [...(value as unknown[])] : value, source);
  }

  #set(target: Record<string, unknown>, key: string, path: Path, value: unknown, source: Source): void {
    setOwn(target, key, value);
    this.#forget(path);
    this.#sources.set(JSON.stringify(path.map(String)), { path, source });
  }

  /** Drops what was recorded at and below `path`: a new value replaced it. */
  #forget(path: Path): void {
    const prefix = path.map(String);
    for (const [key, entry] of this.#sources) {
      if (prefix.every((part, i) => String(entry.path[i]) === part)) this.#sources.delete(key);
    }
  }

  /** Where the value at `path` (or the nearest enclosing value) came from. */
  sourceOf(path: Path): string {
    for (let n = path.length; n >= 1; n--) {
      const entry = this.#sources.get(JSON.stringify(path.slice(0, n).map(String)));
      if (entry) return describeSource(entry.source, path);
    }
    // An issue on an object whose keys came from several sources, e.g. backoff.delay > maxDelay.
    for (const entry of this.#sources.values()) {
      if (path.every((part, i) => String(entry.path[i]) === String(part))) return describeSource(entry.source, entry.path);
    }
    return 'the defaults';
  }
}

// ---- errors -------------------------------------------------------------------------------------

interface ConfigIssue {
  /** The key: "port", "log.level", "retention.queues.emails.completed", "auth.tokens[0].token". */
  path: string;
  message: string;
  /** "environment variable CONVEYOR_PORT", "flag --port", "/srv/conveyor.yaml line 3". */
  source: string;
}

function issuesError(error: z.ZodError, merged: MergedSources): ConveyorError {
  const issues: ConfigIssue[] = [];
  for (const issue of error.issues) {
    const path = issue.path as Path;
    if (issue.code === 'unrecognized_keys') {
      const allowedFields = { [formatIssuePath(path)]: keysAt(path) };
      const named = toValidationIssues(new z.ZodError([issue]), { allowedFields });
      issue.keys.forEach((key, i) => {
        const message = (named[i]?.message ?? 'unknown field').replace(/^unknown field/, 'unknown key');
        issues.push({ path: formatIssuePath([...path, key]), message, source: merged.sourceOf([...path, key]) });
      });
    } else {
      issues.push({ path: formatIssuePath(path), message: issue.message, source: merged.sourceOf(path) });
    }
  }
  const lines = issues.map((i) => `${i.path || 'the configuration'} (from ${i.source}): ${i.message}`);
  return invalid(`invalid configuration: ${lines.join('; ')}`, { issues });
}
