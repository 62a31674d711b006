import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createLogger } from '../../src/observability/logger.js';

function capture(): { stream: PassThrough; lines: () => Record<string, unknown>[]; text: () => string } {
  const stream = new PassThrough();
  const chunks: string[] = [];
  stream.on('data', (chunk: Buffer) => chunks.push(chunk.toString('utf8')));
  const text = (): string => chunks.join('');
  return {
    stream,
    text,
    lines: () =>
      text()
        .split('\n')
        .filter((line) => line.trim() !== '')
        .map((line) => JSON.parse(line) as Record<string, unknown>),
  };
}

describe('createLogger', () => {
  it('writes one JSON line per event with the child bindings, the level name and an ISO time', async () => {
    const out = capture();
    const logger = createLogger({ destination: out.stream, pretty: false, level: 'debug' });
    logger.child({ workerId: 'w1' }).child({ taskId: 't1', queue: 'q', type: 'email' }).warn({ attempt: 2 }, 'attempt failed');
    await new Promise((resolve) => setImmediate(resolve));
    const [line] = out.lines();
    expect(line).toMatchObject({ msg: 'attempt failed', workerId: 'w1', taskId: 't1', queue: 'q', type: 'email', attempt: 2 });
    expect(line!.level).toBe(40);
    expect(Date.parse(String(line!.time))).not.toBeNaN();
  });

  it('serialises errors with their type, message and stack', async () => {
    const out = capture();
    createLogger({ destination: out.stream, pretty: false }).error({ err: new TypeError('boom') }, 'failed');
    await new Promise((resolve) => setImmediate(resolve));
    expect(out.lines()[0]!.err).toMatchObject({ type: 'TypeError', message: 'boom', stack: expect.stringContaining('TypeError: boom') });
  });

  it('drops events below its level', async () => {
    const out = capture();
    const logger = createLogger({ destination: out.stream, pretty: false, level: 'warn' });
    logger.info({}, 'hidden');
    logger.warn({}, 'shown');
    await new Promise((resolve) => setImmediate(resolve));
    expect(out.lines().map((line) => line.msg)).toEqual(['shown']);
  });

  it('writes human-readable lines when pretty', async () => {
    const out = capture();
    createLogger({ destination: out.stream, pretty: true }).info({ taskId: 't1' }, 'task completed');
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(out.text()).toContain('task completed');
    expect(out.text()).toContain('taskId');
    expect(() => JSON.parse(out.text())).toThrow();
  });
});
