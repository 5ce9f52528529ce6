/**
 * Element-wise closeness of tensors with numpy's `allclose` rule `|a - e| <= atol + rtol * |e|`: the library's
 * own check of a result against a reference (the demo's first-layer check, conversions), also the core of the
 * parity tests' comparisons. No Node imports: it runs in browsers too.
 * @module
 */
import * as tf from '@tensorflow/tfjs-core';
import { OptionError, ShapeMismatchError } from '../errors.js';

/** Flat numeric data accepted by the comparisons (f16/bf16 raw bits must be widened to float32 first). */
export type NumericArray =
  | Float32Array | Float64Array | Int32Array | Int16Array | Int8Array
  | Uint32Array | Uint16Array | Uint8Array | Uint8ClampedArray | readonly number[];

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

/**
 * A tensor, or flat data with its shape (a fixture tensor as read), widened to float32 where it was half precision.
 *
 * @example
 * ```ts
 * const e: ShapedData = { shape: [1, 2], data: new Float32Array([1, 2]) };
 * ```
 */
export interface ShapedData {
  shape: readonly number[];
  data: NumericArray;
}

/**
 * Compares a tensor with a reference at a tolerance: shapes must be equal (a typed error names both), then every
 * element must satisfy `|a - e| <= atol + rtol * |e|`. Reads both operands; disposes nothing.
 *
 * @param actual   the computed tensor
 * @param expected the reference: a tensor or `{ shape, data }`
 * @param opts     `atol`, `rtol`, the quantity's `name` for the message, how many mismatches to `show`
 * @returns the outcome: `ok`, `maxAbs`, `maxRel`, mismatch count and a readable message
 * @throws ShapeMismatchError when the shapes differ
 * @example
 * ```ts
 * const r = await compareTensors(convIn, reference, { atol: 1e-4, rtol: 1e-4, name: 'conv_in' });
 * if (!r.ok) console.error(r.message);
 * ```
 */
export async function compareTensors(actual: tf.Tensor, expected: tf.Tensor | ShapedData, opts: Omit<CompareOptions, 'shape'> = {}): Promise<CompareResult> {
  const name = opts.name ?? 'tensor';
  const eShape = expected.shape;
  if (actual.shape.length !== eShape.length || actual.shape.some((d, i) => d !== eShape[i])) {
    throw new ShapeMismatchError(name, eShape, actual.shape);
  }
  const a = (await actual.data()) as Float32Array;
  const e = expected instanceof tf.Tensor ? ((await expected.data()) as Float32Array) : expected.data;
  return compareArrays(a, e, { ...opts, name, shape: eShape });
}
