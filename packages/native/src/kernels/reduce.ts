/**
 * Reductions (Sum, Mean, Max, Min, Prod) of float32 tensors on the addon, over an [outer, reduced, inner] view;
 * reduced axes that are not one contiguous run are first transposed to the end.
 * @module
 */
import * as tf from '@tensorflow/tfjs-core';
import { nativeKernel, type NativeBackend } from '../backend.js';
import { call } from '../errors.js';

const OPS: [string, number, string][] = [[tf.Sum, 0, 'axis'], [tf.Mean, 1, 'axis'], [tf.Max, 2, 'reductionIndices'], [tf.Min, 3, 'axis'], [tf.Prod, 4, 'axis']];

/** The [outer, size, inner] view of reducing `axes` of `shape`, or undefined when the axes are not contiguous. */
function view(shape: readonly number[], axes: readonly number[]): [number, number, number] | undefined {
  const red = axes.filter((a) => shape[a] !== 1);
  if (red.length === 0) return [tf.util.sizeFromShape([...shape]), 1, 1];
  const lo = Math.min(...red), hi = Math.max(...red);
  for (let i = lo; i <= hi; i++) if (shape[i] !== 1 && !red.includes(i)) return undefined;
  const size = (s: readonly number[]): number => tf.util.sizeFromShape([...s]);
  return [size(shape.slice(0, lo)), size(shape.slice(lo, hi + 1)), size(shape.slice(hi + 1))];
}

function reduceOne(b: NativeBackend, name: string, op: number, x: tf.TensorInfo, axes: number[]): Float32Array {
  const xs = b.f32(x);
  let v = view(x.shape, axes);
  let data = xs;
  if (!v) {
    const perm = tf.backend_util.getAxesPermutation(axes, x.shape.length)!;
    const moved = new Float32Array(xs.length);
    call(name, () => b.addon.transpose(xs, x.shape, perm, moved));
    const ps = perm.map((p) => x.shape[p]!);
    v = view(ps, ps.map((_, i) => i).slice(ps.length - axes.length))!;
    data = moved;
  }
  const [outer, size, inner] = v;
  const y = new Float32Array(outer * inner);
  call(name, () => b.addon.reduce(op, data, outer, size, inner, y));
  return y;
}

function reduction(name: string, op: number, axisAttr: string): tf.KernelConfig {
  return nativeKernel(name, (b, { inputs, attrs }, cpu) => {
    const x = inputs['x']!;
    const axes = tf.util.parseAxisParam(attrs[axisAttr] as number | number[], x.shape).sort((p, q) => p - q);
    // Empty inputs and empty reductions follow tfjs-backend-cpu exactly (identities, NaN means).
    if (x.dtype !== 'float32' || tf.util.sizeFromShape(x.shape) === 0) return cpu();
    const keep = x.shape.map((d, i) => (axes.includes(i) ? 1 : d));
    const outShape = attrs['keepDims'] ? keep : x.shape.filter((_, i) => !axes.includes(i));
    return b.out(outShape, reduceOne(b, name, op, x, axes));
  });
}

/**
 * UnsortedSegmentSum (the gradient of an embedding lookup, tf.gather) of float32 rows: one pass adding each row into
 * its segment (tfjs-backend-cpu's builds a mask per segment, O(segments · rows)). Ids outside [0, numSegments) are
 * dropped, as tfjs-backend-cpu and TensorFlow do.
 */
const segmentSum = nativeKernel(tf.UnsortedSegmentSum, (b, { inputs, attrs }, cpu) => {
  const x = inputs['x']!, ids = inputs['segmentIds']!;
  if (x.dtype !== 'float32' || ids.shape.length !== 1 || x.shape[0] !== ids.shape[0]) return cpu();
  const segments = Number(attrs['numSegments']);
  const row = tf.util.sizeFromShape(x.shape.slice(1));
  const xs = b.f32(x);
  const idv = b.data.get(ids.dataId).values as ArrayLike<number>;
  const y = new Float32Array(segments * row);
  for (let i = 0; i < ids.shape[0]!; i++) {
    const s = idv[i]!;
    if (!(s >= 0 && s < segments)) continue;
    const from = i * row, to = s * row;
    for (let j = 0; j < row; j++) y[to + j]! += xs[from + j]!;
  }
  return b.out([segments, ...x.shape.slice(1)], y);
});

/** The reduction kernels the addon runs (and the segment sum, in JavaScript). */
export const REDUCE_KERNELS: tf.KernelConfig[] = [...OPS.map(([n, op, attr]): tf.KernelConfig => reduction(n, op, attr)), segmentSum];
