/**
 * Activations used by the diffusion models, written as tfjs op compositions (so every backend and `tf.grad` can
 * run them).
 * @module
 */
import * as tf from '@tensorflow/tfjs-core';
import { backendHasKernels, runFused } from './fused.js';

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
  if (x.dtype === 'float32' && backendHasKernels(FUSED_GELU)) return runFused({ kernelName: FUSED_GELU, inputsToSave: ['x'], gradFunc: geluGrad }, { x }) as T;
  return tf.mul(tf.mul(x, 0.5), tf.add(tf.erf(tf.mul(x, Math.SQRT1_2)), 1));
}

/**
 * The kernel name under which a backend may provide the exact GELU in one pass (semedit's `native` engine does);
 * {@link gelu} uses it when present.
 *
 * @example
 * ```ts
 * tf.getKernel(FUSED_GELU, 'native') !== undefined; // true
 * ```
 */
export const FUSED_GELU = 'SemeditGelu';

/** d gelu / dx = Φ(x) + x φ(x). */
function geluGrad(dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[]): Record<string, () => tf.Tensor> {
  const [x] = saved as [tf.Tensor];
  return {
    x: () => {
      const cdf = tf.mul(tf.add(tf.erf(tf.mul(x, Math.SQRT1_2)), 1), 0.5);
      const pdf = tf.mul(tf.exp(tf.mul(tf.square(x), -0.5)), 1 / Math.sqrt(2 * Math.PI));
      return tf.mul(dy as tf.Tensor, tf.add(cdf, tf.mul(x, pdf)));
    },
  };
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
