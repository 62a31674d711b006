import { randomUUID } from 'node:crypto';
import { newTaskId } from '../../src/ids.js';
import type { NewTask } from '../../src/store/store.js';

/**
 * A valid, normalised task as the client would hand it to a store. The id is made here, at call
 * time, so tasks built one after the other have increasing ids (UUIDv7).
 */
export function newTask(overrides: Partial<NewTask> = {}): NewTask {
  return {
    id: newTaskId(),
    queue: 'default',
    type: 'test',
    payload: {},
    priority: 5,
    maxAttempts: 3,
    backoff: { kind: 'fixed', delayMs: 1000, maxDelayMs: 3_600_000, jitter: 0 },
    timeoutMs: null,
    deadline: null,
    dependsOn: [],
    key: null,
    ...overrides,
  };
}

/** A queue name no other test uses, for tests that share one store. */
export function uniqueQueueName(base = 'q'): string {
  return `${base}-${randomUUID().slice(0, 8)}`;
}
