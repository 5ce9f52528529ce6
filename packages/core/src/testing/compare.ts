/**
 * Element-wise closeness checks for parity tests (numpy `allclose` rule) and NCHW <-> NHWC re-layout of plain
 * typed arrays, so NHWC model outputs can be compared with NCHW fixture tensors.
 * @module
 */
import { AssertionError } from 'node:assert';
import * as tf from '@tensorflow/tfjs-core';
import { OptionError, ShapeMismatchError } from '../errors.js';

/** Flat numeric data accepted by the comparisons (f16/bf16 raw bits must be widened to float32 first). */
export type NumericArray =
  | Float32Array | Float64Array | Int32Array | Int16Array | Int8Array
  | Uint32Array | Uint16Array | Uint8Array | Uint8ClampedArray | readonly number[];

/** Data with a shape: a `{ shape, data }` record such as a fixture tensor. */
export interface ShapedArray {
  shape: readonly number[];
  data: NumericArray;
  /** When present, must not be float16/bfloat16 (raw bits would be compared as integers). */
  dtype?: string;
}

/** Options of {@link compareArrays} and {@link expectClose}. */
export interface CompareOptions {
  /** Absolute tolerance; default 1e-8 (numpy's). */
  atol?: number;
  /** Relative tolerance (times |expected|); default 1e-5 (numpy's). */
  rtol?: number;
  /** Name of the compared quantity, used in the message. */
  name?: string;
  /** Logical shape, used to check shapes and to print indices as coordinates. */
  shape?: readonly number[];
  /** How many mismatches to list in the message; default 5. */
  show?: number;
}

/** One element that failed the check. */
export interface Mismatch {
  index: number;
  actual: number;
  expected: number;
}

/** Outcome of {@link compareArrays}. */
export interface CompareResult {
  /** True when every element satisfies the rule. */
  ok: boolean;
  /** Largest |a - e| over elements where both are finite (0 if none). */
  maxAbs: number;
  /** Index of `maxAbs` (-1 if none). */
  maxAbsIndex: number;
  /** Largest |a - e| / |e| over elements where both are finite and e != 0 (0 if none). */
  maxRel: number;
  /** Index of the element that exceeds its tolerance by the largest factor (-1 when all pass). */
  worstIndex: number;
  /** Number of failing elements. */
  mismatches: number;
  /** Number of elements compared. */
  count: number;
  /** The first few failing elements, in index order. */
  firstMismatches: Mismatch[];
  /** One-line summary when ok, otherwise a multi-line report. */
  message: string;
}

function assertNotHalf(x: unknown, which: string): void {
  const dtype = (x as { dtype?: unknown }).dtype;
  if (dtype === 'float16' || dtype === 'bfloat16') {
    throw new OptionError(which, `is ${dtype} raw bits; widen it to float32 before comparing`);
  }
}

/** Row-major coordinates of a flat index, e.g. `[0, 3, 1, 2]`, or the bare index without a shape. */
function formatIndex(i: number, shape: readonly number[] | undefined): string {
  if (!shape || shape.length === 0) return `${i}`;
  const coords: number[] = [];
  let rest = i;
  for (let d = shape.length - 1; d >= 0; d--) {
    coords.unshift(rest % shape[d]!);
    rest = Math.floor(rest / shape[d]!);
  }
  return `${i} [${coords.join(', ')}]`;
}

/**
 * Compares two flat arrays element-wise with numpy's `allclose` rule `|a - e| <= atol + rtol * |e|`.
 * NaN matches only NaN; an infinity matches only the same infinity. Lengths must be equal.
 *
 * @param actual   computed values
 * @param expected reference values (the tolerance scales with these)
 * @param opts     tolerances, name, logical shape
 * @throws ShapeMismatchError when the lengths differ, or differ from `opts.shape`
 * @example
 * ```ts
 * const r = compareArrays([1, 2.0001], [1, 2], { atol: 1e-5, rtol: 0 });
 * console.log(r.ok, r.mismatches, r.worstIndex); // false 1 1
 * ```
 */
export function compareArrays(actual: NumericArray, expected: NumericArray, opts: CompareOptions = {}): CompareResult {
  const { atol = 1e-8, rtol = 1e-5, name = 'array', shape, show = 5 } = opts;
  if (!(atol >= 0) || !(rtol >= 0)) throw new OptionError('atol/rtol', `must be non-negative, got atol=${atol} rtol=${rtol}`);
  if (actual.length !== expected.length) throw new ShapeMismatchError(name, [expected.length], [actual.length]);
  if (shape && shape.reduce((a, b) => a * b, 1) !== actual.length) throw new ShapeMismatchError(`${name} (opts.shape)`, shape, [actual.length]);
  let maxAbs = 0;
  let maxAbsIndex = -1;
  let maxRel = 0;
  let worstIndex = -1;
  let worstRatio = 0;
  let mismatches = 0;
  const firstMismatches: Mismatch[] = [];
  for (let i = 0; i < actual.length; i++) {
    const a = actual[i]!;
    const e = expected[i]!;
    let bad: boolean;
    let ratio: number;
    if (Number.isFinite(a) && Number.isFinite(e)) {
      const diff = Math.abs(a - e);
      if (diff > maxAbs || maxAbsIndex < 0) [maxAbs, maxAbsIndex] = [diff, i];
      if (e !== 0) maxRel = Math.max(maxRel, diff / Math.abs(e));
      const tol = atol + rtol * Math.abs(e);
      bad = diff > tol;
      ratio = tol > 0 ? diff / tol : Infinity;
    } else {
      bad = !(a === e || (Number.isNaN(a) && Number.isNaN(e)));
      ratio = Infinity;
    }
    if (!bad) continue;
    mismatches++;
    if (firstMismatches.length < show) firstMismatches.push({ index: i, actual: a, expected: e });
    if (worstIndex < 0 || ratio > worstRatio) [worstIndex, worstRatio] = [i, ratio];
  }
  const ok = mismatches === 0;
  const shapeText = shape ? ` shape [${shape.join(', ')}]` : ` length ${actual.length}`;
  const head = `${name}${shapeText}: max |a-e| = ${maxAbs.toPrecision(4)}` +
    (maxAbsIndex >= 0 ? ` at ${formatIndex(maxAbsIndex, shape)} (a=${actual[maxAbsIndex]}, e=${expected[maxAbsIndex]})` : '') +
    `, max rel = ${maxRel.toPrecision(4)}, atol=${atol} rtol=${rtol}`;
  const message = ok
    ? `${head}: all ${actual.length} close`
    : [
        `${head}: ${mismatches} of ${actual.length} elements not close`,
        `worst at ${formatIndex(worstIndex, shape)}: a=${actual[worstIndex]}, e=${expected[worstIndex]}`,
        ...firstMismatches.map((m) => `  at ${formatIndex(m.index, shape)}: a=${m.actual}, e=${m.expected}, |a-e|=${Math.abs(m.actual - m.expected)}`),
        ...(mismatches > firstMismatches.length ? [`  ... ${mismatches - firstMismatches.length} more`] : []),
      ].join('\n');
  return { ok, maxAbs, maxAbsIndex, maxRel, worstIndex, mismatches, count: actual.length, firstMismatches, message };
}

/** Flat data and shape (when known) of one operand of {@link expectClose}. */
function unpack(x: tf.Tensor | ShapedArray | NumericArray, which: string): { data: NumericArray; shape: readonly number[] | undefined } {
  if (x instanceof tf.Tensor) return { data: x.dataSync() as Float32Array | Int32Array | Uint8Array, shape: x.shape };
  if (ArrayBuffer.isView(x) || Array.isArray(x)) return { data: x as NumericArray, shape: undefined };
  assertNotHalf(x, which);
  const s = x as ShapedArray;
  return { data: s.data, shape: s.shape };
}

/**
 * Asserts that `actual` is close to `expected` (see {@link compareArrays}); throws an `AssertionError` whose
 * message names the quantity and shape, the largest difference and where, and the first few mismatches.
 * Shapes are compared when both sides have one (tensors and `{ shape, data }` records, or `tol.shape`).
 *
 * @param actual   a tensor (read synchronously, not disposed), `{ shape, data }`, or flat data
 * @param expected the reference, same forms
 * @param tol      tolerances, name, and the shape for flat operands
 * @example
 * ```ts
 * expectClose(unetOut, fixtureTensor, { atol: 1e-4, rtol: 1e-4, name: 'unet-tiny sample' });
 * ```
 */
export function expectClose(
  actual: tf.Tensor | ShapedArray | NumericArray,
  expected: tf.Tensor | ShapedArray | NumericArray,
  tol: CompareOptions = {},
): void {
  const a = unpack(actual, 'actual');
  const e = unpack(expected, 'expected');
  const name = tol.name ?? 'value';
  const fmt = (s: readonly number[] | undefined) => (s ? `[${s.join(', ')}]` : 'none');
  const known = [tol.shape, a.shape, e.shape].filter((s): s is readonly number[] => s !== undefined);
  if (known.some((s) => fmt(s) !== fmt(known[0]))) {
    throw new AssertionError({ message: `${name}: shape mismatch: actual ${fmt(a.shape)}, expected ${fmt(e.shape)}, tol.shape ${fmt(tol.shape)}` });
  }
  if (a.data.length !== e.data.length) {
    throw new AssertionError({ message: `${name}: ${a.data.length} values, expected ${e.data.length}` });
  }
  const shape = tol.shape ?? a.shape ?? e.shape;
  const r = compareArrays(a.data, e.data, { ...tol, name, ...(shape ? { shape } : {}) });
  if (!r.ok) throw new AssertionError({ message: r.message, actual: r.firstMismatches.map((m) => m.actual), expected: r.firstMismatches.map((m) => m.expected) });
}

/** Checks a 3-D or 4-D layout shape against the data length; returns `[N, D1, D2, D3]`. */
function dims4(data: { length: number }, shape: readonly number[], layout: string): [number, number, number, number] {
  if (shape.length !== 3 && shape.length !== 4) throw new ShapeMismatchError(`${layout} shape`, [null, null, null, null], shape);
  const [n, d1, d2, d3] = shape.length === 3 ? [1, ...shape] : shape;
  const size = n! * d1! * d2! * d3!;
  if (size !== data.length) throw new ShapeMismatchError(`${layout} data (length ${data.length})`, [size], [data.length]);
  return [n!, d1!, d2!, d3!];
}

type Relayoutable = Float32Array | Float64Array | Int32Array | Int16Array | Int8Array | Uint32Array | Uint16Array | Uint8Array;

function permute<T extends Relayoutable>(data: T, shape: readonly number[], layout: string, toNhwc: boolean): T {
  const [n, d1, d2, d3] = dims4(data, shape, layout);
  const out = new (data.constructor as new (len: number) => T)(data.length);
  // NCHW: (n, c, h, w) with C=d1, H=d2, W=d3; NHWC: (n, h, w, c) with H=d1, W=d2, C=d3.
  const [c, h, w] = toNhwc ? [d1, d2, d3] : [d3, d1, d2];
  for (let b = 0; b < n; b++) {
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        for (let k = 0; k < c; k++) {
          const nchw = ((b * c + k) * h + y) * w + x;
          const nhwc = ((b * h + y) * w + x) * c + k;
          if (toNhwc) out[nhwc] = data[nchw]!;
          else out[nchw] = data[nhwc]!;
        }
      }
    }
  }
  return out;
}

/**
 * Re-lays out NCHW (or CHW) data as NHWC (or HWC), returning a new array of the same type.
 *
 * @param data  row-major data
 * @param shape its shape `[N, C, H, W]` or `[C, H, W]`; the result has shape `[N, H, W, C]` / `[H, W, C]`
 * @example
 * ```ts
 * console.log(Array.from(nchwToNhwc(new Float32Array([1, 2, 3, 4]), [1, 2, 1, 2]))); // [1, 3, 2, 4]
 * ```
 */
export function nchwToNhwc<T extends Relayoutable>(data: T, shape: readonly number[]): T {
  return permute(data, shape, 'NCHW', true);
}

/**
 * Re-lays out NHWC (or HWC) data as NCHW (or CHW), returning a new array of the same type.
 *
 * @param data  row-major data
 * @param shape its shape `[N, H, W, C]` or `[H, W, C]`; the result has shape `[N, C, H, W]` / `[C, H, W]`
 * @example
 * ```ts
 * console.log(Array.from(nhwcToNchw(new Float32Array([1, 3, 2, 4]), [1, 1, 2, 2]))); // [1, 2, 3, 4]
 * ```
 */
export function nhwcToNchw<T extends Relayoutable>(data: T, shape: readonly number[]): T {
  return permute(data, shape, 'NHWC', false);
}
