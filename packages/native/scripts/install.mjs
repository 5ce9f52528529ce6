// `pnpm install` / `npm install` hook: builds the addon when a C++ compiler and oneDNN are present. It never fails
// the install: when the build cannot run or fails, it writes the reason to build/unavailable.txt (read by
// loadNativeBackend, which then reports it in one line) and exits 0.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { findOneDnn } from './onednn-flags.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const statusFile = join(root, 'build', 'unavailable.txt');

function unavailable(reason) {
  mkdirSync(join(root, 'build'), { recursive: true });
  writeFileSync(statusFile, `${reason}\n`);
  console.log(`@semedit/native: not built: ${reason}`);
  process.exit(0);
}

if (process.env.SEMEDIT_NATIVE_SKIP_BUILD) unavailable('SEMEDIT_NATIVE_SKIP_BUILD is set');
const cxx = process.env.CXX ?? 'c++';
if (spawnSync(cxx, ['--version'], { stdio: 'ignore' }).status !== 0) unavailable(`no C++ compiler (${cxx})`);
if (!findOneDnn()) unavailable('oneDNN not found (Debian/Ubuntu: apt-get install -y libdnnl-dev; macOS: brew install onednn)');
let gyp;
try {
  gyp = createRequire(import.meta.url).resolve('node-gyp/bin/node-gyp.js');
} catch {
  unavailable('node-gyp is not installed');
}
// Build against the headers of the running Node when they are installed beside it (no download needed).
const prefix = dirname(dirname(process.execPath));
const args = [gyp, 'rebuild'];
if (!process.env.npm_config_nodedir && existsSync(join(prefix, 'include', 'node', 'node_api.h'))) args.push(`--nodedir=${prefix}`);
const r = spawnSync(process.execPath, args, { cwd: root, stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8' });
if (r.status !== 0) {
  const tail = `${r.stdout}\n${r.stderr}`.trim().split('\n').slice(-15).join('\n');
  unavailable(`the build failed (node-gyp rebuild exited ${r.status}):\n${tail}`);
}
rmSync(statusFile, { force: true });
console.log('@semedit/native: built build/Release/semedit_native.node');
