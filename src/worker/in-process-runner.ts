import { isAbsolute, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { inspect } from 'node:util';
import type { JsonValue, Task } from '../types.js';
import { isPermanentError, retryAfterMsOf, type Handler, type HandlerContext, type Handlers } from './handlers.js';
import type { RunContext, RunOutcome, TaskRunner } from './runner.js';

/**
 * Runs handlers in the worker's own thread. Also home of the pieces the sandbox thread reuses
 * (loading a handlers module, invoking a handler, mapping what it did to an outcome), so that both
 * runners report the same outcome for the same handler.
 */
export class InProcessRunner implements TaskRunner {
  readonly #source: { handlers: Handlers } | { module: string | URL };
  #loading: Promise<HandlerTable> | undefined;

  constructor(options: { handlers: Handlers } | { module: string | URL }) {
    this.#source = options;
  }

  async ready(): Promise<string[]> {
    return handlerTypes(await this.#load());
  }

  async run(task: Task, ctx: RunContext): Promise<RunOutcome> {
    let handlers: HandlerTable;
    try {
      handlers = await this.#load();
    } catch (err) {
      return { status: 'failed', permanent: false, error: describeError(err) };
    }
    const handler = handlers.get(task.type);
    if (handler === undefined) return noHandlerOutcome(task.type, handlerTypes(handlers));
    if (ctx.signal.aborted) return { status: 'aborted' };
    const handlerCtx: HandlerContext = {
      signal: ctx.signal,
      attempt: ctx.attempt,
      progress: (value) => ctx.onProgress(value),
      logger: ctx.logger,
      dependencies: ctx.dependencies,
    };
    return settleOrAbort(invokeHandler(handler, task, handlerCtx), ctx.signal);
  }

  async close(): Promise<void> {
    // Nothing to release: a handler still running after its abort belongs to the event loop now.
  }

  #load(): Promise<HandlerTable> {
    const source = this.#source;
    this.#loading ??=
      'handlers' in source
        ? Promise.resolve().then(() => toHandlerTable(source.handlers, 'the `handlers` option'))
        : loadHandlersModule(source.module);
    return this.#loading;
  }
}

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
export async function invokeHandler(handler: Handler, task: Task, ctx: HandlerContext): Promise<SettledOutcome> {
  let value: unknown;
  try {
    value = await handler(task, ctx);
  } catch (err) {
    const retryAfterMs = retryAfterMsOf(err);
    return {
      status: 'failed',
      permanent: isPermanentError(err),
      error: describeError(err),
      ...(retryAfterMs !== undefined ? { retryAfterMs } : {}),
    };
  }
  return resultOutcome(task.type, value);
}

/** The result is stored as JSON: map it now, so that a result the store cannot keep fails here. */
function resultOutcome(type: string, value: unknown): SettledOutcome {
  if (value === undefined) return { status: 'completed', result: null };
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
 * The outcome, or `aborted` as soon as the signal aborts. `settled` never rejects, so the handler
 * settling after the abort is simply ignored.
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
