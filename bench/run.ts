/**
 * `npm run bench`: Conveyor and BullMQ side by side on the same workloads, against a private
 * redis-server this process starts (and stops). For each scenario and round, conveyor runs then
 * bullmq, the order alternating each round; the table shows each row's median and range over the
 * rounds and a ratio that always reads "higher is better" (above 1: Conveyor is ahead).
 *
 *   npm run bench -- [--quick] [--rounds N] [--only SUBSTRING] [--json]
 *
 * bench/README.md describes every scenario.
 */
import { ArgsError, parseArgs, USAGE } from './lib/args.js';
import { getPayloadBytes, setPayloadBytes } from './lib/workload.js';
import { startBenchRedis } from './lib/bench-redis.js';
import { Cleanup } from './lib/cleanup.js';
import { errorMessage, progress } from './lib/log.js';
import { describeMachine, machineInfo, versions } from './lib/machine.js';
import { SYSTEMS, type RunContext, type Scenario, type SystemName } from './lib/scenario.js';
import { FULL_SIZES, QUICK_SIZES } from './lib/sizes.js';
import { ratio, summarize } from './lib/stats.js';
import { renderTable, type RowResult } from './lib/table.js';
import { SCENARIOS } from './scenarios/index.js';

type Samples = Map<string, Record<SystemName, number[]>>;

const cleanup = new Cleanup();
let interrupted = false;

function onSignal(signal: NodeJS.Signals): void {
  if (interrupted) process.exit(130);
  interrupted = true;
  progress(`${signal}: stopping child processes and redis-server…`);
  void cleanup.runAll(progress).finally(() => process.exit(signal === 'SIGINT' ? 130 : 143));
}

/** One run of one system, with a cleanup scope of its own: whatever it leaves is undone right after. */
async function runOnce(scenario: Scenario, system: SystemName, base: Omit<RunContext, 'cleanup'>): Promise<Record<string, number>> {
  const scope = new Cleanup();
  const release = cleanup.add(`${scenario.name} ${system} run`, () => scope.runAll(progress));
  try {
    // Every run starts from an empty server.
    await base.redis.flushAll();
    return await scenario.run[system]({ ...base, cleanup: scope });
  } finally {
    await release();
  }
}

function describeValues(scenario: Scenario, values: Record<string, number>): string {
  return scenario.rows
    .filter((row) => values[row.id] !== undefined)
    .map((row) => `${row.id} ${values[row.id]!.toLocaleString('en-US', { maximumFractionDigits: 2 })} ${row.unit}`)
    .join(', ');
}

async function main(): Promise<number> {
  let args;
  try {
    args = parseArgs(process.argv.slice(2));
  } catch (err) {
    if (!(err instanceof ArgsError)) throw err;
    process.stderr.write(`bench: ${err.message}\n${USAGE}\n`);
    return 2;
  }
  if (args.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  const preset = args.quick ? QUICK_SIZES : FULL_SIZES;
  const sizes = args.tasks === undefined ? preset : { ...preset, n: args.tasks, drainC1: Math.max(1_000, Math.round(args.tasks / 10)) };
  if (args.payload !== undefined) setPayloadBytes(args.payload);
  const rounds = args.rounds ?? sizes.defaultRounds;
  const scenarios = SCENARIOS.filter((s) => args.only === undefined || s.name.includes(args.only));
  if (scenarios.length === 0) {
    process.stderr.write(`bench: no scenario matches --only ${JSON.stringify(args.only)}; scenarios: ${SCENARIOS.map((s) => s.name).join(', ')}\n`);
    return 2;
  }

  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    const redis = await startBenchRedis(cleanup);
    const machine = machineInfo();
    const v = versions(redis.version);
    progress(describeMachine(machine, v).replace('\n', '; '));
    progress(`${args.quick ? 'quick' : 'full'} run: N = ${sizes.n.toLocaleString('en-US')}, payload ${getPayloadBytes()} B, ${rounds} round(s), scenarios ${scenarios.map((s) => s.name).join(', ')}`);
    const base = { redis, sizes, log: progress };

    const samples = new Map<Scenario, Samples>();
    let failures = 0;
    for (const scenario of scenarios) {
      const mine: Samples = new Map(scenario.rows.map((row) => [row.id, { conveyor: [], bullmq: [] }]));
      samples.set(scenario, mine);
      for (let round = 0; round < rounds; round++) {
        // Alternate who goes first, so that neither always runs on a warmer (or more tired) machine.
        const order = round % 2 === 0 ? SYSTEMS : [...SYSTEMS].reverse();
        for (const system of order) {
          if (interrupted) return 130;
          progress(`${scenario.name}: round ${round + 1}/${rounds}, ${system}`);
          try {
            const values = await runOnce(scenario, system, base);
            for (const [id, value] of Object.entries(values)) {
              if (!Number.isFinite(value)) throw new Error(`row ${id}: not a finite number (${value})`);
              mine.get(id)?.[system].push(value);
            }
            progress(`${scenario.name}: ${system}: ${describeValues(scenario, values)}`);
          } catch (err) {
            if (interrupted) return 130;
            failures += 1;
            progress(`${scenario.name}: ${system} failed (round ${round + 1}): ${errorMessage(err)}`);
          }
        }
      }
    }

    const results: RowResult[] = [...samples.entries()].flatMap(([scenario, mine]) =>
      scenario.rows.map((row) => {
        const conveyor = summarize(mine.get(row.id)!.conveyor);
        const bullmq = summarize(mine.get(row.id)!.bullmq);
        return { row, conveyor, bullmq, ratio: ratio(conveyor?.median, bullmq?.median, row.better) };
      }),
    );

    if (args.json) {
      const rows = results.map((r) => ({
        scenario: r.row.label,
        unit: r.row.unit,
        conveyor: r.conveyor?.median ?? null,
        bullmq: r.bullmq?.median ?? null,
        ratio: r.ratio ?? null,
        better: r.row.better,
        conveyorMin: r.conveyor?.min ?? null,
        conveyorMax: r.conveyor?.max ?? null,
        bullmqMin: r.bullmq?.min ?? null,
        bullmqMax: r.bullmq?.max ?? null,
        rounds: Math.max(r.conveyor?.samples.length ?? 0, r.bullmq?.samples.length ?? 0),
      }));
      const settings = { quick: args.quick, rounds, n: sizes.n, payloadBytes: getPayloadBytes() };
      process.stdout.write(`${JSON.stringify({ machine, versions: v, settings, rows }, null, 2)}\n`);
    } else {
      process.stdout.write(
        [
          describeMachine(machine, v),
          `${args.quick ? 'quick' : 'full'} run: N = ${sizes.n.toLocaleString('en-US')}, payload ${getPayloadBytes()} B, ${rounds} round(s); median (min–max) over the rounds`,
          '',
          renderTable(results),
          '',
          'ratio: higher is better: conveyor/bullmq for throughput, bullmq/conveyor for latency, memory and CPU.',
          'sqlite rows: the conveyor column is the SQLite store, the bullmq column BullMQ on Redis; http rows: the bullmq column is a bare Fastify server.',
          '',
        ].join('\n'),
      );
    }
    if (failures > 0) progress(`${failures} run(s) failed: see above; their rows have fewer samples (or none)`);
    return failures > 0 ? 1 : 0;
  } finally {
    await cleanup.runAll(progress);
  }
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  async (err: unknown) => {
    progress(`bench failed: ${errorMessage(err)}`);
    await cleanup.runAll(progress);
    process.exitCode = 1;
  },
);
