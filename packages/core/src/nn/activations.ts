/**
 * Activations used by the diffusion models, written as tfjs op compositions (so every backend and `tf.grad` can
 * run them).
 * @module
 */
import * as tf from '@tensorflow/tfjs-core';

/**
 * SiLU / swish: `x · sigmoid(x)`.
 *
 * @param x any tensor
 * @example
 * ```ts
 * silu(tf.tensor1d([0, 1])).print(); // [0, 0.7311]
 * ```
 */
export function silu<T extends tf.Tensor>(x: T): T {
  return tf.mul(x, tf.sigmoid(x));
}

/**
 * Exact (erf) GELU as `torch.nn.functional.gelu` with `approximate="none"`: `x · ½ (1 + erf(x / √2))`.
 *
 * @param x any tensor
 * @example
 * ```ts
 * gelu(tf.tensor1d([0, 1])).print(); // [0, 0.8413]
 * ```
 */
export function gelu<T extends tf.Tensor>(x: T): T {
  return tf.mul(tf.mul(x, 0.5), tf.add(tf.erf(tf.mul(x, Math.SQRT1_2)), 1));
}
