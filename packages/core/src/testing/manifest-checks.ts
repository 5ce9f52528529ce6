/**
 * Manifest-driven parity: a test says how it produces each check's output, and {@link runManifestChecks} runs
 * every check the fixture's `fixture.json` lists (or the declared subset), compares each with the stored reference
 * at the check's own tolerance, fails on a check the test cannot produce, counts what ran and prints the figures
 * (checks run, largest error per check). A fixture with no checks, or a selection that keeps none, is a failure,
 * never zero tests. JSON checks (`layout: "json"`) select the check's path (`a.b`, `*`, `[*]`) in the expected file.
 * @module
 */
import { readFileSync } from 'node:fs';
import * as tf from '@tensorflow/tfjs-core';
import { SemeditError } from '../errors.js';
import { openSafetensors } from '../io/safetensors.js';
import { compareArrays, type NumericArray } from '../tensor/compare.js';
import type { FixtureCheck, FixtureManifest } from '../fixtures/manifest.js';

/**
 * What a test returns for one check: a tensor or `{ shape?, data }` (compared element-wise), `{ json }` (compared
 * deeply with the selected JSON value, numbers within tolerance) or `{ keys }` (compared as a set with the keys of
 * the selected JSON object). `undefined` means the test cannot produce the check: a failure.
 *
 * @example
 * ```ts
 * const out: CheckOutput = { json: ['a</w>', 'cat</w>'] };
 * ```
 */
export type CheckOutput =
  | tf.Tensor
  | { shape?: readonly number[]; data: NumericArray }
  | { json: unknown }
  | { keys: Iterable<string> }
  | undefined;

/**
 * How a test produces a check's output; called once per check, in manifest order.
 *
 * @example
 * ```ts
 * const produce: CheckProducer = (c) => outputs.get(c.output);
 * ```
 */
export type CheckProducer = (check: FixtureCheck, index: number) => CheckOutput | Promise<CheckOutput>;

/**
 * Options of {@link runManifestChecks}.
 *
 * @example
 * ```ts
 * const o: ManifestRunOptions = { label: 'cpu', only: { match: (c) => c.output.startsWith('no_edit.'), reason: 'plain CFG run' } };
 * ```
 */
export interface ManifestRunOptions {
  /** Added to messages and figures (a backend, a variant). */
  label?: string;
  /** Layout of our 4-D outputs: `NHWC` (default) turns `NCHW`/`TNCHW` references to NHWC; `same` compares as stored. */
  ours?: 'NHWC' | 'same';
  /** Runs only the checks `match` keeps; `reason` says where the others run. The kept set must not be empty. */
  only?: { match: (check: FixtureCheck) => boolean; reason: string };
  /** Print the figures (default true). */
  print?: boolean;
}

/** The outcome of one check. */
export interface CheckFigure {
  output: string;
  file: string;
  ok: boolean;
  /** Largest absolute error over numeric values (0 for exact non-numeric checks). */
  maxAbs: number;
  atol: number;
  rtol: number;
  /** Empty when ok. */
  message: string;
}

/** What {@link runManifestChecks} ran. */
export interface ManifestReport {
  id: string;
  label: string;
  /** Checks the manifest lists. */
  listed: number;
  /** Checks selected to run (all unless `only`). */
  selected: number;
  /** Checks compared (equal to `selected` when the run returns). */
  ran: number;
  figures: CheckFigure[];
}

type Json = unknown;

/** Splits `cases[*].ids` into `['cases', '[*]', 'ids']`. */
function pathTokens(path: string): string[] {
  return path.split('.').flatMap((p) => {
    const m = /^(.*?)((?:\[\*\])+)$/.exec(p);
    if (!m) return [p];
    return [...(m[1] ? [m[1]] : []), ...Array.from({ length: m[2]!.length / 3 }, () => '[*]')];
  });
}

/**
 * Selects a check path in parsed JSON: dot-separated keys, `*` = every value of an object (an object of the same
 * keys results), `[*]` = every element of an array. Throws naming the missing step.
 *
 * @param obj  parsed JSON
 * @param path e.g. `files.ckpt.tensors.*.dtype` or `cases[*].ids`
 * @example
 * ```ts
 * selectJsonPath({ t: { a: { d: 'f32' }, b: { d: 'i64' } } }, 't.*.d'); // { a: 'f32', b: 'i64' }
 * ```
 */
export function selectJsonPath(obj: Json, path: string): Json {
  const walk = (cur: Json, toks: string[], at: string): Json => {
    if (toks.length === 0) return cur;
    const [t, ...rest] = toks as [string, ...string[]];
    if (t === '[*]') {
      if (!Array.isArray(cur)) throw new SemeditError('E_FIXTURE', `JSON path "${path}": ${at || 'root'} is not an array`);
      return cur.map((v, i) => walk(v, rest, `${at}[${i}]`));
    }
    if (typeof cur !== 'object' || cur === null || Array.isArray(cur)) {
      throw new SemeditError('E_FIXTURE', `JSON path "${path}": ${at || 'root'} is not an object`);
    }
    const o = cur as Record<string, Json>;
    if (t === '*') return Object.fromEntries(Object.entries(o).map(([k, v]) => [k, walk(v, rest, `${at}.${k}`)]));
    if (!Object.hasOwn(o, t)) throw new SemeditError('E_FIXTURE', `JSON path "${path}": no key "${t}" at ${at || 'root'}`);
    return walk(o[t], rest, at ? `${at}.${t}` : t);
  };
  return walk(obj, pathTokens(path), '');
}

const fmtNum = (v: number): string => (Number.isNaN(v) ? 'nan' : v === Infinity ? 'inf' : v === -Infinity ? '-inf' : String(v));

/** Deep comparison; numbers within `atol + rtol·|e|`, `"inf"`/`"nan"` strings match those numbers. */
function compareJson(a: Json, e: Json, c: FixtureCheck, at: string, out: string[], max: { abs: number }): void {
  if (out.length > 20) return;
  if (typeof e === 'number' || (typeof e === 'string' && typeof a === 'number')) {
    if (typeof a !== 'number') return void out.push(`${at}: ${JSON.stringify(a)} is not a number (expected ${e})`);
    if (typeof e === 'string') return void (fmtNum(a) === e || out.push(`${at}: ${fmtNum(a)} != ${e}`));
    const d = Math.abs(a - e);
    if (Number.isFinite(d)) max.abs = Math.max(max.abs, d);
    if (!(d <= c.atol + c.rtol * Math.abs(e))) out.push(`${at}: ${fmtNum(a)} != ${e} (atol ${c.atol}, rtol ${c.rtol})`);
    return;
  }
  if (Array.isArray(e)) {
    if (!Array.isArray(a) || a.length !== e.length) return void out.push(`${at}: ${JSON.stringify(a)?.slice(0, 80)} vs ${e.length} expected values`);
    e.forEach((v, i) => compareJson(a[i], v, c, `${at}[${i}]`, out, max));
    return;
  }
  if (typeof e === 'object' && e !== null) {
    if (typeof a !== 'object' || a === null || Array.isArray(a)) return void out.push(`${at}: not an object`);
    const ka = Object.keys(a);
    const ke = Object.keys(e);
    const missing = ke.filter((k) => !Object.hasOwn(a, k));
    const extra = ka.filter((k) => !Object.hasOwn(e, k));
    if (missing.length || extra.length) out.push(`${at}: keys missing [${missing.slice(0, 5)}], unexpected [${extra.slice(0, 5)}]`);
    for (const k of ke) if (Object.hasOwn(a, k)) compareJson((a as Record<string, Json>)[k], (e as Record<string, Json>)[k], c, `${at}.${k}`, out, max);
    return;
  }
  if (a !== e) out.push(`${at}: ${JSON.stringify(a)} != ${JSON.stringify(e)}`);
}

/** NCHW (or T·N·C·H·W) data to NHWC with its new shape. */
function toNhwc(data: Float32Array, shape: readonly number[]): { data: Float32Array; shape: number[] } {
  const [c, h, w] = shape.slice(-3) as [number, number, number];
  const lead = shape.slice(0, -3);
  const n = lead.reduce((x, y) => x * y, 1);
  const out = new Float32Array(data.length);
  for (let b = 0; b < n; b++) for (let k = 0; k < c; k++) for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) {
    out[((b * h + y) * w + x) * c + k] = data[((b * c + k) * h + y) * w + x]!;
  }
  return { data: out, shape: [...lead, h, w, c] };
}

/** Reads expected values lazily, one parse / open per file. */
class ExpectedFiles {
  private json = new Map<string, Json>();
  constructor(private readonly m: FixtureManifest) {}

  private path(key: string): string {
    const p = this.m.files[key];
    if (!p) throw new SemeditError('E_FIXTURE', `fixture ${this.m.id} has no file "${key}"`);
    return p;
  }

  jsonAt(c: FixtureCheck): Json {
    const p = this.path(c.file);
    if (!this.json.has(p)) this.json.set(p, JSON.parse(readFileSync(p, 'utf8')));
    return selectJsonPath(this.json.get(p), c.output);
  }

  async tensor(c: FixtureCheck): Promise<{ data: Float32Array; shape: number[] }> {
    const st = await openSafetensors(this.path(c.file));
    try {
      const t = await st.read(c.output);
      return { data: Float32Array.from(t.data as ArrayLike<number>), shape: [...t.shape] };
    } finally {
      await st.close();
    }
  }
}

async function runOne(c: FixtureCheck, got: Exclude<CheckOutput, undefined>, files: ExpectedFiles, ours: 'NHWC' | 'same', name: string): Promise<{ ok: boolean; maxAbs: number; message: string }> {
  if ('keys' in got && !(got instanceof tf.Tensor)) {
    const e = files.jsonAt(c);
    if (typeof e !== 'object' || e === null || Array.isArray(e)) throw new SemeditError('E_FIXTURE', `${name}: expected value is not an object`);
    const ke = new Set(Object.keys(e));
    const ka = new Set(got.keys);
    const missing = [...ke].filter((k) => !ka.has(k));
    const extra = [...ka].filter((k) => !ke.has(k));
    const ok = missing.length === 0 && extra.length === 0;
    return { ok, maxAbs: 0, message: ok ? '' : `${name}: ${missing.length} keys missing (${missing.slice(0, 5)}), ${extra.length} unexpected (${extra.slice(0, 5)})` };
  }
  if ('json' in got && !(got instanceof tf.Tensor)) {
    const out: string[] = [];
    const max = { abs: 0 };
    compareJson(got.json, files.jsonAt(c), c, c.output, out, max);
    return { ok: out.length === 0, maxAbs: max.abs, message: out.length ? `${name}:\n  ${out.join('\n  ')}` : '' };
  }
  let exp = await files.tensor(c);
  if (ours === 'NHWC' && /NCHW$/.test(c.layout) && exp.shape.length >= 4) exp = toNhwc(exp.data, exp.shape);
  const a = got instanceof tf.Tensor ? { shape: got.shape, data: (await got.data()) as Float32Array } : got;
  if (a.shape && (a.shape.length !== exp.shape.length || a.shape.some((d: number, i: number) => d !== exp.shape[i]))) {
    return { ok: false, maxAbs: NaN, message: `${name}: shape [${a.shape}] vs reference [${exp.shape}] (${c.layout})` };
  }
  if (a.data.length !== exp.data.length) return { ok: false, maxAbs: NaN, message: `${name}: ${a.data.length} values vs ${exp.data.length} in the reference` };
  const r = compareArrays(a.data, exp.data, { atol: c.atol, rtol: c.rtol, name, shape: exp.shape });
  return { ok: r.ok, maxAbs: r.maxAbs, message: r.ok ? '' : r.message };
}

/**
 * Runs every check of `m` (or of `opts.only`) through `produce` and compares it with the reference at the check's
 * tolerance. Collects all failures, then throws one error listing them; a check the producer cannot make is a
 * failure. Tensors the producer returns stay the caller's (not disposed).
 *
 * @param m       the fixture manifest
 * @param produce how this test makes each check's output
 * @param opts    label, our layout, the declared subset, printing
 * @returns the figures; `ran === selected` always holds when it returns
 * @throws SemeditError `E_FIXTURE` when the manifest (or the selection) lists no checks; `E_PARITY` listing every
 *   failed or unproducible check
 * @example
 * ```ts
 * const r = await runManifestChecks(readManifest('vae-tiny'), (c) => outputs.get(c.output), { label: 'cpu' });
 * expect(r.ran).toBe(r.listed);
 * ```
 */
export async function runManifestChecks(m: FixtureManifest, produce: CheckProducer, opts: ManifestRunOptions = {}): Promise<ManifestReport> {
  const label = opts.label ?? '';
  if (m.checks.length === 0) throw new SemeditError('E_FIXTURE', `fixture ${m.id} lists no checks: nothing would be tested`);
  const chosen = m.checks.map((c, i) => [c, i] as const).filter(([c]) => !opts.only || opts.only.match(c));
  if (chosen.length === 0) throw new SemeditError('E_FIXTURE', `fixture ${m.id}: the selection (${opts.only?.reason}) keeps no check`);
  const files = new ExpectedFiles(m);
  const figures: CheckFigure[] = [];
  for (const [c, i] of chosen) {
    const name = `${m.id}${label ? ` [${label}]` : ''} ${c.output}`;
    let fig: { ok: boolean; maxAbs: number; message: string };
    try {
      const got = await produce(c, i);
      fig = got === undefined
        ? { ok: false, maxAbs: NaN, message: `${name}: this test cannot produce the check (from: ${c.from})` }
        : await runOne(c, got, files, opts.ours ?? 'NHWC', name);
    } catch (e) {
      fig = { ok: false, maxAbs: NaN, message: `${name}: ${(e as Error).message}` };
    }
    figures.push({ output: c.output, file: c.file, atol: c.atol, rtol: c.rtol, ...fig });
  }
  const report: ManifestReport = { id: m.id, label, listed: m.checks.length, selected: chosen.length, ran: figures.length, figures };
  if (opts.print !== false) console.log(formatManifestReport(report, opts.only?.reason));
  const failed = figures.filter((f) => !f.ok);
  if (failed.length) throw new SemeditError('E_PARITY', `${m.id}${label ? ` [${label}]` : ''}: ${failed.length} of ${figures.length} checks failed:\n${failed.map((f) => f.message).join('\n')}`);
  if (report.ran !== report.selected) throw new SemeditError('E_PARITY', `${m.id}: ran ${report.ran} of ${report.selected} selected checks`);
  return report;
}

/**
 * The figures of a run as text: checks run of listed, then one line per check with its largest error and tolerance.
 *
 * @param r      a report from {@link runManifestChecks}
 * @param reason why a subset ran, if one did
 * @example
 * ```ts
 * console.log(formatManifestReport(report)); // "[parity] vae-tiny [cpu]: 10 of 10 checks run ..."
 * ```
 */
export function formatManifestReport(r: ManifestReport, reason?: string): string {
  const worst = r.figures.reduce((w, f) => (f.atol > 0 && f.maxAbs / f.atol > w ? f.maxAbs / f.atol : w), 0);
  const head = `[parity] ${r.id}${r.label ? ` [${r.label}]` : ''}: ${r.ran} of ${r.listed} checks run` +
    `${r.selected < r.listed ? ` (subset: ${reason})` : ''}, worst error ${worst.toFixed(3)} x atol`;
  const lines = r.figures.map((f) => `  ${f.ok ? 'ok  ' : 'FAIL'} ${f.file}:${f.output} max abs ${f.maxAbs.toExponential(2)} (atol ${f.atol}, rtol ${f.rtol})`);
  return [head, ...lines].join('\n');
}
