/**
 * Entry of a sandbox thread (a `worker_threads` Worker started by SandboxRunner): loads the handlers
 * module once, reports its task types, then runs one task at a time as the main thread asks, with a
 * signal of its own that the main thread aborts by message.
 */
import { inspect } from 'node:util';
import { parentPort, workerData, type MessagePort } from 'node:worker_threads';
import type { JsonValue } from '../../types.js';
import type { HandlerContext, Logger } from '../handlers.js';
import {
  describeError,
  handlerTypes,
  invokeHandler,
  loadHandlersModule,
  noHandlerOutcome,
  type HandlerTable,
} from '../in-process-runner.js';
import type { FromThread, LogLevel, SandboxWorkerData, ToThread } from './protocol.js';

interface CurrentRun {
  runId: number;
  controller: AbortController;
}

async function main(port: MessagePort, { moduleHref }: SandboxWorkerData): Promise<void> {
  const post = (message: FromThread) => port.postMessage(message);
  let handlers: HandlerTable;
  try {
    handlers = await loadHandlersModule(new URL(moduleHref));
  } catch (err) {
    // No message listener is attached: with nothing else to do the thread ends (the runner also
    // terminates it, in case the module left a timer behind).
    post({ type: 'loadFailed', error: describeError(err) });
    return;
  }

  let current: CurrentRun | null = null;
  port.on('message', (message: ToThread) => {
    if (message.type === 'abort') {
      if (current?.runId === message.runId) current.controller.abort(message.reason);
      return;
    }
    const { runId, task, attempt, dependencies } = message;
    const controller = new AbortController();
    current = { runId, controller };
    const ctx: HandlerContext = {
      signal: controller.signal,
      attempt,
      dependencies,
      progress: (value) => postProgress(port, runId, value),
      logger: threadLogger(port, runId, {}),
    };
    const handler = handlers.get(task.type);
    const settled = handler
      ? invokeHandler(handler, task, ctx)
      : Promise.resolve(noHandlerOutcome(task.type, handlerTypes(handlers)));
    void settled.then((outcome) => {
      current = null;
      post({ type: 'settled', runId, outcome });
    });
  });
  post({ type: 'loaded', types: handlerTypes(handlers) });
}

function postProgress(port: MessagePort, runId: number, value: JsonValue): void {
  try {
    port.postMessage({ type: 'progress', runId, value } satisfies FromThread);
  } catch (err) {
    // Thrown into the handler, which passed the value: the same call in-process would succeed, but
    // the value could not be stored as JSON either.
    throw new TypeError(`ctx.progress: the value cannot leave the sandbox thread (progress must be JSON): ${describeError(err).message}`, {
      cause: err,
    });
  }
}

/** A Logger whose lines go to the main thread's logger, at the same level. */
function threadLogger(port: MessagePort, runId: number, bindings: object): Logger {
  const at =
    (level: LogLevel) =>
    (obj: object, msg?: string): void => {
      const merged = { ...bindings, ...obj };
      try {
        port.postMessage({ type: 'log', runId, level, obj: merged, msg } satisfies FromThread);
      } catch {
        // A function or a symbol in the object cannot be cloned; a log line must not fail the handler.
        const obj = { unclonableLogObject: inspect(merged, { depth: 4, breakLength: Infinity }) };
        port.postMessage({ type: 'log', runId, level, obj, msg } satisfies FromThread);
      }
    };
  return {
    debug: at('debug'),
    info: at('info'),
    warn: at('warn'),
    error: at('error'),
    child: (more) => threadLogger(port, runId, { ...bindings, ...more }),
  };
}

if (parentPort === null) {
  throw new Error('sandbox-thread is the entry of a worker thread started by SandboxRunner; it cannot run as a main module');
}
await main(parentPort, workerData as SandboxWorkerData);
