/**
 * Where the sandbox thread's entry is and how a Worker must be started to load it: from the built
 * package (`dist/`, compiled JavaScript) or from the TypeScript sources (tests, development).
 */

export interface ThreadEntry {
  url: URL;
  /** undefined: the Worker inherits the process's execArgv (a loader the user runs under, say). */
  execArgv: string[] | undefined;
}

export function sandboxThreadEntry(): ThreadEntry {
  const fromSource = import.meta.url.endsWith('.ts');
  return {
    url: new URL(fromSource ? './sandbox-thread.ts' : './sandbox-thread.js', import.meta.url),
    execArgv: fromSource ? typeScriptExecArgv() : undefined,
  };
}

/**
 * Registers tsx (a devDependency) in the thread before its entry loads, so that the thread can run
 * TypeScript: the entry, and a handlers module that is TypeScript itself (test fixtures).
 *
 * Not `--import tsx`: on Node 20, tsx's loader registers its hooks in the main thread only, so a
 * Worker started with that flag still fails on `.ts` (ERR_UNKNOWN_FILE_EXTENSION). Calling tsx's
 * `register()` from a preload in the thread itself works on every Node version.
 */
function typeScriptExecArgv(): string[] {
  const tsxApi = import.meta.resolve('tsx/esm/api');
  const preload = `import { register } from ${JSON.stringify(tsxApi)}; register();`;
  return ['--import', `data:text/javascript,${encodeURIComponent(preload)}`];
}
