/**
 * Linear layers over weights stored `[in, out]` (the checkpoint's `[out, in]` transposed once at load), applied
 * as one rank-2 `matMul` without `transposeB`: the fast XNNPACK path of the wasm backend (design.md §2).
 * @module
 */
import * as tf from '@tensorflow/tfjs-core';
import { ShapeMismatchError } from '../errors.js';

/**
 * Parameters of a linear layer (`torch.nn.Linear`), weight already in `[in, out]` layout.
 *
 * @example
 * ```ts
 * const p: LinearParams = { weight: tf.zeros([32, 64]) as tf.Tensor2D, bias: tf.zeros([64]) as tf.Tensor1D };
 * ```
 */
export interface LinearParams {
  /** `[in, out]`. */
  weight: tf.Tensor2D;
  /** `[out]`; absent for bias-free projections (`to_q`, `to_k`, `to_v` of the UNet). */
  bias?: tf.Tensor1D;
}

/**
 * `y = x W + b` on rows.
 *
 * @param p linear parameters
 * @param x `[rows, in]`
 * @returns `[rows, out]`
 * @example
 * ```ts
 * linear({ weight: tf.eye(2) as tf.Tensor2D, bias: tf.tensor1d([1, 1]) }, tf.tensor2d([[1, 2]])).print(); // [[2, 3]]
 * ```
 */
export function linear(p: LinearParams, x: tf.Tensor2D): tf.Tensor2D {
  if (x.shape[1] !== p.weight.shape[0]) throw new ShapeMismatchError('linear input', [null, p.weight.shape[0]], x.shape);
  return (p.bias ? tf.fused.matMul({ a: x, b: p.weight, bias: p.bias }) : tf.matMul(x, p.weight)) as tf.Tensor2D;
}

/**
 * {@link linear} over the last axis of a tensor of any rank (reshaped to rows and back).
 *
 * @param p linear parameters
 * @param x `[..., in]`
 * @returns `[..., out]`
 * @example
 * ```ts
 * linearNd(p, tf.zeros([2, 77, 32])).shape; // [2, 77, 64] for p.weight [32, 64]
 * ```
 */
export function linearNd<T extends tf.Tensor>(p: LinearParams, x: T): T {
  const inner = x.shape[x.rank - 1]!;
  const y = linear(p, tf.reshape(x, [-1, inner]) as tf.Tensor2D);
  return tf.reshape(y, [...x.shape.slice(0, -1), p.weight.shape[1]]) as T;
}
