import { ConveyorError } from './errors.js';

/**
 * Names that reach storage keys. Queue names become part of Redis keys (inside a `{…}` hash tag),
 * so they are checked here, once, and again by the stores before any key is built.
 */
export const QUEUE_NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$/;
/** Task types name handlers; they never reach a key but are shown everywhere, so keep them tame. */
export const TASK_TYPE_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.:/-]{0,199}$/;

export const QUEUE_NAME_RULE = '1–100 characters: letters, digits, "_", "-" and ".", starting with a letter or digit';
export const TASK_TYPE_RULE = '1–200 characters: letters, digits, "_", "-", ".", ":" and "/", starting with a letter or digit';

export function assertQueueName(queue: string): void {
  if (!QUEUE_NAME_PATTERN.test(queue)) {
    throw new ConveyorError('CONVEYOR_INVALID_NAME', `queue name ${JSON.stringify(queue)} is invalid: use ${QUEUE_NAME_RULE}`, {
      field: 'queue',
      value: queue,
    });
  }
}

/** Schedule names follow the queue-name rule: they are shown and addressed like queues. */
export function assertScheduleName(name: string): void {
  if (!QUEUE_NAME_PATTERN.test(name)) {
    throw new ConveyorError('CONVEYOR_INVALID_NAME', `schedule name ${JSON.stringify(name)} is invalid: use ${QUEUE_NAME_RULE}`, {
      field: 'name',
      value: name,
    });
  }
}
