/**
 * Data-movement kernels on the addon (float32; other dtypes go to tfjs-backend-cpu): Concat, nearest-neighbour
 * resize, PadV2 (constant mode), Slice and SplitV, as parallel row copies.
 * @module
 */
import * as tf from '@tensorflow/tfjs-core';
import { nativeKernel } from '../backend.js';
import { call } from '../errors.js';

/** Concat of float32 tensors along any axis, as row copies of a 2-D view (empty inputs contribute nothing). */
const concat = nativeKernel(tf.Concat, (b, { inputs, attrs }, cpu) => {
  const xs = inputs as unknown as tf.TensorInfo[];
  if (xs.length === 0 || xs.some((x) => x.dtype !== 'float32')) return cpu();
  const axis = tf.util.parseAxisParam(Number(attrs['axis'] ?? 0), xs[0]!.shape)[0]!;
  tf.backend_util.assertParamsConsistent(xs.map((x) => x.shape), axis);
  const outShape = tf.backend_util.computeOutShape(xs.map((x) => x.shape), axis);
  const rows = tf.util.sizeFromShape(outShape.slice(0, axis));
  const parts = xs.filter((x) => tf.util.sizeFromShape(x.shape) > 0);
  const y = new Float32Array(tf.util.sizeFromShape(outShape));
  if (y.length > 0) call(tf.Concat, () => b.addon.concat(parts.map((x) => b.f32(x)), parts.map((x) => tf.util.sizeFromShape(x.shape.slice(axis))), rows, y));
  return b.out(outShape, y);
});

/** Pack (tf.stack) of float32 tensors of one shape: a concat along a new axis of size 1 in each input. */
const pack = nativeKernel(tf.Pack, (b, { inputs, attrs }, cpu) => {
  const xs = inputs as unknown as tf.TensorInfo[];
  if (xs.length === 0 || xs.some((x) => x.dtype !== 'float32')) return cpu();
  const shape = xs[0]!.shape;
  if (xs.some((x) => !tf.util.arraysEqual(x.shape, shape))) return cpu(); // tfjs's own error names the mismatch
  const axis = tf.util.parseAxisParam(Number(attrs['axis'] ?? 0), [...shape, 1])[0]!;
  const outShape = [...shape.slice(0, axis), xs.length, ...shape.slice(axis)];
  const rows = tf.util.sizeFromShape(shape.slice(0, axis));
  const each = tf.util.sizeFromShape(shape.slice(axis));
  const y = new Float32Array(tf.util.sizeFromShape(outShape));
  if (y.length > 0) call(tf.Pack, () => b.addon.concat(xs.map((x) => b.f32(x)), xs.map(() => each), rows, y));
  return b.out(outShape, y);
});

/**
 * The source index of each output position of a nearest-neighbour resize along one axis, by tfjs's rules (align
 * corners: the end points map onto each other and the nearest is rounded; half-pixel centres: sampled at +0.5).
 */
function nearestSources(from: number, to: number, alignCorners: boolean, halfPixelCenters: boolean): Int32Array {
  const corners = alignCorners && to > 1;
  const ratio = (corners ? from - 1 : from) / (corners ? to - 1 : to);
  return Int32Array.from({ length: to }, (_, i) => {
    const frac = ratio * (halfPixelCenters ? i + 0.5 : i);
    const nearest = Math.min(from - 1, alignCorners ? Math.round(frac) : Math.floor(frac));
    return halfPixelCenters ? Math.max(0, nearest) : nearest;
  });
}

const resizeNearest = nativeKernel(tf.ResizeNearestNeighbor, (b, { inputs, attrs }, cpu) => {
  const x = inputs['images']!;
  if (x.dtype !== 'float32' || x.shape.length !== 4) return cpu();
  const [oh, ow] = attrs['size'] as [number, number];
  const [batch, h, w, c] = x.shape as [number, number, number, number];
  const align = Boolean(attrs['alignCorners']), half = Boolean(attrs['halfPixelCenters']);
  const y = new Float32Array(batch * oh * ow * c);
  if (y.length > 0) {
    call(tf.ResizeNearestNeighbor, () => b.addon.resizeNearest(b.f32(x), x.shape, nearestSources(h, oh, align, half), nearestSources(w, ow, align, half), y));
  }
  return b.out([batch, oh, ow, c], y);
});

const pad = nativeKernel(tf.PadV2, (b, { inputs, attrs }, cpu) => {
  const x = inputs['x']!;
  if (x.dtype !== 'float32') return cpu();
  const paddings = attrs['paddings'] as [number, number][];
  const outShape = x.shape.map((d, i) => paddings[i]![0] + d + paddings[i]![1]);
  const y = new Float32Array(tf.util.sizeFromShape(outShape));
  if (y.length > 0) {
    call(tf.PadV2, () => b.addon.pad(b.f32(x), x.shape, paddings.map((p) => p[0]), paddings.map((p) => p[1]), Number(attrs['constantValue'] ?? 0), y));
  }
  return b.out(outShape, y);
});

/** Slice, always a copy (tfjs-backend-cpu's returns a view of a contiguous slice's buffer). */
const slice = nativeKernel(tf.Slice, (b, { inputs, attrs }, cpu) => {
  const x = inputs['x']!;
  if (x.dtype !== 'float32' || x.shape.length === 0) return cpu();
  const [begin, size] = tf.slice_util.parseSliceParams(x as tf.Tensor, attrs['begin'] as number[], attrs['size'] as number[]) as [number[], number[]];
  tf.slice_util.assertParamsValid(x as tf.Tensor, begin, size);
  const y = new Float32Array(tf.util.sizeFromShape(size));
  if (y.length > 0) call(tf.Slice, () => b.addon.slice(b.f32(x), x.shape, begin, size, y));
  return b.out(size, y);
});

/** SplitV (tf.split, and Concat's gradient): one native slice copy per part along the axis. */
const splitV = nativeKernel(tf.SplitV, (b, { inputs, attrs }, cpu) => {
  const x = inputs['x']!;
  if (x.dtype !== 'float32' || x.shape.length === 0) return cpu();
  const axis = tf.util.parseAxisParam(Number(attrs['axis'] ?? 0), x.shape)[0]!;
  const sizes = tf.backend_util.prepareSplitSize(x as tf.Tensor, attrs['numOrSizeSplits'] as number[] | number, axis);
  const begin = x.shape.map(() => 0);
  return sizes.map((n) => {
    const size = [...x.shape];
    size[axis] = n;
    const y = new Float32Array(tf.util.sizeFromShape(size));
    if (y.length > 0) call(tf.SplitV, () => b.addon.slice(b.f32(x), x.shape, [...begin], size, y));
    begin[axis]! += n;
    return b.out(size, y);
  });
});

/** The data-movement kernels the addon runs. */
export const LAYOUT_KERNELS: tf.KernelConfig[] = [concat, pack, resizeNearest, pad, slice, splitV];
