/**
 * The small blocks of CLIP's transformer: linear layers on `[in, out]` weights, LayerNorm, the activations
 * `hidden_act` names, and the MLP. Functions `(p, x) → y` over parameter trees (style.md 3.2); activations are
 * kept 2-D `[rows, channels]` so every matmul is a plain rank-2 one (wasm's fast path).
 * @module
 */
import * as tf from '@tensorflow/tfjs-core';
import type { ClipHiddenAct } from './config.js';

/**
 * A linear layer's parameters, weight already transposed at load to `[in, out]`.
 *
 * @example
 * ```ts
 * const p: LinearParams = { weight: tf.zeros([32, 64]) as tf.Tensor2D, bias: tf.zeros([64]) as tf.Tensor1D };
 * ```
 */
export interface LinearParams {
  /** `[in, out]` (the checkpoint's `[out, in]` transposed once at load). */
  weight: tf.Tensor2D;
  /** `[out]`, absent for bias-free projections. */
  bias?: tf.Tensor1D;
}

/**
 * LayerNorm parameters (`weight` = γ, `bias` = β).
 *
 * @example
 * ```ts
 * const p: LayerNormParams = { weight: tf.ones([32]) as tf.Tensor1D, bias: tf.zeros([32]) as tf.Tensor1D };
 * ```
 */
export interface LayerNormParams {
  weight: tf.Tensor1D;
  bias: tf.Tensor1D;
}

/**
 * `CLIPMLP` parameters: `fc1` (hidden → intermediate), `fc2` (intermediate → hidden).
 *
 * @example
 * ```ts
 * const y = clipMlp({ fc1, fc2 }, x, 'quick_gelu');
 * ```
 */
export interface ClipMlpParams {
  fc1: LinearParams;
  fc2: LinearParams;
}

/**
 * `y = x W + b` with `W` stored `[in, out]`.
 *
 * @param p linear parameters
 * @param x `[rows, in]`
 * @returns `[rows, out]`
 * @example
 * ```ts
 * linear({ weight: tf.eye(2) as tf.Tensor2D }, tf.tensor2d([[1, 2]])); // [[1, 2]]
 * ```
 */
export function linear(p: LinearParams, x: tf.Tensor2D): tf.Tensor2D {
  const y: tf.Tensor2D = tf.matMul(x, p.weight);
  return p.bias ? (tf.add(y, p.bias) as tf.Tensor2D) : y;
}

/**
 * LayerNorm over the last axis with the biased variance, as `torch.nn.LayerNorm`:
 * `(x - μ) / sqrt(σ² + eps) · γ + β`.
 *
 * @param p   γ and β, `[C]`
 * @param x   `[..., C]`
 * @param eps `layer_norm_eps` (1e-5 in CLIP)
 * @example
 * ```ts
 * layerNorm({ weight: tf.ones([2]), bias: tf.zeros([2]) }, tf.tensor2d([[1, 3]]), 1e-5); // ≈ [[-1, 1]]
 * ```
 */
export function layerNorm<T extends tf.Tensor>(p: LayerNormParams, x: T, eps: number): T {
  const { mean, variance } = tf.moments(x, -1, true);
  const normed = tf.mul(tf.sub(x, mean), tf.rsqrt(tf.add(variance, eps)));
  return tf.add(tf.mul(normed, p.weight), p.bias) as T;
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
 * Exact GELU: `0.5 · x · (1 + erf(x / √2))` (`torch.nn.functional.gelu`, transformers' `"gelu"`), not the tanh
 * approximation. tfjs' `erf` (cpu and wasm) is accurate to about 1e-7 and has a gradient.
 *
 * @param x any shape
 * @example
 * ```ts
 * gelu(tf.tensor1d([1])); // [0.8413]
 * ```
 */
export function gelu<T extends tf.Tensor>(x: T): T {
  return tf.mul(tf.mul(x, 0.5), tf.add(tf.erf(tf.mul(x, Math.SQRT1_2)), 1)) as T;
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

/**
 * Applies the activation a config's `hidden_act` names.
 *
 * @param name `quick_gelu`, `gelu`, `gelu_new` or `gelu_pytorch_tanh`
 * @param x    any shape
 * @example
 * ```ts
 * activation('gelu', x);
 * ```
 */
export function activation<T extends tf.Tensor>(name: ClipHiddenAct, x: T): T {
  switch (name) {
    case 'quick_gelu':
      return quickGelu(x);
    case 'gelu':
      return gelu(x);
    case 'gelu_new':
    case 'gelu_pytorch_tanh':
      return geluTanh(x);
  }
}

/**
 * `CLIPMLP`: `fc2(act(fc1(x)))`.
 *
 * @param p   `fc1`, `fc2`
 * @param x   `[rows, hidden]`
 * @param act the config's `hidden_act`
 * @returns `[rows, hidden]`
 * @example
 * ```ts
 * const y = clipMlp(layer.mlp, x2d, cfg.hiddenAct);
 * ```
 */
export function clipMlp(p: ClipMlpParams, x: tf.Tensor2D, act: ClipHiddenAct): tf.Tensor2D {
  return linear(p.fc2, activation(act, linear(p.fc1, x)));
}
