import { randomUUID } from 'node:crypto';
import { newTaskId } from '../../src/ids.js';
import type { NewTask, Store } from '../../src/store/store.js';

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

/** Claims the queue's due tasks and fails them for good: they end `dead` with `message`. */
export async function killAll(store: Store, queue: string, message = 'boom'): Promise<string[]> {
  const claimed = await store.claimTasks({ queues: [queue], workerId: 'test-worker', limit: 1000, leaseMs: 60_000 });
  await store.finishTasks({
    items: claimed.map((task) => ({
      id: task.id,
      queue: task.queue,
      token: task.leaseToken,
      outcome: 'fail' as const,
      error: { reason: 'error' as const, message },
      retryDelayMs: 0,
      permanent: true,
    })),
  });
  return claimed.map((task) => task.id);
}
