/**
 * The `pnpm bench` contract: the case names, the command line (`[--quick] [--only a,b] [--json FILE]`), and the
 * result file
 *
 * ```
 * { machine, backend, results: [{ name, ms, baselines: { torch, onnxruntime, 'tfjs-wasm-stock' }, ... }] }
 * ```
 *
 * (`ms` and every baseline a median in milliseconds, or null with the reason in `note` / `baselineNotes`). Pure:
 * nothing here measures anything, so the parsing and the writer are tested with fake measurements
 * (`bench/run.test.ts`); `bench/run.ts` does the measuring.
 * @module
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { dirname } from 'node:path';
import type { BackendInfo } from '@semedit/core/backend';
import type { Machine } from './harness.js';
import type { KernelStat } from './profile.js';

/** Every case of `pnpm bench`, in the order they run. */
export const CASE_NAMES = [
  'unet-step-sd15', 'unet-step-sd15-bf16', 'vae-decode-512', 'clip-text-l14', 'stylegan2-1024', 'styleclip-step',
  'sega-step', 'p2p-step', 'conv3x3-sd', 'matmul-sd', 'attention-self-sd',
] as const;

/** A case name of `pnpm bench`. */
export type CaseName = (typeof CASE_NAMES)[number];

/** The baselines every result carries (null where not run, with the reason in `baselineNotes`). */
export const BASELINE_NAMES = ['torch', 'onnxruntime', 'tfjs-wasm-stock'] as const;

/** A baseline of a result. */
export type BaselineName = (typeof BASELINE_NAMES)[number];

/**
 * The issue's targets: our median at most `maxRatio` times the baseline's.
 *
 * @example
 * ```ts
 * TARGETS['unet-step-sd15']; // { baseline: 'onnxruntime', maxRatio: 0.9 }
 * ```
 */
export const TARGETS: Partial<Record<CaseName, { baseline: BaselineName; maxRatio: number }>> = {
  'unet-step-sd15': { baseline: 'onnxruntime', maxRatio: 0.9 },
  'unet-step-sd15-bf16': { baseline: 'onnxruntime', maxRatio: 0.5 },
  'vae-decode-512': { baseline: 'onnxruntime', maxRatio: 1 },
  'stylegan2-1024': { baseline: 'torch', maxRatio: 1 },
  'styleclip-step': { baseline: 'torch', maxRatio: 1 },
};

/** Thrown for a bad command line, before anything runs. */
export class BenchArgError extends Error {
  override name = 'BenchArgError';
}

/** The parsed command line of `bench/run.ts`. */
export interface BenchArgs {
  /** Fewer repetitions and the slowest baselines left out (the whole run within 15 minutes on 2 cores). */
  quick: boolean;
  /** The cases to run, in {@link CASE_NAMES} order. */
  cases: CaseName[];
  /** Where to write the JSON; null: `bench/results/bench.json`. */
  json: string | null;
}

const isCase = (s: string): s is CaseName => (CASE_NAMES as readonly string[]).includes(s);

/**
 * Parses `[--quick] [--only a,b] [--json FILE]` (also `--only=a,b`, `--json=FILE`). Unknown flags and unknown case
 * names are refused with the list of valid ones.
 *
 * @param argv the arguments after the script (`process.argv.slice(2)`)
 * @throws BenchArgError on anything else
 * @example
 * ```ts
 * parseBenchArgs(['--quick', '--only', 'matmul-sd,conv3x3-sd']); // { quick: true, cases: ['conv3x3-sd', 'matmul-sd'], json: null }
 * ```
 */
export function parseBenchArgs(argv: readonly string[]): BenchArgs {
  let quick = false;
  let only: string[] | null = null;
  let json: string | null = null;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const [flag, inline] = a.startsWith('--') && a.includes('=') ? [a.slice(0, a.indexOf('=')), a.slice(a.indexOf('=') + 1)] : [a, undefined];
    const value = (): string => {
      const v = inline ?? argv[++i];
      if (v === undefined || v === '' || (inline === undefined && v.startsWith('--'))) throw new BenchArgError(`${flag} needs a value`);
      return v;
    };
    if (flag === '--quick' && inline === undefined) quick = true;
    else if (flag === '--only') only = value().split(',').map((s) => s.trim()).filter((s) => s !== '');
    else if (flag === '--json') json = value();
    else throw new BenchArgError(`unknown argument ${a}; usage: pnpm bench [--quick] [--only a,b] [--json FILE]`);
  }
  const unknown = (only ?? []).filter((s) => !isCase(s));
  if (unknown.length > 0) throw new BenchArgError(`unknown case(s) ${unknown.join(', ')}; valid cases: ${CASE_NAMES.join(', ')}`);
  if (only !== null && only.length === 0) throw new BenchArgError(`--only names no case; valid cases: ${CASE_NAMES.join(', ')}`);
  return { quick, cases: CASE_NAMES.filter((c) => only === null || only.includes(c)), json };
}

/** The machine line of the JSON: harness.ts `machine()` plus the 1-minute load average when the run started. */
export interface BenchMachine extends Machine {
  loadAvg1: number;
}

/** One measured configuration of a case (ours, or a baseline). */
export interface Measurement {
  /** Median over `reps` timed runs, ms; null when not run. */
  ms: number | null;
  minMs?: number | null;
  reps?: number;
  warmup?: number;
  /** Why it was not run, or what differs from the case's name (a smaller model, a stand-in). */
  note?: string;
  /** 1-minute load average when it finished. */
  loadAvg?: number;
  /** Multiply-add GFLOP of one call (conv and matmul kernels). */
  gflop?: number | null;
  /** Largest |ours − torch's output| on the same weights and inputs, where computed. */
  maxAbsDiff?: number | null;
  /** Top kernels of one profiled timed run (main backend only). */
  profile?: KernelStat[];
}

/** One case of the JSON. */
export interface BenchCaseResult extends Omit<Measurement, 'ms'> {
  name: CaseName;
  /** Our median on the main backend, ms (null: not run, see `note`). */
  ms: number | null;
  baselines: Record<BaselineName, number | null>;
  /** Why a baseline is null, or how it was run. */
  baselineNotes: Partial<Record<BaselineName, string>>;
  /** Baseline ms / our ms (above 1: we are faster), where both ran. */
  speedups: Partial<Record<BaselineName, number>>;
  /** The issue's target, and whether this run met it (null: a side is missing). */
  target?: { baseline: BaselineName; maxRatio: number; ratio: number | null; met: boolean | null };
}

/** The file `pnpm bench --json FILE` writes. */
export interface BenchJson {
  /** Marks the file for the dashboard (`bench/results/*.json` holds other benches' files too). */
  bench: 'bench';
  date: string;
  quick: boolean;
  machine: BenchMachine;
  backend: BackendInfo | null;
  results: BenchCaseResult[];
}

const round = (v: number | null): number | null => (v === null ? null : Math.round(v * 100) / 100);

/**
 * Builds one case's result from our measurement and the baselines' (absent baselines become null with a note).
 *
 * @param name      the case
 * @param ours      the main backend's measurement
 * @param baselines each baseline's measurement, where there is one
 * @example
 * ```ts
 * caseResult('matmul-sd', { ms: 40 }, { torch: { ms: 20 } }).speedups; // { torch: 0.5 }
 * ```
 */
export function caseResult(name: CaseName, ours: Measurement, baselines: Partial<Record<BaselineName, Measurement>>): BenchCaseResult {
  const { ms: raw, note, ...extra } = ours;
  const ms = round(raw);
  const b = {} as Record<BaselineName, number | null>;
  const baselineNotes: BenchCaseResult['baselineNotes'] = {};
  const speedups: BenchCaseResult['speedups'] = {};
  for (const k of BASELINE_NAMES) {
    const m = baselines[k];
    b[k] = round(m?.ms ?? null);
    if (m?.note || b[k] === null) baselineNotes[k] = m?.note ?? 'no such baseline for this case';
    if (b[k] !== null && ms !== null && ms > 0) speedups[k] = +(b[k]! / ms).toPrecision(4);
  }
  const t = TARGETS[name];
  const ratio = t && ms !== null && b[t.baseline] !== null ? ms / b[t.baseline]! : null;
  return {
    name, ms, baselines: b, baselineNotes, speedups,
    ...(t ? { target: { ...t, ratio: ratio === null ? null : +ratio.toPrecision(4), met: ratio === null ? null : ratio <= t.maxRatio } } : {}),
    ...(note ? { note } : {}), ...extra,
  };
}

/**
 * The whole JSON of a run.
 *
 * @example
 * ```ts
 * benchJson({ machine: m, backend: info, quick: true, results: [caseResult('conv3x3-sd', { ms: 12 }, {})] });
 * ```
 */
export function benchJson(opts: { machine: BenchMachine; backend: BackendInfo | null; quick: boolean; results: BenchCaseResult[] }): BenchJson {
  return { bench: 'bench', date: new Date().toISOString(), quick: opts.quick, machine: opts.machine, backend: opts.backend, results: opts.results };
}

/**
 * harness.ts's machine description plus the current 1-minute load average.
 *
 * @example
 * ```ts
 * benchMachine(machine()).loadAvg1; // 1.3
 * ```
 */
export function benchMachine(m: Machine): BenchMachine {
  return { ...m, loadAvg1: +loadavg()[0]!.toFixed(2) };
}

/**
 * Writes the JSON (pretty-printed, creating the folder) and returns the path.
 *
 * @example
 * ```ts
 * writeBenchJson('/tmp/b.json', json);
 * ```
 */
export function writeBenchJson(file: string, json: BenchJson): string {
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, `${JSON.stringify(json, null, 2)}\n`);
  return file;
}
