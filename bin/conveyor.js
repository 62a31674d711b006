#!/usr/bin/env node
/**
 * The `conveyor` command. Runs the compiled CLI (`dist/cli/main.js`) when the package was built;
 * otherwise the TypeScript sources through tsx (a devDependency), so that `npx conveyor start`
 * works right after `npm ci`, without a build. `CONVEYOR_FROM_SOURCE=1` forces the sources (the
 * tests use it, so that they never run a stale build).
 */
import { existsSync } from 'node:fs';
import process from 'node:process';

const compiled = new URL('../dist/cli/main.js', import.meta.url);
const source = new URL('../src/cli/main.ts', import.meta.url);
const fromSource = process.env.CONVEYOR_FROM_SOURCE === '1' || process.env.CONVEYOR_FROM_SOURCE === 'true';
// Not a configuration key: the configuration reads every other CONVEYOR_* variable.
delete process.env.CONVEYOR_FROM_SOURCE;

async function load() {
  if (!fromSource && existsSync(compiled)) return import(compiled.href);
  if (!existsSync(source)) {
    throw new Error(`neither ${compiled.pathname} nor ${source.pathname} exists: reinstall the package`);
  }
  let register;
  try {
    ({ register } = await import('tsx/esm/api'));
  } catch {
    throw new Error(
      'conveyor is not built and tsx (a devDependency) is missing: run `npm ci` (installs tsx) or `npm run build` (compiles to dist/)',
    );
  }
  register();
  return import(source.href);
}

let cli;
try {
  cli = await load();
} catch (err) {
  process.stderr.write(`error: cannot start conveyor: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
}
await cli.main(process.argv);
