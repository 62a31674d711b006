import { describe, expect, it } from 'vitest';
import { parseDuration } from '../../src/duration.js';
import { ConveyorError, isConveyorError } from '../../src/errors.js';
import { isTaskId, newTaskId } from '../../src/ids.js';
import { DEFAULT_BACKOFF } from '../../src/retry/retry-policy.js';
import {
  PAYLOAD_MAX_BYTES,
  PAYLOAD_MAX_DEPTH,
  PAYLOAD_MAX_KEYS,
  createSubmitTaskSchema,
  findJsonProblem,
  formatIssuePath,
  parseSubmitTask,
  submitTaskSchema,
  toNewTask,
  type SubmitTaskInput,
  type SubmitTaskOptions,
  type ValidationIssue,
} from '../../src/schemas.js';

const NOW = Date.UTC(2030, 0, 1, 12, 0, 0);
const DEP_A = newTaskId();
const DEP_B = newTaskId();

/** Parses, expecting a validation error; returns it. */
function reject(input: unknown, now = NOW): ConveyorError {
  try {
    parseSubmitTask(input, now);
  } catch (err) {
    expect(isConveyorError(err, 'CONVEYOR_VALIDATION')).toBe(true);
    return err as ConveyorError;
  }
  throw new Error(`expected ${JSON.stringify(input)} to be rejected`);
}

function issues(err: ConveyorError): ValidationIssue[] {
  return err.details.issues as ValidationIssue[];
}

/** The error names the field in its message and in details.issues, and says what is allowed. */
function expectFieldError(input: unknown, path: string, allowed: RegExp): ConveyorError {
  const err = reject(input);
  expect(issues(err).map((i) => i.path)).toContain(path);
  expect(err.message).toContain(`${path}: `);
  const issue = issues(err).find((i) => i.path === path);
  expect(issue?.message).toMatch(allowed);
  return err;
}

describe('parseSubmitTask: defaults', () => {
  it('fills every default from a bare type', () => {
    const task = parseSubmitTask({ type: 'email.send' }, NOW);
    expect(isTaskId(task.id)).toBe(true);
    expect(task).toEqual({
      id: task.id,
      queue: 'default',
      type: 'email.send',
      payload: null,
      priority: 5,
      maxAttempts: 4,
      backoff: { ...DEFAULT_BACKOFF },
      timeoutMs: null,
      deadline: null,
      dependsOn: [],
      key: null,
    });
    // No delay and no runAt: the store judges "now" on its own clock.
    expect('runAt' in task).toBe(false);
  });

  it('gives each task a fresh id', () => {
    expect(parseSubmitTask({ type: 't' }, NOW).id).not.toBe(parseSubmitTask({ type: 't' }, NOW).id);
  });

  it('keeps every given field', () => {
    const task = parseSubmitTask(
      {
        queue: 'reports',
        type: 'report:build',
        payload: { month: '2030-01', ids: [1, 2, 3], nested: { ok: true, none: null } },
        priority: 9,
        delay: '10s',
        retries: 0,
        backoff: { type: 'linear', delay: '2s', maxDelay: '1m', jitter: 0 },
        timeout: '30s',
        deadline: '2030-01-02T00:00:00Z',
        dependsOn: [DEP_A, DEP_B],
        key: 'report-2030-01',
      },
      NOW,
    );
    expect(task).toMatchObject({
      queue: 'reports',
      type: 'report:build',
      payload: { month: '2030-01', ids: [1, 2, 3], nested: { ok: true, none: null } },
      priority: 9,
      delayMs: 10_000,
      maxAttempts: 1,
      backoff: { kind: 'linear', delayMs: 2000, maxDelayMs: 60_000, jitter: 0 },
      timeoutMs: 30_000,
      deadline: Date.UTC(2030, 0, 2),
      dependsOn: [DEP_A, DEP_B],
      key: 'report-2030-01',
    });
  });

  it('accepts null for the optional fields that default to "not set"', () => {
    const task = parseSubmitTask({ type: 't', delay: null, runAt: null, timeout: null, deadline: null, key: null }, NOW);
    expect(task).toMatchObject({ timeoutMs: null, deadline: null, key: null });
    expect(task.runAt).toBeUndefined();
  });

  it('the schema output is normalised and the input type allows names and strings', () => {
    // Type-level checks (tsc runs over the tests in `npm run lint`).
    const options: SubmitTaskOptions = { type: 't', priority: 'high', delay: '1m', payload: { a: [1] }, deadline: NOW };
    // @ts-expect-error: not a priority name
    const wrong: SubmitTaskOptions = { type: 't', priority: 'urgent' };
    expect(wrong.type).toBe('t');
    const parsed: SubmitTaskInput = submitTaskSchema.parse(options);
    const priority: number = parsed.priority;
    expect(priority).toBe(8);
    expect(parsed).toMatchObject({ priority: 8, delayMs: 60_000, runAt: null, deadline: NOW, payload: { a: [1] } });
    const task = toNewTask(parsed);
    // The store adds the delay to its own clock.
    expect(task).toMatchObject({ delayMs: 60_000 });
    expect(task.runAt).toBeUndefined();
  });
});

describe('priority', () => {
  it('maps the names', () => {
    const p = (priority: unknown) => parseSubmitTask({ type: 't', priority }, NOW).priority;
    expect([p('low'), p('normal'), p('high'), p('critical')]).toEqual([2, 5, 8, 10]);
  });

  it('accepts integers 0–10', () => {
    for (const n of [0, 1, 5, 10]) expect(parseSubmitTask({ type: 't', priority: n }, NOW).priority).toBe(n);
  });

  it('refuses anything else, naming the field and what is allowed', () => {
    for (const bad of [11, -1, 2.5, 'urgent', 'HIGH', '5', true, null, {}]) {
      const err = expectFieldError({ type: 't', priority: bad }, 'priority', /integer 0–10.*"low", "normal", "high", "critical"/);
      expect(issues(err)).toHaveLength(1);
    }
  });
});

describe('durations', () => {
  it('parseDuration reads numbers as ms and strings with units', () => {
    expect(parseDuration(0, 'f')).toBe(0);
    expect(parseDuration(1500, 'f')).toBe(1500);
    expect(parseDuration('500ms', 'f')).toBe(500);
    expect(parseDuration('5s', 'f')).toBe(5000);
    expect(parseDuration('1.5s', 'f')).toBe(1500);
    expect(parseDuration('2m', 'f')).toBe(120_000);
    expect(parseDuration('1h', 'f')).toBe(3_600_000);
    expect(parseDuration('1d', 'f')).toBe(86_400_000);
    expect(parseDuration('2500', 'f')).toBe(2500);
  });

  it('parseDuration names the field, the value and what is allowed', () => {
    for (const bad of [-1, 1.5, Number.NaN, Number.POSITIVE_INFINITY, '', '  ', 'soon', '-5s', '5 parsecs', '200y']) {
      let caught: unknown;
      try {
        parseDuration(bad, 'worker.leaseTimeout');
      } catch (err) {
        caught = err;
      }
      expect(isConveyorError(caught, 'CONVEYOR_VALIDATION')).toBe(true);
      const message = (caught as ConveyorError).message;
      expect(message).toMatch(/^worker\.leaseTimeout: must be/);
      expect(message).toContain('"5s"');
      expect(message).toContain(typeof bad === 'string' ? JSON.stringify(bad) : String(bad));
    }
  });

  it('durations in a submit become milliseconds', () => {
    const task = parseSubmitTask({ type: 't', delay: 250, timeout: '1.5s', backoff: { delay: '500ms', maxDelay: '2h' } }, NOW);
    expect(task.delayMs).toBe(250);
    expect(task.timeoutMs).toBe(1500);
    expect(task.backoff).toEqual({ ...DEFAULT_BACKOFF, delayMs: 500, maxDelayMs: 7_200_000 });
  });

  it('bad durations name their field', () => {
    expectFieldError({ type: 't', delay: 'later' }, 'delay', /"later".*|.*"later"/);
    expectFieldError({ type: 't', delay: -5 }, 'delay', /non-negative integer/);
    expectFieldError({ type: 't', timeout: true }, 'timeout', /milliseconds.*got true/);
    expectFieldError({ type: 't', timeout: 0 }, 'timeout', /at least 1ms/);
    expectFieldError({ type: 't', backoff: { delay: 'x' } }, 'backoff.delay', /"5s"/);
    expectFieldError({ type: 't', backoff: { maxDelay: [] } }, 'backoff.maxDelay', /got an array/);
  });
});

describe('delay and runAt', () => {
  it('a zero delay leaves the due time to the store', () => {
    expect(parseSubmitTask({ type: 't', delay: 0 }, NOW).runAt).toBeUndefined();
  });

  it('runAt takes an ISO date-time with a timezone or epoch ms', () => {
    expect(parseSubmitTask({ type: 't', runAt: '2030-01-01T13:00:00Z' }, NOW).runAt).toBe(NOW + 3_600_000);
    expect(parseSubmitTask({ type: 't', runAt: '2030-01-01T14:00:00.500+01:00' }, NOW).runAt).toBe(NOW + 3_600_500);
    expect(parseSubmitTask({ type: 't', runAt: NOW + 5 }, NOW).runAt).toBe(NOW + 5);
    // A runAt in the past is simply due.
    expect(parseSubmitTask({ type: 't', runAt: 0 }, NOW).runAt).toBe(0);
  });

  it('refuses a runAt without a timezone or that is no date', () => {
    for (const bad of ['2030-01-01 13:00:00', '2030-01-01T13:00:00', '2030-02-30T00:00:00Z', 'tomorrow', -1, 1.5, 9e15]) {
      expectFieldError({ type: 't', runAt: bad }, 'runAt', /ISO 8601 date-time with a timezone.*epoch milliseconds/);
    }
  });

  it('refuses both at once', () => {
    const err = expectFieldError({ type: 't', delay: '5s', runAt: NOW + 1000 }, 'runAt', /either delay .* or runAt/);
    expect(err.message).toContain('delay');
  });

  it('refuses a deadline at or before an explicit due time', () => {
    expectFieldError({ type: 't', delay: '1h', deadline: NOW + 1000 }, 'deadline', /must be after the task is due/);
    expectFieldError({ type: 't', runAt: NOW + 5000, deadline: NOW + 5000 }, 'deadline', /must be after/);
    // Due now with a deadline already past: the store judges it on its own clock.
    expect(parseSubmitTask({ type: 't', deadline: NOW - 1 }, NOW).deadline).toBe(NOW - 1);
  });
});

describe('retries, backoff, timeout, deadline, dependsOn, key', () => {
  it('retries maps to maxAttempts', () => {
    expect(parseSubmitTask({ type: 't', retries: 0 }, NOW).maxAttempts).toBe(1);
    expect(parseSubmitTask({ type: 't', retries: 100 }, NOW).maxAttempts).toBe(101);
    for (const bad of [-1, 101, 1.5, '3']) expectFieldError({ type: 't', retries: bad }, 'retries', /integer 0–100/);
  });

  it('a partial backoff is filled from the default', () => {
    expect(parseSubmitTask({ type: 't', backoff: { type: 'fixed' } }, NOW).backoff).toEqual({ ...DEFAULT_BACKOFF, kind: 'fixed' });
    expect(parseSubmitTask({ type: 't', backoff: { jitter: 0 } }, NOW).backoff).toEqual({ ...DEFAULT_BACKOFF, jitter: 0 });
    expect(parseSubmitTask({ type: 't', backoff: {} }, NOW).backoff).toEqual({ ...DEFAULT_BACKOFF });
  });

  it('a backoff delay above the default cap raises the cap when none is given', () => {
    expect(parseSubmitTask({ type: 't', backoff: { type: 'fixed', delay: '2h' } }, NOW).backoff.maxDelayMs).toBe(7_200_000);
  });

  it('refuses a bad backoff, naming the part', () => {
    expectFieldError({ type: 't', backoff: { type: 'random' } }, 'backoff.type', /"fixed", "exponential", "linear"/);
    expectFieldError({ type: 't', backoff: { jitter: 1.5 } }, 'backoff.jitter', /0 .* to 1/);
    expectFieldError({ type: 't', backoff: { delay: '1m', maxDelay: '1s' } }, 'backoff.maxDelay', /at least backoff\.delay/);
    expectFieldError({ type: 't', backoff: 'exponential' }, 'backoff', /an object with any of type, delay, maxDelay, jitter/);
    expectFieldError({ type: 't', backoff: { factor: 2 } }, 'backoff.factor', /unknown field; allowed: type, delay, maxDelay, jitter/);
  });

  it('deadline takes the same forms as runAt', () => {
    expect(parseSubmitTask({ type: 't', deadline: '2030-06-01T00:00:00Z' }, NOW).deadline).toBe(Date.UTC(2030, 5, 1));
    expectFieldError({ type: 't', deadline: 'next week' }, 'deadline', /ISO 8601/);
  });

  it('dependsOn takes task ids, case-insensitively and without repeats', () => {
    expect(parseSubmitTask({ type: 't', dependsOn: [DEP_A, DEP_A.toLowerCase(), DEP_B] }, NOW).dependsOn).toEqual([DEP_A, DEP_B]);
    expectFieldError({ type: 't', dependsOn: [DEP_A, 'task-1'] }, 'dependsOn[1]', /a task id .*"task-1"/);
    expectFieldError({ type: 't', dependsOn: [DEP_A, 7] }, 'dependsOn[1]', /a task id .*got 7/);
    expectFieldError({ type: 't', dependsOn: DEP_A }, 'dependsOn', /array of at most 100 task ids/);
    const many = Array.from({ length: 101 }, () => newTaskId());
    expectFieldError({ type: 't', dependsOn: many }, 'dependsOn', /at most 100/);
  });

  it('key is a string of 1–256 characters', () => {
    expect(parseSubmitTask({ type: 't', key: 'k'.repeat(256) }, NOW).key).toHaveLength(256);
    for (const bad of ['', 'k'.repeat(257), 42]) expectFieldError({ type: 't', key: bad }, 'key', /1–256 characters/);
  });
});

describe('names', () => {
  it('queue and type follow the name rules', () => {
    expectFieldError({ type: 't', queue: 'bad queue' }, 'queue', /letters, digits/);
    expectFieldError({ type: 't', queue: '{x}' }, 'queue', /"\{x\}"/);
    expectFieldError({ type: 't', queue: 'q'.repeat(101) }, 'queue', /1–100 characters/);
    expectFieldError({ type: 'has space' }, 'type', /task type of 1–200 characters/);
    expectFieldError({ type: 7 }, 'type', /got 7/);
  });

  it('type is required', () => {
    expectFieldError({}, 'type', /^is required/);
    expectFieldError({ queue: 'q' }, 'type', /^is required/);
  });

  it('the input must be an object', () => {
    for (const bad of [null, 'email', 42, [], undefined]) {
      const err = reject(bad);
      expect(issues(err)).toEqual([{ path: '', message: expect.stringMatching(/an object with at least a "type" field/) }]);
    }
  });
});

describe('unknown fields', () => {
  it('are refused by name, with the allowed fields and a suggestion', () => {
    const err = reject({ type: 't', retry: 3, colour: 'blue' });
    expect(issues(err).map((i) => i.path)).toEqual(['retry', 'colour']);
    expect(err.message).toContain('retry: unknown field (did you mean "retries"?)');
    expect(err.message).toContain('colour: unknown field; allowed: queue, type, payload');
  });

  it('suggest the camelCase spelling of a snake_case field', () => {
    const err = reject({ type: 't', depends_on: [] });
    expect(issues(err)[0]?.message).toContain('did you mean "dependsOn"?');
  });

  it('the schema alone also names the unknown field', () => {
    const result = submitTaskSchema.safeParse({ type: 't', priorty: 1 });
    expect(result.success).toBe(false);
    expect(result.error?.issues[0]?.message).toContain('unknown field "priorty" (did you mean "priority"?)');
  });
});

describe('every error names the field', () => {
  it('reports all bad fields at once', () => {
    const err = reject({ queue: '', type: '', priority: 99, retries: -1, key: '', timeout: 'x' });
    expect(issues(err).map((i) => i.path).sort()).toEqual(['key', 'priority', 'queue', 'retries', 'timeout', 'type']);
    for (const { path } of issues(err)) expect(err.message).toContain(`${path}: `);
    expect(err.message.startsWith('invalid task: ')).toBe(true);
  });

  it('serializes as { code, message, details.issues }', () => {
    const json = JSON.parse(JSON.stringify(reject({ type: 't', priority: 'max' })));
    expect(json).toEqual({
      code: 'CONVEYOR_VALIDATION',
      message: expect.stringContaining('priority'),
      details: { issues: [{ path: 'priority', message: expect.stringContaining('"max"') }] },
    });
  });

  it('keeps the message short when there are many issues', () => {
    const input: Record<string, unknown> = { type: 't' };
    for (let i = 0; i < 30; i++) input[`extra${i}`] = i;
    const err = reject(input);
    expect(issues(err)).toHaveLength(30);
    expect(err.message).toContain('and 20 more');
  });

  it('formats paths', () => {
    expect(formatIssuePath([])).toBe('');
    expect(formatIssuePath(['backoff', 'delay'])).toBe('backoff.delay');
    expect(formatIssuePath(['dependsOn', 2])).toBe('dependsOn[2]');
    expect(formatIssuePath(['payload', 'a b', 0, 'c'])).toBe('payload["a b"][0].c');
  });
});

describe('payload safety', () => {
  it('accepts any plain JSON', () => {
    for (const payload of [null, true, 0, -1.5, 'text', [], {}, [1, 'a', null, { b: [false] }], Object.create(null)]) {
      expect(parseSubmitTask({ type: 't', payload }, NOW).payload).toEqual(payload);
    }
  });

  it('refuses __proto__, constructor and prototype keys at any depth', () => {
    const parsed = JSON.parse('{"user":{"profile":[{"__proto__":{"admin":true}}]}}');
    expectFieldError({ type: 't', payload: parsed }, 'payload.user.profile[0].__proto__', /"__proto__" is not allowed/);
    expectFieldError({ type: 't', payload: { constructor: { prototype: 1 } } }, 'payload.constructor', /not allowed/);
    expectFieldError({ type: 't', payload: { a: { prototype: {} } } }, 'payload.a.prototype', /not allowed/);
    expectFieldError({ type: 't', payload: JSON.parse('{"__proto__":null}') }, 'payload.__proto__', /not allowed/);
  });

  it('refuses what is not JSON', () => {
    expectFieldError({ type: 't', payload: { at: new Date(0) } }, 'payload.at', /a Date is not a plain object/);
    expectFieldError({ type: 't', payload: { m: new Map() } }, 'payload.m', /a Map is not a plain object/);
    expectFieldError({ type: 't', payload: { f: () => 1 } }, 'payload.f', /a function is not a JSON value/);
    expectFieldError({ type: 't', payload: { u: undefined } }, 'payload.u', /undefined is not a JSON value/);
    expectFieldError({ type: 't', payload: [1, Number.NaN] }, 'payload[1]', /NaN is not a JSON number/);
    expectFieldError({ type: 't', payload: { big: 1n } }, 'payload.big', /a bigint/);
    // eslint-disable-next-line no-sparse-arrays
    expectFieldError({ type: 't', payload: [1, , 3] }, 'payload[1]', /sparse array/);
  });

  it(`limits depth to ${PAYLOAD_MAX_DEPTH}`, () => {
    const nest = (levels: number): unknown => (levels === 0 ? 1 : { a: nest(levels - 1) });
    expect(() => parseSubmitTask({ type: 't', payload: nest(PAYLOAD_MAX_DEPTH) }, NOW)).not.toThrow();
    const err = reject({ type: 't', payload: nest(PAYLOAD_MAX_DEPTH + 1) });
    expect(issues(err)[0]?.path.startsWith('payload.a.a')).toBe(true);
    expect(issues(err)[0]?.message).toContain('deeper than 32 levels');
    const deepArray = JSON.parse('['.repeat(PAYLOAD_MAX_DEPTH + 1) + ']'.repeat(PAYLOAD_MAX_DEPTH + 1));
    expect(issues(reject({ type: 't', payload: deepArray }))[0]?.message).toContain('deeper than 32 levels');
  });

  it('a cycle is refused by the depth limit, not a stack overflow', () => {
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    expect(issues(reject({ type: 't', payload: cyclic }))[0]?.message).toContain('deeper than');
  });

  it(`limits keys to ${PAYLOAD_MAX_KEYS} in all`, () => {
    const object = (n: number, offset = 0) => Object.fromEntries(Array.from({ length: n }, (_, i) => [`k${i + offset}`, i]));
    expect(() => parseSubmitTask({ type: 't', payload: object(PAYLOAD_MAX_KEYS) }, NOW)).not.toThrow();
    expectFieldError({ type: 't', payload: object(PAYLOAD_MAX_KEYS + 1) }, 'payload', /more than 10000 object keys/);
    // Counted across nested objects, not per object.
    const split = { a: object(6000), b: object(4000, 6000) };
    expectFieldError({ type: 't', payload: split }, 'payload', /more than 10000 object keys/);
  });

  it(`limits the serialized size to ${PAYLOAD_MAX_BYTES} bytes`, () => {
    const overhead = JSON.stringify({ s: '' }).length;
    const fits = { s: 'x'.repeat(PAYLOAD_MAX_BYTES - overhead) };
    expect(() => parseSubmitTask({ type: 't', payload: fits }, NOW)).not.toThrow();
    const err = expectFieldError({ type: 't', payload: { s: 'x'.repeat(PAYLOAD_MAX_BYTES) } }, 'payload', /at most 1048576 bytes/);
    // The payload itself is never echoed into the message.
    expect(err.message.length).toBeLessThan(500);
    // Bytes, not characters: multi-byte text counts in full.
    expectFieldError({ type: 't', payload: 'é'.repeat(PAYLOAD_MAX_BYTES / 2) }, 'payload', /bytes as JSON/);
  });

  it('limits can be set per schema', () => {
    const schema = createSubmitTaskSchema({ payloadLimits: { maxBytes: 100, maxDepth: 2 } });
    expect(() => parseSubmitTask({ type: 't', payload: 'x'.repeat(200) }, NOW, schema)).toThrow(/at most 100 bytes/);
    expect(() => parseSubmitTask({ type: 't', payload: [[[1]]] }, NOW, schema)).toThrow(/deeper than 2 levels/);
    expect(() => parseSubmitTask({ type: 't', payload: [[1]] }, NOW, schema)).not.toThrow();
  });

  it('findJsonProblem reports nothing for fine values', () => {
    expect(findJsonProblem({ a: [1, 'b', null, { c: false }] })).toBeNull();
  });
});
