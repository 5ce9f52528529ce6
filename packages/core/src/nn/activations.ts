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

/**
 * QuickGELU, OpenAI CLIP's activation: `x · σ(1.702 x)`.
 *
 * @param x any shape
 * @example
 * ```ts
 * quickGelu(tf.tensor1d([0, 1])); // [0, 0.8458]
 * ```
 */
export function quickGelu<T extends tf.Tensor>(x: T): T {
  return tf.mul(x, tf.sigmoid(tf.mul(x, 1.702))) as T;
}

/**
 * GELU's tanh approximation (transformers' `"gelu_new"` and `"gelu_pytorch_tanh"`):
 * `0.5 · x · (1 + tanh(√(2/π) · (x + 0.044715 x³)))`.
 *
 * @param x any shape
 * @example
 * ```ts
 * geluTanh(tf.tensor1d([1])); // [0.8412]
 * ```
 */
export function geluTanh<T extends tf.Tensor>(x: T): T {
  const inner = tf.mul(tf.add(x, tf.mul(tf.pow(x, 3), 0.044715)), Math.sqrt(2 / Math.PI));
  return tf.mul(tf.mul(x, 0.5), tf.add(tf.tanh(inner), 1)) as T;
}
