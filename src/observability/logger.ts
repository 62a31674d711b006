import { pino, type Logger as PinoLogger, type LoggerOptions } from 'pino';
import pretty from 'pino-pretty';
import type { Logger } from '../logger.js';

export type LogLevel = 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal' | 'silent';

export interface CreateLoggerOptions {
  level?: LogLevel;
  /** Human-readable lines instead of JSON. Default: when the destination is a terminal. */
  pretty?: boolean;
  /** Where lines go; default stdout. */
  destination?: NodeJS.WritableStream & { isTTY?: boolean };
  /** Fields on every line (e.g. `{ service: 'conveyor' }`). */
  base?: Record<string, unknown>;
}

/**
 * The process's logger: pino JSON lines (one per event, camelCase fields: `taskId`, `queue`, `type`,
 * `workerId` where they apply), or pino-pretty lines when writing to a terminal. Library code only
 * sees the small `Logger` interface, so tests and users can pass their own.
 */
export function createLogger(options: CreateLoggerOptions = {}): Logger {
  const destination = options.destination ?? process.stdout;
  const usePretty = options.pretty ?? destination.isTTY === true;
  const settings: LoggerOptions = {
    level: options.level ?? 'info',
    base: options.base ?? null,
    timestamp: pino.stdTimeFunctions.isoTime,
    // pino's `err` serializer keeps type, message and stack of Error values under any of these keys.
    serializers: { err: pino.stdSerializers.err, error: pino.stdSerializers.err },
  };
  const stream = usePretty ? pretty({ destination, colorize: destination.isTTY === true, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname' }) : destination;
  return adapt(pino(settings, stream));
}

/** pino's methods take (obj, msg) as ours do; `child` must hand back the same shape. */
function adapt(logger: PinoLogger): Logger {
  return {
    debug: (obj, msg) => logger.debug(obj, msg),
    info: (obj, msg) => logger.info(obj, msg),
    warn: (obj, msg) => logger.warn(obj, msg),
    error: (obj, msg) => logger.error(obj, msg),
    child: (bindings) => adapt(logger.child(bindings)),
  };
}
