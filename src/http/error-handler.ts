/**
 * Errors over HTTP: every error body is `{"error": {"code", "message", "details"}}`. A ConveyorError
 * keeps its code and gets the status of its kind; Fastify's own errors (malformed JSON, a body over
 * the limit, an unsupported media type) become CONVEYOR_VALIDATION naming the body; anything else is
 * a 500 CONVEYOR_INTERNAL whose message and stack stay in the server's log.
 */
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { ConveyorError, isConveyorError, type ErrorCode } from '../errors.js';
import type { Logger } from '../logger.js';

/** The HTTP status of each error code; a code not listed is a 500. */
export const STATUS_BY_CODE: Readonly<Record<ErrorCode, number>> = Object.freeze({
  CONVEYOR_VALIDATION: 400,
  CONVEYOR_INVALID_NAME: 400,
  CONVEYOR_DEPENDENCY_NOT_FOUND: 400,
  CONVEYOR_BATCH_TOO_LARGE: 400,
  CONVEYOR_TASK_NOT_FOUND: 404,
  CONVEYOR_QUEUE_NOT_FOUND: 404,
  CONVEYOR_SCHEDULE_NOT_FOUND: 404,
  CONVEYOR_ROUTE_NOT_FOUND: 404,
  CONVEYOR_TASK_NOT_RETRYABLE: 409,
  CONVEYOR_TASK_FAILED: 409,
  CONVEYOR_LEASE_LOST: 409,
  CONVEYOR_WAIT_TIMEOUT: 408,
  CONVEYOR_UNAUTHORIZED: 401,
  CONVEYOR_FORBIDDEN: 403,
  CONVEYOR_STORE_UNAVAILABLE: 503,
  CONVEYOR_STORE_URL_INVALID: 500,
  CONVEYOR_STORE_SCHEMA_TOO_NEW: 500,
  CONVEYOR_CONFIG_INVALID: 500,
  CONVEYOR_INTERNAL: 500,
});

/** A ConveyorError with an explicit HTTP status (413 for a payload over the limit, 415, …). */
export class HttpConveyorError extends ConveyorError {
  readonly status: number;

  constructor(status: number, code: ErrorCode, message: string, details: Record<string, unknown> = {}) {
    super(code, message, details);
    this.status = status;
  }
}

export interface ErrorBody {
  error: { code: ErrorCode; message: string; details: Record<string, unknown> };
}

export function statusOf(err: ConveyorError): number {
  return err instanceof HttpConveyorError ? err.status : (STATUS_BY_CODE[err.code] ?? 500);
}

export function errorBody(err: ConveyorError): ErrorBody {
  return { error: { code: err.code, message: err.message, details: err.details } };
}

/** A body-level validation error: `details.issues` names `body`. */
export function bodyError(status: number, message: string): HttpConveyorError {
  return new HttpConveyorError(status, 'CONVEYOR_VALIDATION', `invalid request body: ${message}`, { issues: [{ path: 'body', message }] });
}

/** Turns anything thrown by a route (or by Fastify before it) into a ConveyorError with a status. */
export function toHttpError(err: unknown): { status: number; error: ConveyorError; unexpected: boolean } {
  if (isConveyorError(err)) return { status: statusOf(err), error: err, unexpected: false };
  const fst = err as Partial<FastifyError> | null;
  const code = typeof fst?.code === 'string' ? fst.code : '';
  switch (code) {
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
      return known(bodyError(400, 'is not valid JSON'));
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return known(bodyError(400, "is empty but content-type is application/json: send a JSON value, or no content-type"));
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return known(bodyError(413, 'is larger than this route accepts (see the payload limit)'));
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return known(bodyError(415, 'has an unsupported content-type: send application/json'));
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return known(bodyError(400, 'length does not match its content-length header'));
    default:
      break;
  }
  // Other client errors Fastify raises itself (a bad header, an aborted body): keep the status.
  const status = typeof fst?.statusCode === 'number' ? fst.statusCode : 500;
  if (code.startsWith('FST_') && status >= 400 && status < 500) {
    return known(new HttpConveyorError(status, 'CONVEYOR_VALIDATION', `invalid request: ${String(fst?.message ?? code)}`, { issues: [{ path: '', message: code }] }));
  }
  return { status: 500, error: new ConveyorError('CONVEYOR_INTERNAL', 'internal error: the server logged it'), unexpected: true };
}

function known(error: HttpConveyorError): { status: number; error: ConveyorError; unexpected: boolean } {
  return { status: error.status, error, unexpected: false };
}

/** The Fastify error handler: the error envelope, no stacks, unexpected errors logged. */
export function createErrorHandler(logger: Logger) {
  return function handleError(err: unknown, request: FastifyRequest, reply: FastifyReply): void {
    const { status, error, unexpected } = toHttpError(err);
    if (unexpected || status >= 500) {
      const e = err as Error | null;
      logger.error({ err: { message: e?.message, name: e?.name, stack: e?.stack }, method: request.method, url: request.url, status }, 'HTTP request failed');
    }
    if (status === 401) void reply.header('www-authenticate', 'Bearer');
    void reply.code(status).type('application/json').send(errorBody(error));
  };
}

/** Unknown method and path: 404 CONVEYOR_ROUTE_NOT_FOUND. */
export function notFoundHandler(request: FastifyRequest, reply: FastifyReply): void {
  const url = request.url.split('?')[0] ?? request.url;
  const error = new ConveyorError('CONVEYOR_ROUTE_NOT_FOUND', `no route ${request.method} ${url}: see GET /api/v1/openapi.json for the routes`, {
    method: request.method,
    url,
  });
  void reply.code(404).type('application/json').send(errorBody(error));
}
