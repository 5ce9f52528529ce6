/**
 * Size budget (style.md 3.6): every source file at most 500 counted lines (non-blank, non-comment), test files
 * at most 600, and a total budget for packages/core/src. Exits 1 and lists the offenders when over.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';

const ROOT = join(import.meta.dirname, '..');
const SOURCE_CAP = 500;
const TEST_CAP = 600;
const CORE_BUDGET = 20_000;
const SCAN = ['packages', 'bench', 'examples', 'scripts'];

/** Counts lines that are neither blank nor comment-only (`//`, `/*`, `*`). */
export function countedLines(text: string): number {
  return text.split('\n').filter((l) => !/^\s*($|\/\/|\*|\/\*)/.test(l)).length;
}

function walk(dir: string, out: string[]): void {
  for (const name of readdirSync(dir)) {
    if (name === 'node_modules' || name === 'dist' || name.startsWith('.')) continue;
    const p = join(dir, name);
    if (statSync(p).isDirectory()) walk(p, out);
    else if (/\.(ts|mts|cts)$/.test(name) && !name.endsWith('.d.ts')) out.push(p);
  }
}

const files: string[] = [];
for (const d of SCAN) walk(join(ROOT, d), files);
const over: string[] = [];
let core = 0;
for (const f of files) {
  const n = countedLines(readFileSync(f, 'utf8'));
  const rel = relative(ROOT, f);
  const isTest = /\.test\.ts$/.test(f);
  if (!isTest && rel.startsWith(join('packages', 'core', 'src'))) core += n;
  const cap = isTest ? TEST_CAP : SOURCE_CAP;
  if (n > cap) over.push(`${rel}: ${n} counted lines (cap ${cap})`);
}
console.log(`sz: ${files.length} files, packages/core/src ${core} counted lines (budget ${CORE_BUDGET})`);
if (core > CORE_BUDGET) over.push(`packages/core/src total ${core} > budget ${CORE_BUDGET}`);
if (over.length) {
  console.error(`sz: over budget:\n  ${over.join('\n  ')}`);
  process.exit(1);
}
