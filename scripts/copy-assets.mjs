#!/usr/bin/env node
/**
 * Copies every `*.lua` file under src/ to the same relative path under dist/ (`npm run build` runs
 * it after tsc): the Redis store loads its Lua scripts from files next to its compiled JavaScript.
 */
import { copyFileSync, mkdirSync, readdirSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import process from 'node:process';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const srcDir = join(root, 'src');
const distDir = join(root, 'dist');
/** Files tsc does not emit but the compiled code reads at run time. */
const ASSET_EXTENSIONS = ['.lua'];

function* luaFiles(dir) {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) yield* luaFiles(path);
    else if (entry.isFile() && ASSET_EXTENSIONS.some((ext) => entry.name.endsWith(ext))) yield path;
  }
}

let copied = 0;
for (const file of luaFiles(srcDir)) {
  const target = join(distDir, relative(srcDir, file));
  mkdirSync(dirname(target), { recursive: true });
  copyFileSync(file, target);
  copied += 1;
}
process.stdout.write(`copy-assets: ${copied} Lua file${copied === 1 ? '' : 's'} copied from src/ to dist/\n`);
