/**
 * The command line of `npm run bench`: a handful of flags, parsed by hand (no dependency needed
 * for four flags), with an error naming the bad flag.
 */
export interface BenchArgs {
  rounds: number | undefined;
  quick: boolean;
  json: boolean;
  only: string | undefined;
  /** Overrides N (tasks per enqueue, drain, memory, CPU and SQLite workload). */
  tasks: number | undefined;
  /** Payload size in bytes of JSON (default 100). */
  payload: number | undefined;
  help: boolean;
}

export const USAGE = `usage: npm run bench -- [--quick] [--rounds N] [--only SUBSTRING] [--json]

  --quick         every scenario smaller (10,000 tasks, 3 s latency and HTTP runs, 2 rounds)
  --rounds N      rounds per scenario (default 3, or 2 with --quick); each round runs conveyor
                  and bullmq once, alternating which goes first
  --only SUBSTR   only the scenarios whose name contains SUBSTR (enqueue, drain, latency,
                  memory, cpu, sqlite, http)
  --tasks N       N tasks per workload instead of 100,000 (10,000 with --quick), e.g. 1000000
  --payload BYTES payload size in bytes of JSON instead of 100, e.g. 10240 (queue workloads; the
                  HTTP scenario keeps 100 B)
  --json          print one JSON object on stdout instead of the table (progress stays on stderr;
                  use \`npm run -s bench -- --json\` so that npm prints no banner on stdout)
  --help          this text`;

export class ArgsError extends Error {}

export function parseArgs(argv: readonly string[]): BenchArgs {
  const args: BenchArgs = { rounds: undefined, quick: false, json: false, only: undefined, tasks: undefined, payload: undefined, help: false };
  const count = (flag: string, text: string, min: number): number => {
    if (!/^\d+$/.test(text) || Number(text) < min) throw new ArgsError(`${flag} must be a whole number of at least ${min} (got ${JSON.stringify(text)})`);
    return Number(text);
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    // Accept `--flag=value` as well as `--flag value`.
    const [flag, inline] = arg.startsWith('--') && arg.includes('=') ? [arg.slice(0, arg.indexOf('=')), arg.slice(arg.indexOf('=') + 1)] : [arg, undefined];
    const value = (): string => {
      const next = inline ?? argv[++i];
      if (next === undefined || next === '') throw new ArgsError(`${flag} needs a value`);
      return next;
    };
    switch (flag) {
      case '--quick':
        args.quick = true;
        break;
      case '--json':
        args.json = true;
        break;
      case '--help':
      case '-h':
        args.help = true;
        break;
      case '--rounds': {
        const text = value();
        if (!/^\d+$/.test(text) || Number(text) < 1) throw new ArgsError(`--rounds must be a whole number of at least 1 (got ${JSON.stringify(text)})`);
        args.rounds = Number(text);
        break;
      }
      case '--only':
        args.only = value();
        break;
      case '--tasks':
        args.tasks = count(flag, value(), 1_000);
        break;
      case '--payload':
        args.payload = count(flag, value(), 16);
        break;
      default:
        throw new ArgsError(`unknown argument ${JSON.stringify(arg)}`);
    }
  }
  return args;
}
