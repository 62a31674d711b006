/**
 * Every error Conveyor raises on purpose is a ConveyorError with a stable code. A code never changes
 * meaning and is never reused; docs/reference/errors.md lists them all. Messages name the field or
 * the cause and the fix.
 */

export const ERROR_CODES = {
  CONVEYOR_VALIDATION: 'input failed validation; `details.issues` names each field',
  CONVEYOR_INVALID_NAME: 'a queue name, type or id has characters a store cannot hold',
  CONVEYOR_DEPENDENCY_NOT_FOUND: 'a task depends on an id that does not exist',
  CONVEYOR_STORE_URL_INVALID: 'the store URL is not one of the supported forms',
  CONVEYOR_STORE_SCHEMA_TOO_NEW: 'the store was migrated by a newer Conveyor than this one',
  CONVEYOR_TASK_NOT_FOUND: 'no task has this id: it never existed, or retention deleted it; `details.id` names it',
  CONVEYOR_QUEUE_NOT_FOUND: 'no queue has this name: it never held a task and was never paused; `details.queue` names it',
  CONVEYOR_SCHEDULE_NOT_FOUND: 'no schedule has this name; `details.name` names it',
  CONVEYOR_TASK_NOT_RETRYABLE: 'only a dead or cancelled task can be retried; `details.state` is where the task is',
  CONVEYOR_TASK_FAILED: 'a waited-for task ended dead or cancelled; `details.error` is its last error',
  CONVEYOR_WAIT_TIMEOUT: 'a waited-for task did not finish in time (it goes on); `details.state` is where it was',
  CONVEYOR_BATCH_TOO_LARGE: 'a batch holds more items than allowed; `details.max` is the limit',
  CONVEYOR_CONFIG_INVALID: 'a configuration value (file, environment or flag) is invalid; the message names the key, its source and what is allowed',
  CONVEYOR_LEASE_LOST: 'a complete or fail carried a lease token the task no longer holds (lease expired, reclaimed or stolen); nothing was written',
  CONVEYOR_UNAUTHORIZED: 'the HTTP API needs `Authorization: Bearer <token>` with a configured token',
  CONVEYOR_FORBIDDEN: "the token is valid but lacks the route's scope; `details.required` names it",
  CONVEYOR_ROUTE_NOT_FOUND: 'no HTTP route has this method and path; `details.method` and `details.url` name them',
  CONVEYOR_STORE_UNAVAILABLE: 'the store did not answer (GET /ready)',
  CONVEYOR_INTERNAL: 'an unexpected error; the server logged it',
} as const;

export type ErrorCode = keyof typeof ERROR_CODES;

export class ConveyorError extends Error {
  override readonly name = 'ConveyorError';
  readonly code: ErrorCode;
  readonly details: Record<string, unknown>;

  constructor(code: ErrorCode, message: string, details: Record<string, unknown> = {}) {
    super(message);
    this.code = code;
    this.details = details;
  }

  toJSON(): { code: ErrorCode; message: string; details: Record<string, unknown> } {
    return { code: this.code, message: this.message, details: this.details };
  }
}

export function isConveyorError(err: unknown, code?: ErrorCode): err is ConveyorError {
  return err instanceof ConveyorError && (code === undefined || err.code === code);
}
