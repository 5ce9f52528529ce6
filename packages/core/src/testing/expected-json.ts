/**
 * Comparing tensors read from a checkpoint with a fixture's `*.expected.json` table, where every tensor name maps
 * to `{dtype, shape, sum_f64, first4}` (and for strided views `stride`, `storage_offset`, `contiguous`).
 * Non-finite values are the strings `"inf"`, `"-inf"`, `"nan"`. Sums are float64 over the stored values
 * (float16/bfloat16 decoded from their bits, int64 summed exactly as BigInt).
 * @module
 */
import { readFileSync } from 'node:fs';
import { SemeditError } from '../errors.js';
import { halfToFloat } from '../io/dtype.js';
import type { RawTensor } from '../io/types.js';
import type { FixtureCheck, FixtureManifest } from '../fixtures/manifest.js';
import { isContiguous } from '../io/torch-tensors.js';

/**
 * One row of an expected table.
 *
 * @example
 * ```ts
 * const row: ExpectedTensor = { dtype: 'float32', shape: [2], sum_f64: 3, first4: [1, 2] };
 * ```
 */
export interface ExpectedTensor {
  dtype: string;
  shape: number[];
  /** Sum of all elements in float64, or `"inf"` / `"-inf"` / `"nan"`. */
  sum_f64: number | string;
  /** First (up to) four elements of the logical tensor in row-major order. */
  first4: (number | string | boolean)[];
  stride?: number[];
  storage_offset?: number;
  contiguous?: boolean;
}

/**
 * Expected tensors by name.
 *
 * @example
 * ```ts
 * const table: ExpectedTensorTable = { b: { dtype: 'int64', shape: [], sum_f64: 7, first4: [7] } };
 * ```
 */
export type ExpectedTensorTable = Record<string, ExpectedTensor>;

/**
 * Tolerance of one comparison: `|actual - expected| <= atol + rtol * |expected|`.
 *
 * @example
 * ```ts
 * const tol: Tolerance = { atol: 1e-6, rtol: 1e-6 };
 * ```
 */
export interface Tolerance {
  atol: number;
  rtol: number;
}

/**
 * Tolerances for the numeric fields (dtype, shape, names, stride are always compared exactly).
 *
 * @example
 * ```ts
 * const t: ExpectedTolerances = { sum_f64: { atol: 1e-6, rtol: 1e-6 }, first4: { atol: 1e-7, rtol: 1e-7 } };
 * ```
 */
export interface ExpectedTolerances {
  sum_f64: Tolerance;
  first4: Tolerance;
}

/**
 * Options of {@link compareTensorsToExpected}.
 *
 * @example
 * ```ts
 * const opts: CompareOptions = { maxMismatches: 20 };
 * ```
 */
export interface CompareOptions {
  /** Stop listing after this many mismatches (a final line counts the rest). Default 100. */
  maxMismatches?: number;
}

/**
 * Element `i` (row-major) of a tensor as a number: float16/bfloat16 bits decoded, int64 via `Number()`.
 *
 * @param t tensor
 * @param i flat index
 * @example
 * ```ts
 * tensorValueAt({ dtype: 'float16', shape: [1], data: new Uint16Array([0x3c00]) }, 0); // 1
 * ```
 */
export function tensorValueAt(t: RawTensor, i: number): number {
  const v = t.data[i]!;
  if (t.dtype === 'float16') return halfToFloat(v as number);
  if (t.dtype === 'bfloat16') return new Float32Array(new Uint32Array([(v as number) << 16]).buffer)[0]!;
  return Number(v);
}

/**
 * Sum of all elements in float64 (compensated summation; int64 summed exactly as BigInt). NaN if any element is
 * NaN or both infinities occur.
 *
 * @param t tensor, any dtype (float16/bfloat16 as raw bits)
 * @example
 * ```ts
 * tensorSumF64({ dtype: 'int64', shape: [2], data: new BigInt64Array([1n, 2n]) }); // 3
 * ```
 */
export function tensorSumF64(t: RawTensor): number {
  if (t.data instanceof BigInt64Array) {
    let s = 0n;
    for (const v of t.data) s += v;
    return Number(s);
  }
  let sum = 0;
  let comp = 0;
  let posInf = false;
  let negInf = false;
  for (let i = 0; i < t.data.length; i++) {
    const x = tensorValueAt(t, i);
    if (!Number.isFinite(x)) {
      if (Number.isNaN(x)) return NaN;
      if (x > 0) posInf = true;
      else negInf = true;
      continue;
    }
    const s = sum + x;
    comp += Math.abs(sum) >= Math.abs(x) ? sum - s + x : x - s + sum;
    sum = s;
  }
  if (posInf && negInf) return NaN;
  if (posInf) return Infinity;
  if (negInf) return -Infinity;
  return sum + comp;
}

/**
 * The first (up to) four elements in row-major order, as numbers.
 *
 * @param t tensor
 * @example
 * ```ts
 * tensorFirst4({ dtype: 'int32', shape: [], data: new Int32Array([5]) }); // [5]
 * ```
 */
export function tensorFirst4(t: RawTensor): number[] {
  const out: number[] = [];
  for (let i = 0; i < Math.min(4, t.data.length); i++) out.push(tensorValueAt(t, i));
  return out;
}

export { isContiguous };

const fmt = (v: number): string => (Number.isNaN(v) ? 'nan' : v === Infinity ? 'inf' : v === -Infinity ? '-inf' : String(v));

/** Compares one value; returns a description of the difference, or undefined when within tolerance. */
function diff(actual: number, expected: number | string | boolean, tol: Tolerance): string | undefined {
  if (typeof expected === 'string') return fmt(actual) === expected ? undefined : `${fmt(actual)} != ${expected}`;
  const e = typeof expected === 'boolean' ? Number(expected) : expected;
  if (!Number.isFinite(actual) || Math.abs(actual - e) > tol.atol + tol.rtol * Math.abs(e)) {
    return `${fmt(actual)} != ${e} (|diff| ${fmt(Math.abs(actual - e))} > atol ${tol.atol} + rtol ${tol.rtol} * |expected|)`;
  }
  return undefined;
}

const same = (a: readonly unknown[] | undefined, b: readonly unknown[] | undefined) => JSON.stringify(a) === JSON.stringify(b);

/**
 * Compares tensors with an expected table: name sets equal, then per tensor dtype and shape exactly, `sum_f64`
 * and `first4` within tolerance, and `stride` / `storage_offset` / `contiguous` exactly when the table has them.
 * Returns one human-readable line per mismatch, so a test can `expect(mismatches).toEqual([])`.
 *
 * @param actual   tensors as read (float16/bfloat16 unwidened, so the dtype matches the file)
 * @param expected the `tensors` table of an expected.json
 * @param tol      tolerances for `sum_f64` and `first4` (see {@link tolerancesFromChecks})
 * @param opts     `maxMismatches`
 * @example
 * ```ts
 * const { table, tolerances } = loadExpectedTable(manifest, 'unet_fp16_expected', 'tensors');
 * expect(compareTensorsToExpected(await readSafetensors(f, { widen: false }), table, tolerances)).toEqual([]);
 * ```
 */
export function compareTensorsToExpected(
  actual: ReadonlyMap<string, RawTensor>,
  expected: ExpectedTensorTable,
  tol: ExpectedTolerances,
  opts: CompareOptions = {},
): string[] {
  const out: string[] = [];
  for (const name of Object.keys(expected)) if (!actual.has(name)) out.push(`${name}: missing from the tensors read`);
  for (const name of actual.keys()) if (!Object.hasOwn(expected, name)) out.push(`${name}: not in the expected table`);
  for (const [name, e] of Object.entries(expected)) {
    const t = actual.get(name);
    if (!t) continue;
    const bad = (what: string) => out.push(`${name}: ${what}`);
    if (t.dtype !== e.dtype) bad(`dtype ${t.dtype} != ${e.dtype}`);
    if (!same(t.shape, e.shape)) bad(`shape [${t.shape.join(', ')}] != [${e.shape.join(', ')}]`);
    if (t.data.length !== t.shape.reduce((a, b) => a * b, 1)) bad(`${t.data.length} elements for shape [${t.shape.join(', ')}]`);
    const s = diff(tensorSumF64(t), e.sum_f64, tol.sum_f64);
    if (s) bad(`sum_f64 ${s}`);
    const f = tensorFirst4(t);
    if (f.length !== e.first4.length) bad(`first4 has ${f.length} values, expected ${e.first4.length}`);
    e.first4.forEach((v, i) => {
      const d = i < f.length ? diff(f[i]!, v, tol.first4) : undefined;
      if (d) bad(`first4[${i}] ${d}`);
    });
    if (e.stride !== undefined && !same(t.stride, e.stride)) bad(`stride ${JSON.stringify(t.stride)} != ${JSON.stringify(e.stride)}`);
    if (e.storage_offset !== undefined && t.storageOffset !== e.storage_offset) {
      bad(`storage_offset ${t.storageOffset} != ${e.storage_offset}`);
    }
    if (e.contiguous !== undefined) {
      const c = t.stride ? isContiguous(t.shape, t.stride) : undefined;
      if (c !== e.contiguous) bad(`contiguous ${c} != ${e.contiguous}`);
    }
  }
  const max = opts.maxMismatches ?? 100;
  return out.length > max ? [...out.slice(0, max), `... and ${out.length - max} more mismatches`] : out;
}

/**
 * Follows a dot-separated JSON path (`files.safetensors.tensors`); throws if a step is missing.
 *
 * @param obj  parsed JSON
 * @param path dot-separated keys
 * @example
 * ```ts
 * readJsonPath({ a: { b: 1 } }, 'a.b'); // 1
 * ```
 */
export function readJsonPath(obj: unknown, path: string): unknown {
  let cur = obj;
  for (const key of path.split('.')) {
    if (typeof cur !== 'object' || cur === null || !Object.hasOwn(cur, key)) {
      throw new SemeditError('E_FIXTURE', `JSON path "${path}": no key "${key}"`);
    }
    cur = (cur as Record<string, unknown>)[key];
  }
  return cur;
}

/**
 * Finds the tolerances for a table in a manifest's checks: the checks whose `file` is `fileKey` and whose
 * `output` is `<tablePath>.*.sum_f64` and `<tablePath>.*.first4`. Throws if either is absent, so a test never
 * falls back to a silent default.
 *
 * @param checks    the manifest's checks
 * @param fileKey   key into the manifest's `files` (e.g. `sd_expected`)
 * @param tablePath JSON path of the table inside that file (e.g. `files.safetensors.tensors`)
 * @example
 * ```ts
 * tolerancesFromChecks(m.checks, 'unet_fp16_expected', 'tensors'); // { sum_f64: {atol: 1e-6, ...}, first4: ... }
 * ```
 */
export function tolerancesFromChecks(checks: readonly FixtureCheck[], fileKey: string, tablePath: string): ExpectedTolerances {
  const find = (field: string): Tolerance => {
    const c = checks.find((k) => k.file === fileKey && k.output === `${tablePath}.*.${field}`);
    if (!c) throw new SemeditError('E_FIXTURE', `no check for ${fileKey} output "${tablePath}.*.${field}"`);
    return { atol: c.atol, rtol: c.rtol };
  };
  return { sum_f64: find('sum_f64'), first4: find('first4') };
}

/**
 * Loads an expected table and its tolerances from a fixture manifest.
 *
 * @param manifest  from `readManifest(...)`
 * @param fileKey   key of the expected.json in `manifest.files`
 * @param tablePath JSON path of the table in it
 * @example
 * ```ts
 * const m = readManifest('checkpoint-formats');
 * const { table, tolerances } = loadExpectedTable(m, 'sd_expected', 'files.safetensors.tensors');
 * ```
 */
export function loadExpectedTable(
  manifest: FixtureManifest,
  fileKey: string,
  tablePath: string,
): { table: ExpectedTensorTable; tolerances: ExpectedTolerances } {
  const path = manifest.files[fileKey];
  if (!path) throw new SemeditError('E_FIXTURE', `fixture ${manifest.id} has no file "${fileKey}"`);
  const table = readJsonPath(JSON.parse(readFileSync(path, 'utf8')), tablePath) as ExpectedTensorTable;
  return { table, tolerances: tolerancesFromChecks(manifest.checks, fileKey, tablePath) };
}
