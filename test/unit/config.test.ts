import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig, type LoadConfigOptions } from '../../src/config/load.js';
import { configSchema, type Config } from '../../src/config/schema.js';
import { DEFAULT_RETENTION } from '../../src/coordinator/services/retention-cleaner.js';
import { ConveyorError, isConveyorError } from '../../src/errors.js';
import { DEFAULT_BACKOFF, DEFAULT_RETRIES } from '../../src/retry/retry-policy.js';
import { DEFAULT_STORE_URL } from '../../src/store/open-store.js';

const dirs: string[] = [];

afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

/** A fresh, empty folder that the test's afterEach removes. */
function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'conveyor-config-'));
  dirs.push(dir);
  return dir;
}

/** A folder holding `name` with `text`; returns the folder and the file's path. */
function withFile(text: string, name = 'conveyor.yaml'): { dir: string; file: string } {
  const dir = tempDir();
  const file = join(dir, name);
  writeFileSync(file, text);
  return { dir, file };
}

/** Loads in an empty folder with an empty environment unless told otherwise. */
function load(options: LoadConfigOptions = {}): Config {
  return loadConfig({ env: {}, ...options, cwd: options.cwd ?? tempDir() });
}

/** Loads expecting CONVEYOR_CONFIG_INVALID; returns the error. */
function reject(options: LoadConfigOptions = {}): ConveyorError {
  try {
    load(options);
  } catch (err) {
    expect(isConveyorError(err, 'CONVEYOR_CONFIG_INVALID'), String(err)).toBe(true);
    return err as ConveyorError;
  }
  throw new Error('expected the configuration to be rejected');
}

/** The message names every part given: the key, the value, the source and what is allowed. */
function expectNames(err: ConveyorError, ...parts: string[]): void {
  for (const part of parts) expect(err.message).toContain(part);
}

describe('configuration defaults', () => {
  it('gives every key its default when nothing is configured', () => {
    const config = load();
    expect(config).toEqual({
      store: DEFAULT_STORE_URL,
      prefix: 'conveyor',
      host: '127.0.0.1',
      port: 8080,
      eventsRetain: 10_000,
      queues: ['default'],
      concurrency: 10,
      prefetch: 0,
      steal: false,
      sandbox: false,
      leaseMs: 30_000,
      shutdownGraceMs: 30_000,
      leaderLeaseMs: 10_000,
      defaults: { retries: DEFAULT_RETRIES, backoff: { ...DEFAULT_BACKOFF } },
      retention: { default: { ...DEFAULT_RETENTION }, queues: {} },
      payloadLimit: 1024 * 1024,
      log: { level: 'info' },
      auth: { tokens: [] },
      http: { allowPrivateNetworks: false },
    });
    expect(config.handlers).toBeUndefined();
  });

  it('is frozen all the way down', () => {
    const config = load();
    expect(Object.isFrozen(config)).toBe(true);
    expect(Object.isFrozen(config.queues)).toBe(true);
    expect(Object.isFrozen(config.retention.default)).toBe(true);
    expect(() => {
      (config as { port: number }).port = 1;
    }).toThrow(TypeError);
  });

  it('the schema alone parses an empty input to the same defaults', () => {
    expect(configSchema.parse({})).toEqual(load());
  });
});

describe('each source alone', () => {
  it('reads conveyor.yaml from cwd, durations and nested keys included', () => {
    const { dir } = withFile(
      [
        'store: redis://127.0.0.1:6390/2',
        'prefix: "conveyor-test"',
        'host: 0.0.0.0',
        'port: 9000',
        'handlers: ./jobs/handlers.js',
        'queues: [emails, reports]',
        'concurrency: "2:20"',
        'prefetch: 5',
        'steal: true',
        'sandbox: true',
        'lease: 45s',
        'shutdownGrace: 1m',
        'leaderLease: 5000',
        'defaults:',
        '  retries: 7',
        '  backoff: { type: fixed, delay: 2s }',
        'retention:',
        '  completed: 2h',
        '  queues:',
        '    emails: { dead: 30d }',
        'payloadLimit: 2048',
        'log: { level: debug, pretty: true }',
        'auth:',
        '  tokens:',
        '    - token: 0123456789abcdef0123',
        '      scopes: [submit, work]',
        'http: { allowPrivateNetworks: true }',
        '',
      ].join('\n'),
    );
    const config = loadConfig({ cwd: dir, env: {} });
    expect(config).toMatchObject({
      store: 'redis://127.0.0.1:6390/2',
      prefix: 'conveyor-test',
      host: '0.0.0.0',
      port: 9000,
      handlers: join(dir, 'jobs/handlers.js'),
      queues: ['emails', 'reports'],
      concurrency: '2:20',
      prefetch: 5,
      steal: true,
      sandbox: true,
      leaseMs: 45_000,
      shutdownGraceMs: 60_000,
      leaderLeaseMs: 5_000,
      defaults: { retries: 7, backoff: { kind: 'fixed', delayMs: 2_000, maxDelayMs: DEFAULT_BACKOFF.maxDelayMs, jitter: DEFAULT_BACKOFF.jitter } },
      retention: {
        default: { completedMs: 2 * 3_600_000, deadMs: DEFAULT_RETENTION.deadMs, cancelledMs: DEFAULT_RETENTION.cancelledMs },
        queues: { emails: { deadMs: 30 * 86_400_000 } },
      },
      payloadLimit: 2048,
      log: { level: 'debug', pretty: true },
      auth: { tokens: [{ token: '0123456789abcdef0123', scopes: ['submit', 'work'] }] },
      http: { allowPrivateNetworks: true },
    });
  });

  it('reads conveyor.yml too, and an empty file is all defaults', () => {
    expect(loadConfig({ cwd: withFile('port: 9001\n', 'conveyor.yml').dir, env: {} }).port).toBe(9001);
    expect(loadConfig({ cwd: withFile('').dir, env: {} })).toEqual(load());
    expect(loadConfig({ cwd: withFile('# nothing yet\nretention:\n').dir, env: {} })).toEqual(load());
  });

  it('reads the file named by --config, relative to cwd, and resolves handlers from its folder', () => {
    const cwd = tempDir();
    mkdirSync(join(cwd, 'etc'));
    writeFileSync(join(cwd, 'etc', 'conveyor.yaml'), 'port: 9002\nhandlers: ../src/handlers.js\n');
    writeFileSync(join(cwd, 'conveyor.yaml'), 'port: 1\n'); // not read: --config wins
    const config = loadConfig({ cwd, env: {}, file: 'etc/conveyor.yaml' });
    expect(config.port).toBe(9002);
    expect(config.handlers).toBe(join(cwd, 'src', 'handlers.js'));
    expect(loadConfig({ cwd, env: {}, flags: { config: 'etc/conveyor.yaml' } }).port).toBe(9002);
    expect(loadConfig({ cwd, env: { CONVEYOR_CONFIG: 'etc/conveyor.yaml' } }).port).toBe(9002);
  });

  it('reads CONVEYOR_* variables', () => {
    const config = load({
      env: {
        CONVEYOR_STORE: 'sqlite::memory:',
        CONVEYOR_PORT: '9100',
        CONVEYOR_LOG__LEVEL: 'warn',
        CONVEYOR_LOG__PRETTY: 'false',
        CONVEYOR_CONCURRENCY: '2:20',
        CONVEYOR_QUEUES: 'a, b,,c',
        CONVEYOR_STEAL: 'true',
        CONVEYOR_SANDBOX: 'TRUE',
        CONVEYOR_LEASE: '45s',
        CONVEYOR_SHUTDOWN_GRACE: '5000',
        CONVEYOR_PAYLOAD_LIMIT: '4096',
        CONVEYOR_DEFAULTS__RETRIES: '0',
        CONVEYOR_DEFAULTS__BACKOFF__TYPE: 'linear',
        CONVEYOR_DEFAULTS__BACKOFF__JITTER: '0.5',
        CONVEYOR_HTTP__ALLOW_PRIVATE_NETWORKS: 'true',
        CONVEYOR_AUTH__TOKENS: '[{"token":"0123456789abcdef0123","scopes":["admin"]}]',
        PATH: '/usr/bin',
      },
    });
    expect(config).toMatchObject({
      store: 'sqlite::memory:',
      port: 9100,
      log: { level: 'warn', pretty: false },
      concurrency: '2:20',
      queues: ['a', 'b', 'c'],
      steal: true,
      sandbox: true,
      leaseMs: 45_000,
      shutdownGraceMs: 5_000,
      payloadLimit: 4096,
      defaults: { retries: 0, backoff: { kind: 'linear', jitter: 0.5 } },
      http: { allowPrivateNetworks: true },
      auth: { tokens: [{ token: '0123456789abcdef0123', scopes: ['admin'] }] },
    });
  });

  it('reads numbers only where the schema expects a number, and a plain number of concurrency', () => {
    const config = load({ env: { CONVEYOR_CONCURRENCY: '4', CONVEYOR_PREFIX: '1234', CONVEYOR_HOST: '10' } });
    expect(config.concurrency).toBe(4);
    expect(config.prefix).toBe('1234');
    expect(config.host).toBe('10');
  });

  it('takes REDIS_URL as the store when CONVEYOR_STORE is absent', () => {
    expect(load({ env: { REDIS_URL: 'redis://cache:6379' } }).store).toBe('redis://cache:6379');
    expect(load({ env: { REDIS_URL: 'redis://cache:6379', CONVEYOR_STORE: 'redis://other:6379' } }).store).toBe('redis://other:6379');
    expect(load({ env: { REDIS_URL: 'redis://cache:6379', CONVEYOR_STORE: '' } }).store).toBe('redis://cache:6379');
  });

  it('ignores empty variables and the CONVEYOR_* variables that are not keys', () => {
    const config = load({ env: { CONVEYOR_PORT: '', CONVEYOR_SERVER: 'http://x', CONVEYOR_TOKEN: 'abc' } });
    expect(config.port).toBe(8080);
  });

  it('reads flags: values as given, strings like environment values, nested keys dotted or as objects', () => {
    const cwd = tempDir();
    const config = loadConfig({
      cwd,
      env: {},
      flags: {
        store: 'sqlite:./data/c.db',
        port: '9200',
        handlers: 'handlers.js',
        concurrency: 3,
        queues: 'x,y',
        steal: true,
        'shutdown-grace': '2s',
        'log.level': 'error',
        defaults: { retries: '9', backoff: { delay: '3s' } },
        prefetch: undefined,
      },
    });
    expect(config).toMatchObject({
      store: 'sqlite:./data/c.db',
      port: 9200,
      handlers: join(cwd, 'handlers.js'),
      concurrency: 3,
      queues: ['x', 'y'],
      steal: true,
      prefetch: 0,
      shutdownGraceMs: 2_000,
      log: { level: 'error' },
      defaults: { retries: 9, backoff: { delayMs: 3_000 } },
    });
  });
});

describe('precedence: flags over environment over file over defaults', () => {
  it('takes each key from the strongest source that sets it', () => {
    const { dir } = withFile('port: 1001\nhost: 0.0.0.0\nprefetch: 3\nlog:\n  level: debug\n  pretty: true\n');
    const env = { CONVEYOR_PORT: '1002', CONVEYOR_PREFETCH: '4', CONVEYOR_LOG__LEVEL: 'warn' };
    const flags = { port: 1003 };

    const all = loadConfig({ cwd: dir, env, flags });
    expect(all.port).toBe(1003); // flag
    expect(all.prefetch).toBe(4); // environment
    expect(all.host).toBe('0.0.0.0'); // file
    expect(all.payloadLimit).toBe(1024 * 1024); // default
    expect(all.log).toEqual({ level: 'warn', pretty: true }); // objects merge key by key

    expect(loadConfig({ cwd: dir, env }).port).toBe(1002);
    expect(loadConfig({ cwd: dir, env: {} }).port).toBe(1001);
    expect(load().port).toBe(8080);
  });

  it('a store from REDIS_URL beats the file, and a flag beats both', () => {
    const { dir } = withFile('store: sqlite:./file.db\n');
    expect(loadConfig({ cwd: dir, env: { REDIS_URL: 'redis://env:6379' } }).store).toBe('redis://env:6379');
    expect(loadConfig({ cwd: dir, env: { REDIS_URL: 'redis://env:6379' }, flags: { store: 'redis://flag:6379' } }).store).toBe('redis://flag:6379');
  });

  it('arrays replace rather than merge', () => {
    const { dir } = withFile(
      'queues: [a, b, c]\nauth:\n  tokens:\n    - { token: aaaaaaaaaaaaaaaa, scopes: [admin] }\n    - { token: bbbbbbbbbbbbbbbb, scopes: [work] }\n',
    );
    const config = loadConfig({
      cwd: dir,
      env: { CONVEYOR_QUEUES: 'd', CONVEYOR_AUTH__TOKENS: '[{"token":"cccccccccccccccc","scopes":["submit"]}]' },
    });
    expect(config.queues).toEqual(['d']);
    expect(config.auth.tokens).toEqual([{ token: 'cccccccccccccccc', scopes: ['submit'] }]);
  });

  it('merges retention per queue and per state across all three sources', () => {
    const { dir } = withFile(
      ['retention:', '  completed: 2h', '  queues:', '    emails:', '      completed: 1h', '    reports:', '      dead: 30d', ''].join('\n'),
    );
    const config = loadConfig({
      cwd: dir,
      env: { CONVEYOR_RETENTION__QUEUES__emails__DEAD: '3d', CONVEYOR_RETENTION__CANCELLED: '1d' },
      flags: { retention: { queues: { reports: { completed: '10m' }, 'big-jobs': { completed: '5m' } } } },
    });
    expect(config.retention).toEqual({
      default: { completedMs: 2 * 3_600_000, deadMs: DEFAULT_RETENTION.deadMs, cancelledMs: 86_400_000 },
      queues: {
        emails: { completedMs: 3_600_000, deadMs: 3 * 86_400_000 },
        reports: { deadMs: 30 * 86_400_000, completedMs: 600_000 },
        'big-jobs': { completedMs: 300_000 },
      },
    });
  });

  it('a more specific variable wins over an object in a less specific one', () => {
    const config = load({ env: { CONVEYOR_LOG__LEVEL: 'error', CONVEYOR_LOG: '{"level":"debug","pretty":true}' } });
    expect(config.log).toEqual({ level: 'error', pretty: true });
  });
});

describe('errors name the key, the value, the source and what is allowed', () => {
  it('an invalid port, from the environment and from a flag', () => {
    const fromEnv = reject({ env: { CONVEYOR_PORT: '70000' } });
    expectNames(fromEnv, 'port', '70000', 'environment variable CONVEYOR_PORT', 'an integer from 0 to 65535');
    expect(fromEnv.details.issues).toEqual([
      { path: 'port', message: 'must be an integer from 0 to 65535 (got 70000)', source: 'environment variable CONVEYOR_PORT' },
    ]);
    expectNames(reject({ flags: { port: 'eighty' } }), 'port', '"eighty"', 'flag --port', 'an integer from 0 to 65535');
  });

  it('concurrency "5:2"', () => {
    expectNames(reject({ flags: { concurrency: '5:2' } }), 'concurrency', '"5:2"', 'flag --concurrency', '"MIN:MAX" with 0 < MIN <= MAX');
    expectNames(reject({ env: { CONVEYOR_CONCURRENCY: '0' } }), 'concurrency', 'environment variable CONVEYOR_CONCURRENCY', 'from 1 to 10000');
  });

  it('an unknown key in the file, with the line, a did-you-mean and the allowed keys', () => {
    const { dir, file } = withFile('port: 9000\nprot: 80\nlog:\n  levle: debug\n');
    const err = reject({ cwd: dir });
    expectNames(err, `prot (from ${file} line 2): unknown key (did you mean "port"?); allowed: store, prefix, host, port`);
    expectNames(err, `log.levle (from ${file} line 4): unknown key (did you mean "level"?); allowed: level, pretty`);
  });

  it('an unknown key from the environment or a flag', () => {
    expectNames(reject({ env: { CONVEYOR_CONCURENCY: '4' } }), 'concurency', 'environment variable CONVEYOR_CONCURENCY', 'did you mean "concurrency"?');
    expectNames(reject({ flags: { 'log.lvl': 'debug' } }), 'log.lvl', 'flag --log-lvl', 'allowed: level, pretty');
  });

  it('a bad log level', () => {
    const { dir, file } = withFile('log:\n  level: verbose\n');
    expectNames(reject({ cwd: dir }), 'log.level', '"verbose"', `${file} line 2`, '"trace", "debug", "info", "warn", "error", "fatal", "silent"');
    expectNames(reject({ env: { CONVEYOR_LOG__LEVEL: 'loud' } }), 'log.level', '"loud"', 'environment variable CONVEYOR_LOG__LEVEL');
  });

  it('a short auth token, masked', () => {
    const secret = 'hunter2-secret';
    const { dir, file } = withFile(`auth:\n  tokens:\n    - token: ${secret}\n      scopes: [admin]\n`);
    const err = reject({ cwd: dir });
    expectNames(err, 'auth.tokens[0].token', `${file} line 3`, 'a secret of 14 characters, masked', 'a token of 16–1024 visible ASCII characters');
    expect(err.message).not.toContain(secret);
    expect(JSON.stringify(err.details)).not.toContain(secret);

    const fromEnv = reject({ env: { CONVEYOR_AUTH__TOKENS: `[{"token":"${secret}","scopes":["admin"]}]` } });
    expectNames(fromEnv, 'auth.tokens[0].token', 'environment variable CONVEYOR_AUTH__TOKENS', 'masked');
    expect(JSON.stringify(fromEnv)).not.toContain(secret);

    const badJson = reject({ env: { CONVEYOR_AUTH__TOKENS: `[{"token":"${secret}"` } });
    expectNames(badJson, 'auth.tokens', 'environment variable CONVEYOR_AUTH__TOKENS', 'not valid JSON');
    expect(JSON.stringify(badJson)).not.toContain(secret);
  });

  it('bad scopes and a token given as plain text are refused without echoing it', () => {
    const err = reject({ flags: { auth: { tokens: [{ token: '0123456789abcdef', scopes: ['root'] }] } } });
    expectNames(err, 'auth.tokens[0].scopes[0]', '"root"', 'flag --auth', '"submit", "work", "admin"');
    const plain = reject({ env: { CONVEYOR_AUTH: 'sekrit-sekrit-sekrit' } });
    expectNames(plain, 'auth', 'environment variable CONVEYOR_AUTH', 'must be an object with any of the keys tokens');
    expect(plain.message).not.toContain('sekrit');
  });

  it('a bad duration', () => {
    expectNames(
      reject({ env: { CONVEYOR_SHUTDOWN_GRACE: 'soon' } }),
      'shutdownGrace',
      '"soon"',
      'environment variable CONVEYOR_SHUTDOWN_GRACE',
      '"500ms", "5s"',
    );
    const { dir, file } = withFile('retention:\n  queues:\n    emails:\n      completed: -1h\n');
    expectNames(reject({ cwd: dir }), 'retention.queues.emails.completed', '"-1h"', `${file} line 4`, 'cannot be negative');
    expectNames(reject({ flags: { lease: '10ms' } }), 'lease', 'flag --lease', 'at least 100ms');
  });

  it('a store URL of an unknown form, with its password masked', () => {
    const err = reject({ env: { CONVEYOR_STORE: 'postgres://app:hunter2@db/tasks' } });
    expectNames(err, 'store', '"postgres://app:***@db/tasks"', 'environment variable CONVEYOR_STORE', '"sqlite:PATH"', '"redis://');
    expect(err.message).not.toContain('hunter2');
    expectNames(reject({ env: { REDIS_URL: 'localhost:6379' } }), 'store', 'environment variable REDIS_URL');
  });

  it('queue names, backoff limits and retention queue keys', () => {
    expectNames(reject({ env: { CONVEYOR_QUEUES: 'ok,not ok' } }), 'queues[1]', '"not ok"', 'CONVEYOR_QUEUES', 'a queue name of 1–100 characters');
    expectNames(
      reject({ flags: { defaults: { backoff: { delay: '2h', maxDelay: '1h' } } } }),
      'defaults.backoff.maxDelay',
      'flag --defaults',
      'must be at least defaults.backoff.delay',
    );
    const { dir } = withFile('retention:\n  queues:\n    "bad queue": { dead: 1d }\n');
    expectNames(reject({ cwd: dir }), 'retention.queues["bad queue"]', '"bad queue"', 'must be keyed by a queue name');
  });

  it('reports every invalid key at once', () => {
    const err = reject({ env: { CONVEYOR_PORT: '-1', CONVEYOR_PREFETCH: 'many' }, flags: { steal: 'maybe' } });
    expect((err.details.issues as { path: string }[]).map((i) => i.path).sort()).toEqual(['port', 'prefetch', 'steal']);
    expectNames(err, 'steal (from flag --steal): must be true or false (got "maybe")');
  });

  it('a __proto__ key is an unknown key, not a prototype', () => {
    const { dir } = withFile('__proto__:\n  port: 1\n');
    expectNames(reject({ cwd: dir }), '__proto__', 'unknown key');
    expect(({} as { port?: number }).port).toBeUndefined();
  });
});

describe('the configuration file', () => {
  it('a missing --config file is an error naming the path', () => {
    const cwd = tempDir();
    expectNames(reject({ cwd, file: 'missing.yaml' }), join(cwd, 'missing.yaml'), 'does not exist', '--config');
    expectNames(reject({ cwd, env: { CONVEYOR_CONFIG: 'gone.yaml' } }), join(cwd, 'gone.yaml'), 'CONVEYOR_CONFIG');
  });

  it('a YAML syntax error names the file and the line', () => {
    const { dir, file } = withFile('port: 9000\nlog:\n  level: [debug\nhost: x\n');
    const err = reject({ cwd: dir });
    expectNames(err, file, 'not valid YAML', 'line 4');
    expect(err.details).toMatchObject({ file, line: 4 });

    const dup = withFile('port: 1\nport: 2\n');
    expectNames(reject({ cwd: dup.dir }), dup.file, 'line 2', 'unique');
  });

  it('a file that is not a mapping', () => {
    const { dir, file } = withFile('- port\n- 9000\n');
    expectNames(reject({ cwd: dir }), file, 'must hold a mapping of keys', 'a list');
  });

  it('both conveyor.yaml and conveyor.yml present is ambiguous', () => {
    const { dir } = withFile('port: 1\n');
    writeFileSync(join(dir, 'conveyor.yml'), 'port: 2\n');
    expectNames(reject({ cwd: dir }), 'conveyor.yaml', 'conveyor.yml', '--config');
  });
});

describe('docs/reference/config.md', () => {
  const doc = readFileSync(new URL('../../docs/reference/config.md', import.meta.url), 'utf8');

  it('its example conveyor.yaml is valid', () => {
    const example = /```yaml\n([\s\S]*?)```/.exec(doc)?.[1];
    expect(example).toBeDefined();
    const { dir } = withFile(example ?? '');
    const config = loadConfig({ cwd: dir, env: {} });
    expect(config.retention.queues.reports).toEqual({ completedMs: 30 * 86_400_000 });
    expect(config.auth.tokens).toHaveLength(3);
  });

  it('lists every key of the schema', () => {
    const keys = Object.keys(configSchema.in.shape);
    expect(keys).toContain('auth');
    for (const key of keys) expect(doc, key).toMatch(new RegExp(`^\\| \`${key}[.\`]`, 'm'));
  });
});
