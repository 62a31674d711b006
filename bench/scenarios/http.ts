/**
 * (g) The HTTP API under load: a real `conveyor server` process (API + coordinator, from the
 * sources) on the bench Redis, loaded by autocannon with POST /api/v1/tasks (one task, 100-byte
 * payload) and POST /api/v1/tasks/batch (100 tasks per request). BullMQ has no HTTP API, so the
 * other column is a bare Fastify server that parses the same bodies and stores nothing: the
 * ceiling of an HTTP front on this machine. Ratio conveyor/bare.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { spawnChild, type Child } from '../lib/children.js';
import { postLoad } from '../lib/http-load.js';
import type { RunContext, RunValues, Scenario } from '../lib/scenario.js';
import { QUEUE, TASK_TYPE } from '../lib/systems.js';
import { NOOP_PAYLOAD } from '../lib/workload.js';

const CONVEYOR_BIN = fileURLToPath(new URL('../../bin/conveyor.js', import.meta.url));
const EXIT_WITH_PARENT = pathToFileURL(fileURLToPath(new URL('../workers/exit-with-parent.mjs', import.meta.url))).href;
const BARE_FASTIFY = fileURLToPath(new URL('../workers/bare-fastify.ts', import.meta.url));

interface Target {
  /** Where the single-task and the batch bodies go. */
  singleUrl: string;
  batchUrl: string;
  server: Child;
}

const TASK = { type: TASK_TYPE, queue: QUEUE, payload: NOOP_PAYLOAD };

/** The caller's CONVEYOR_* and REDIS_URL must not reach the server: it gets its settings from flags alone. */
function serverEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [name, value] of Object.entries(process.env)) if (!name.startsWith('CONVEYOR_') && name !== 'REDIS_URL') env[name] = value;
  // The sources through tsx (never a stale dist/); warnings only, no request logs.
  return { ...env, CONVEYOR_FROM_SOURCE: '1', CONVEYOR_LOG__LEVEL: 'warn' };
}

async function startConveyorServer(ctx: RunContext): Promise<Target> {
  // An empty working directory: no conveyor.yaml or .conveyor/ of the repository is picked up.
  const cwd = mkdtempSync(join(tmpdir(), 'conveyor-bench-server-'));
  ctx.cleanup.add('conveyor server directory', () => rmSync(cwd, { recursive: true, force: true }));
  const server = spawnChild(ctx.cleanup, 'conveyor server', {
    execArgv: ['--import', EXIT_WITH_PARENT],
    script: CONVEYOR_BIN,
    args: ['server', '--store', ctx.redis.url, '--host', '127.0.0.1', '--port', '0'],
    env: serverEnv(),
    cwd,
    stdout: 'pipe',
  });
  const [, base] = await server.stdoutMatch(/listening on (http:\/\/\S+)/);
  return { singleUrl: `${base}/api/v1/tasks`, batchUrl: `${base}/api/v1/tasks/batch`, server };
}

async function startBareFastify(ctx: RunContext): Promise<Target> {
  const server = spawnChild(ctx.cleanup, 'bare fastify', { execArgv: ['--import', 'tsx'], script: BARE_FASTIFY });
  const { port } = await server.message<{ type: 'listening'; port: number }>('listening');
  const url = `http://127.0.0.1:${port}/tasks`;
  return { singleUrl: url, batchUrl: url, server };
}

async function run(ctx: RunContext, start: (ctx: RunContext) => Promise<Target>): Promise<RunValues> {
  const { httpConnections: connections, httpSeconds: seconds, httpWarmupSeconds: warmupSeconds, httpBatchSize } = ctx.sizes;
  const target = await start(ctx);
  try {
    const load = async (what: string, url: string, body: string): Promise<number> => {
      const result = await postLoad({ url, body, connections, seconds, warmupSeconds });
      if (result.non2xx > 0 || result.errors > 0) ctx.log(`  ${target.server.name}, ${what}: ${result.non2xx} non-2xx responses, ${result.errors} errors (not counted)`);
      if (!target.server.alive()) throw new Error(`${target.server.name} exited during the load; stderr:\n${target.server.stderr()}`);
      return result.okPerSecond;
    };
    const single = await load('single', target.singleUrl, JSON.stringify(TASK));
    const batchRequests = await load('batch', target.batchUrl, JSON.stringify({ tasks: Array.from({ length: httpBatchSize }, () => TASK) }));
    return { single, batch: batchRequests * httpBatchSize };
  } finally {
    await target.server.terminate();
  }
}

export const httpScenario: Scenario = {
  name: 'http',
  rows: [
    { id: 'single', label: 'http POST /api/v1/tasks, 1 task/request (vs bare fastify)', unit: 'requests/s', better: 'higher' },
    { id: 'batch', label: 'http POST /api/v1/tasks/batch, 100 tasks/request (vs bare fastify)', unit: 'tasks/s', better: 'higher' },
  ],
  run: {
    conveyor: (ctx) => run(ctx, startConveyorServer),
    bullmq: (ctx) => run(ctx, startBareFastify),
  },
};
