import { isAbsolute, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { inspect } from 'node:util';
import type { Logger } from '../logger.js';
import type { JsonValue, Task } from '../types.js';
import { isPermanentError, retryAfterMsOf, type Handler, type HandlerContext, type Handlers } from './handlers.js';
import type { AbortWatch, RunContext, RunOutcome, TaskRunner } from './runner.js';

/**
 * Runs handlers in the worker's own thread. Also home of the pieces the sandbox thread reuses
 * (loading a handlers module, invoking a handler, mapping what it did to an outcome), so that both
 * runners report the same outcome for the same handler.
 */
export class InProcessRunner implements TaskRunner {
  readonly #source: { handlers: Handlers } | { module: string | URL };
  #loading: Promise<HandlerTable> | undefined;
  /** The table once loaded: runs then look the handler up without waiting for a promise. */
  #table: HandlerTable | undefined;

  constructor(options: { handlers: Handlers } | { module: string | URL }) {
    this.#source = options;
  }

  async ready(): Promise<string[]> {
    return handlerTypes(await this.#load());
  }

  run(task: Task, ctx: RunContext): Promise<RunOutcome> {
    const table = this.#table;
    return table === undefined ? this.#loadAndRun(task, ctx) : runWith(table, task, ctx);
  }

  async close(): Promise<void> {
    // Nothing to release: a handler still running after its abort belongs to the event loop now.
  }

  async #loadAndRun(task: Task, ctx: RunContext): Promise<RunOutcome> {
    let handlers: HandlerTable;
    try {
      handlers = await this.#load();
    } catch (err) {
      return { status: 'failed', permanent: false, error: describeError(err) };
    }
    return runWith(handlers, task, ctx);
  }

  #load(): Promise<HandlerTable> {
    const source = this.#source;
    this.#loading ??= (
      'handlers' in source
        ? Promise.resolve().then(() => toHandlerTable(source.handlers, 'the `handlers` option'))
        : loadHandlersModule(source.module)
    ).then((table) => (this.#table = table));
    return this.#loading;
  }
}

function runWith(handlers: HandlerTable, task: Task, ctx: RunContext): Promise<RunOutcome> {
  const handler = handlers.get(task.type);
  if (handler === undefined) return Promise.resolve(noHandlerOutcome(task.type, handlerTypes(handlers)));
  const watch = ctx.abortWatch;
  if (watch ? watch.aborted : ctx.signal.aborted) return Promise.resolve({ status: 'aborted' });
  const handlerCtx = handlerContext(ctx);
  const settled = invokeHandler(handler, task, handlerCtx);
  return watch ? settleOrAbortWatch(settled, watch) : settleOrAbort(settled, ctx.signal);
}

/**
 * The handler's context. `signal` and `logger` are made only for a handler that reads them (an
 * AbortController and a child logger cost more than the rest of an attempt), yet the context must
 * behave as the plain object it always was: `{ ...ctx }`, `Object.keys(ctx)`, destructuring,
 * `'signal' in ctx` and its prototype see a plain object of five fields. Accessor properties in an
 * object literal cost microseconds each time (V8 builds such an object the slow way), and getters
 * on a prototype would be left out by a spread, hence a Proxy over a plain object whose `signal`
 * and `logger` are filled in from the run context at their first read (the run context itself sits
 * under a symbol that the traps hide).
 */
export function handlerContext(ctx: RunContext): HandlerContext {
  const fields: ContextFields = {
    signal: undefined,
    attempt: ctx.attempt,
    progress: progressOf(ctx),
    logger: undefined,
    dependencies: ctx.dependencies,
    [RUN]: ctx,
  };
  return new Proxy(fields, CONTEXT_TRAPS) as unknown as HandlerContext;
}

const RUN = Symbol('run context');

/**
 * `ctx.progress`. Made here, not in the object literal: a function named by its property there
 * costs a `__name` call per attempt when the source runs through esbuild with keepNames (tsx).
 */
function progressOf(ctx: RunContext): (value: JsonValue) => void {
  return (value) => ctx.onProgress(value);
}

interface ContextFields {
  signal: AbortSignal | undefined;
  attempt: number;
  progress: (value: JsonValue) => void;
  logger: Logger | undefined;
  dependencies: Record<string, JsonValue | null>;
  [RUN]: RunContext;
}

/** Fills in `signal` or `logger` at their first read. */
function fill(fields: ContextFields, key: string | symbol): void {
  if (key === 'signal') fields.signal ??= fields[RUN].signal;
  else if (key === 'logger') fields.logger ??= fields[RUN].logger;
}

const CONTEXT_TRAPS: ProxyHandler<ContextFields> = {
  get(fields, key) {
    if (key === RUN) return undefined;
    fill(fields, key);
    return fields[key as keyof ContextFields];
  },
  has(fields, key) {
    return key !== RUN && key in fields;
  },
  ownKeys(fields) {
    return Reflect.ownKeys(fields).filter((key) => key !== RUN);
  },
  getOwnPropertyDescriptor(fields, key) {
    if (key === RUN) return undefined;
    fill(fields, key);
    return Reflect.getOwnPropertyDescriptor(fields, key);
  },
};

/** A handler that ran to its end: every outcome but `aborted`, which only a runner decides. */
export type SettledOutcome = Exclude<RunOutcome, { status: 'aborted' }>;

export type ErrorDescription = { name?: string; message: string; stack?: string };

/**
 * Handlers by task type. A Map rather than the user's object, so that a type such as `toString` or
 * `__proto__` finds no handler instead of something inherited from Object.prototype.
 */
export type HandlerTable = ReadonlyMap<string, Handler>;

export function handlerTypes(handlers: HandlerTable): string[] {
  return [...handlers.keys()].sort();
}

/** Imports an ES module whose default export maps task types to handlers. */
export async function loadHandlersModule(module: string | URL): Promise<HandlerTable> {
  const url = toModuleUrl(module);
  const name = describeModule(url);
  let namespace: Record<string, unknown>;
  try {
    namespace = (await import(url.href)) as Record<string, unknown>;
  } catch (err) {
    throw new Error(`cannot load the handlers module ${name}: ${describeError(err).message}`, { cause: err });
  }
  if (!('default' in namespace)) {
    const named = Object.keys(namespace);
    const exports = named.length > 0 ? `it exports only ${named.join(', ')}` : 'it exports nothing';
    throw new Error(
      `the handlers module ${name} has no default export (${exports}); export default a map of task type → handler`,
    );
  }
  return toHandlerTable(namespace.default, `the default export of the handlers module ${name}`);
}

/** A path (relative to the working directory), a `file:` URL string, or a URL. */
export function toModuleUrl(module: string | URL): URL {
  if (module instanceof URL) return module;
  if (module.startsWith('file:')) return new URL(module);
  return pathToFileURL(isAbsolute(module) ? module : resolve(module));
}

function describeModule(url: URL): string {
  return url.protocol === 'file:' ? fileURLToPath(url) : url.href;
}

/** Checks that `value` is an object of functions; `what` names it in the error. */
export function toHandlerTable(value: unknown, what: string): HandlerTable {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new TypeError(`${what} must be an object mapping task types to handler functions, but it is ${describeValue(value)}`);
  }
  const entries = Object.entries(value);
  const notFunctions = entries.filter(([, handler]) => typeof handler !== 'function');
  if (notFunctions.length > 0) {
    const found = notFunctions.map(([type, handler]) => `"${type}" is ${describeValue(handler)}`).join(', ');
    throw new TypeError(`${what} must map task types to handler functions, but ${found}`);
  }
  return new Map(entries as [string, Handler][]);
}

function describeValue(value: unknown): string {
  if (value === null) return 'null';
  if (value === undefined) return 'undefined';
  if (Array.isArray(value)) return 'an array';
  const type = typeof value;
  return /^[aeiou]/.test(type) ? `an ${type}` : `a ${type}`;
}

export function noHandlerOutcome(type: string, knownTypes: readonly string[]): SettledOutcome {
  const known = knownTypes.length > 0 ? knownTypes.join(', ') : '(none)';
  return {
    status: 'failed',
    noHandler: true,
    permanent: false,
    error: { name: 'NoHandlerError', message: `no handler for task type ${JSON.stringify(type)}; this worker handles: ${known}` },
  };
}

/**
 * Calls the handler and waits for it to settle, however long that takes; never rejects. A throw,
 * a rejection or a result that is not JSON becomes a `failed` outcome.
 */
export function invokeHandler(handler: Handler, task: Task, ctx: HandlerContext): Promise<SettledOutcome> {
  let value: unknown;
  try {
    value = handler(task, ctx);
  } catch (err) {
    return Promise.resolve(thrownOutcome(err));
  }
  // A synchronous result needs no promise of the handler's; a thenable is awaited as `await` would.
  if (!isThenable(value)) return Promise.resolve(resultOutcome(task.type, value));
  return Promise.resolve(value).then(
    (settled) => resultOutcome(task.type, settled),
    (err: unknown) => thrownOutcome(err),
  );
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
  if ((typeof value !== 'object' || value === null) && typeof value !== 'function') return false;
  try {
    return typeof (value as { then?: unknown }).then === 'function';
  } catch {
    // A throwing `then` getter: `await` would reject with it; Promise.resolve does the same.
    return true;
  }
}

function thrownOutcome(err: unknown): SettledOutcome {
  const retryAfterMs = retryAfterMsOf(err);
  return {
    status: 'failed',
    permanent: isPermanentError(err),
    error: describeError(err),
    ...(retryAfterMs !== undefined ? { retryAfterMs } : {}),
  };
}

/** The result is stored as JSON: map it now, so that a result the store cannot keep fails here. */
function resultOutcome(type: string, value: unknown): SettledOutcome {
  if (value === undefined || value === null) return { status: 'completed', result: null };
  // Strings, booleans and finite numbers are their own JSON copy (NaN and ±Infinity become null).
  const kind = typeof value;
  if (kind === 'string' || kind === 'boolean' || (kind === 'number' && Number.isFinite(value))) {
    return { status: 'completed', result: value as JsonValue };
  }
  let json: string | undefined;
  try {
    json = JSON.stringify(value);
  } catch (err) {
    return resultNotJson(type, describeError(err).message);
  }
  // JSON.stringify returns undefined for a function or a symbol.
  if (json === undefined) return resultNotJson(type, `${describeValue(value)} has no JSON form`);
  return { status: 'completed', result: JSON.parse(json) as JsonValue };
}

/** Permanent: the same handler would return the same kind of value on every retry. */
function resultNotJson(type: string, detail: string): SettledOutcome {
  return {
    status: 'failed',
    permanent: true,
    error: { name: 'ResultNotJsonError', message: `the handler for ${JSON.stringify(type)} returned a result that is not JSON: ${detail}` },
  };
}

/** Name, message and stack of anything thrown (handlers may throw strings, or errors of another realm). */
export function describeError(err: unknown): ErrorDescription {
  try {
    if (typeof err === 'object' && err !== null && typeof (err as { message?: unknown }).message === 'string') {
      const { name, message, stack } = err as { name?: unknown; message: string; stack?: unknown };
      return {
        name: typeof name === 'string' ? name : 'Error',
        message,
        ...(typeof stack === 'string' ? { stack } : {}),
      };
    }
    return { message: `a non-Error value was thrown: ${inspect(err, { depth: 2, breakLength: Infinity })}` };
  } catch {
    // A Proxy or a throwing getter: the description itself must not throw.
    return { message: 'a value was thrown that cannot be described' };
  }
}

/**
 * The outcome, or `aborted` as soon as the signal aborts. `settled` never rejects, so the
 * handler settling after the abort is simply ignored.
 */
function settleOrAbort(settled: Promise<SettledOutcome>, signal: AbortSignal): Promise<RunOutcome> {
  return new Promise((resolve) => {
    const onAbort = () => resolve({ status: 'aborted' });
    // The handler's synchronous part ran already, and may have aborted the signal.
    if (signal.aborted) {
      onAbort();
      return;
    }
    signal.addEventListener('abort', onAbort, { once: true });
    void settled.then((outcome) => {
      signal.removeEventListener('abort', onAbort);
      resolve(outcome);
    });
  });
}

/** The same with the executor's AbortWatch: no signal, and its listener dies with the attempt. */
function settleOrAbortWatch(settled: Promise<SettledOutcome>, watch: AbortWatch): Promise<RunOutcome> {
  return new Promise((resolve) => {
    if (watch.aborted) {
      resolve({ status: 'aborted' });
      return;
    }
    watch.onAbort(() => resolve({ status: 'aborted' }));
    void settled.then(resolve);
  });
}
