/**
 * Element-wise closeness checks for parity tests (numpy `allclose` rule) and NCHW <-> NHWC re-layout of plain
 * typed arrays, so NHWC model outputs can be compared with NCHW fixture tensors.
 * @module
 */
import { AssertionError } from 'node:assert';
import * as tf from '@tensorflow/tfjs-core';
import { OptionError, ShapeMismatchError } from '../errors.js';
import { compareArrays, type CompareOptions, type NumericArray } from '../tensor/compare.js';

export { compareArrays, compareTensors, type CompareOptions, type CompareResult, type Mismatch, type NumericArray } from '../tensor/compare.js';

/** Data with a shape: a `{ shape, data }` record such as a fixture tensor. */
export interface ShapedArray {
  shape: readonly number[];
  data: NumericArray;
  /** When present, must not be float16/bfloat16 (raw bits would be compared as integers). */
  dtype?: string;
}

function assertNotHalf(x: unknown, which: string): void {
  const dtype = (x as { dtype?: unknown }).dtype;
  if (dtype === 'float16' || dtype === 'bfloat16') {
    throw new OptionError(which, `is ${dtype} raw bits; widen it to float32 before comparing`);
  }
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
  const r = compareArrays(a.data, e.data, { ...tol, name, shape });
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
