/**
 * Shared bench plumbing: machine description, warm-up + median timing, and writing a result JSON that the
 * dashboard reads (`bench/results/<name>.json`). Every figure a bench reports is a ratio against a baseline
 * measured in the same run.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { arch, availableParallelism, cpus, platform, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { BackendInfo } from '@semedit/core/backend';

/** The machine a result was measured on. */
export interface Machine {
  cpu: string;
  logicalCores: number;
  availableParallelism: number;
  memoryGiB: number;
  node: string;
  platform: string;
}

/**
 * Describes this machine.
 *
 * @example
 * ```ts
 * machine().logicalCores; // 2
 * ```
 */
export function machine(): Machine {
  return {
    cpu: cpus()[0]?.model ?? 'unknown',
    logicalCores: cpus().length,
    availableParallelism: availableParallelism(),
    memoryGiB: +(totalmem() / 1024 ** 3).toFixed(1),
    node: process.version,
    platform: `${platform()} ${arch()}`,
  };
}

/**
 * Median of a list of numbers.
 *
 * @example
 * ```ts
 * median([3, 1, 2]); // 2
 * ```
 */
export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/**
 * Times `fn` (which must finish its work before returning, e.g. with `dataSync()`): `warmup` runs, then the
 * median of `reps`.
 *
 * @example
 * ```ts
 * const { medianMs } = timeIt(() => conv().dataSync(), { warmup: 1, reps: 5 });
 * ```
 */
export function timeIt(fn: () => void, opts: { warmup: number; reps: number }): { medianMs: number; minMs: number; reps: number } {
  for (let i = 0; i < opts.warmup; i++) fn();
  const ms: number[] = [];
  for (let i = 0; i < opts.reps; i++) {
    const t0 = performance.now();
    fn();
    ms.push(performance.now() - t0);
  }
  return { medianMs: median(ms), minMs: Math.min(...ms), reps: opts.reps };
}

/**
 * Reads `--name=value` integer arguments.
 *
 * @example
 * ```ts
 * const reps = intArg('reps', 5);
 * ```
 */
export function intArg(name: string, fallback: number): number {
  const hit = process.argv.find((a) => a.startsWith(`--${name}=`));
  const v = hit ? Number(hit.split('=')[1]) : fallback;
  if (!Number.isInteger(v) || v < 0) throw new Error(`--${name} must be a non-negative integer`);
  return v;
}

/**
 * Writes `bench/results/<name>.json` and returns its path.
 *
 * @example
 * ```ts
 * writeResult('clip', { bench: 'clip', ... });
 * ```
 */
export function writeResult(name: string, result: object): string {
  const out = join(dirname(fileURLToPath(import.meta.url)), '..', 'results', `${name}.json`);
  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(out, `${JSON.stringify(result, null, 2)}\n`);
  return out;
}

/**
 * Prints rows as an aligned table.
 *
 * @example
 * ```ts
 * printTable(['case', 'ms'], [['conv', '12.0']]);
 * ```
 */
export function printTable(header: string[], rows: string[][]): void {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (r: string[]) => r.map((v, i) => (i === 0 ? v.padEnd(widths[i]!) : v.padStart(widths[i]!))).join('  ');
  console.log(line(header));
  console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  rows.forEach((r) => console.log(line(r)));
}

/**
 * Runs this bench script once per backend configuration, each in its own child process (a second wasm backend
 * in one process runs markedly slower), and collects what each child printed with {@link reportFromChild}.
 *
 * @param script `fileURLToPath(import.meta.url)` of the bench
 * @param count  number of configurations; child i is started with `--child=i`
 * @example
 * ```ts
 * const results = runChildren<Row>(fileURLToPath(import.meta.url), CONFIGS.length);
 * ```
 */
export function runChildren<R>(script: string, count: number): { info: BackendInfo; rows: R[] }[] {
  const out: { info: BackendInfo; rows: R[] }[] = [];
  for (let i = 0; i < count; i++) {
    const text = execFileSync(process.execPath, [...process.execArgv, script, ...process.argv.slice(2), `--child=${i}`], {
      encoding: 'utf8', maxBuffer: 1 << 24, stdio: ['ignore', 'pipe', 'inherit'],
    });
    const line = text.split('\n').find((l) => l.startsWith('@@RESULT '));
    if (!line) throw new Error(`configuration ${i} of ${script} printed no result`);
    out.push(JSON.parse(line.slice(9)) as { info: BackendInfo; rows: R[] });
  }
  return out;
}

/**
 * Prints a child configuration's result for {@link runChildren}.
 *
 * @example
 * ```ts
 * reportFromChild(info, rows);
 * ```
 */
export function reportFromChild(info: BackendInfo, rows: readonly object[]): void {
  process.stdout.write(`@@RESULT ${JSON.stringify({ info, rows })}\n`);
}

/** A timed case of one backend configuration. */
export interface TimedRow {
  case: string;
  backend: string;
  medianMs: number;
}

/** Options of {@link runBench}. */
export interface RunBenchOptions<R extends TimedRow> {
  /** Result name: `bench/results/<name>.json`. */
  name: string;
  /** `fileURLToPath(import.meta.url)` of the bench script. */
  script: string;
  /** Configuration labels; the first is the baseline of every ratio. */
  labels: readonly string[];
  /** Extra table columns after the median: header and cells. */
  columns?: { header: string[]; cells: (r: R) => string[] };
  /** Extra fields of the result JSON (e.g. the model config). */
  extra?: object;
  /** Digits of the median column (default 1). */
  digits?: number;
}

/**
 * The parent side of a per-configuration bench: runs each configuration in its own child ({@link runChildren}),
 * computes every row's ratio to the first configuration's same case, prints machine, backends and the table, and
 * writes the result JSON for the dashboard.
 *
 * @example
 * ```ts
 * runBench<Row>({ name: 'clip', script: fileURLToPath(import.meta.url), labels: CONFIGS.map((c) => c.label) });
 * ```
 */
export function runBench<R extends TimedRow>(opts: RunBenchOptions<R>): void {
  const rows: R[] = [];
  const infos: BackendInfo[] = [];
  for (const r of runChildren<R>(opts.script, opts.labels.length)) {
    infos.push(r.info);
    rows.push(...r.rows);
  }
  const base = opts.labels[0]!;
  const baseMs = (r: R) => rows.find((b) => b.case === r.case && b.backend === base)!.medianMs;
  const ratios = rows.filter((r) => r.backend !== base).map((r) => ({ case: `${r.case} · ${r.backend}`, speedup: baseMs(r) / r.medianMs, baseline: base }));
  const m = machine();
  console.log(`machine: ${m.cpu}, ${m.logicalCores} logical cores, Node ${m.node}`);
  for (const i of infos) console.log(`backend: ${i.name} (${i.detail})`);
  printTable(
    ['case', 'backend', 'median ms', ...(opts.columns?.header ?? []), `x vs ${base}`],
    rows.map((r) => [r.case, r.backend, r.medianMs.toFixed(opts.digits ?? 1), ...(opts.columns?.cells(r) ?? []), (baseMs(r) / r.medianMs).toFixed(2)]),
  );
  const result = { bench: opts.name, date: new Date().toISOString(), machine: m, ...opts.extra, backends: infos, timings: rows, ratios };
  console.log(`wrote ${writeResult(opts.name, result)}`);
}
