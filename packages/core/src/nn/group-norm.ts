/**
 * Normalizations: GroupNorm over NHWC activations and LayerNorm over the last axis, with PyTorch's semantics
 * (biased variance, `eps` inside the square root, per-channel affine).
 * @module
 */
import * as tf from '@tensorflow/tfjs-core';
import { OptionError, ShapeMismatchError } from '../errors.js';
import { silu as siluOf } from './activations.js';
import { fusedNorm, hasFusedNorm } from './fused-norm.js';

/**
 * Affine parameters of a norm layer (`weight` = γ, `bias` = β), each `[C]`.
 *
 * @example
 * ```ts
 * const p: NormParams = { weight: tf.ones([32]) as tf.Tensor1D, bias: tf.zeros([32]) as tf.Tensor1D };
 * ```
 */
export interface NormParams {
  weight: tf.Tensor1D;
  bias: tf.Tensor1D;
}

/**
 * Options of {@link groupNorm}.
 *
 * @example
 * ```ts
 * const o: GroupNormOptions = { groups: 32, eps: 1e-6 };
 * ```
 */
export interface GroupNormOptions {
  /** Number of groups G; C must be divisible by it. */
  groups: number;
  /** Added to the variance (1e-5 in UNet resnets, 1e-6 in the VAE and before a transformer's `proj_in`). */
  eps: number;
  /** Apply SiLU after the affine transform (fused into one pass where the backend has the fused kernel). */
  silu?: boolean;
}

/**
 * `torch.nn.GroupNorm` on NHWC input: channels are split into G consecutive groups; each (sample, group) is
 * normalized over its H·W·C/G values, then scaled and shifted per channel.
 * `y = (x - μ_g) / sqrt(σ²_g + eps) · γ_c + β_c`, σ² the biased variance.
 *
 * @param p    γ and β, `[C]`
 * @param x    `[B, H, W, C]`
 * @param opts `groups`, `eps`
 * @returns `[B, H, W, C]`
 * @example
 * ```ts
 * groupNorm({ weight: tf.ones([2]), bias: tf.zeros([2]) }, tf.tensor4d([1, 3, 5, 7], [1, 2, 1, 2]), { groups: 1, eps: 0 });
 * // ≈ [[[[-1.342, -0.447]], [[0.447, 1.342]]]]
 * ```
 */
export function groupNorm(p: NormParams, x: tf.Tensor4D, opts: GroupNormOptions): tf.Tensor4D {
  const [b, h, w, c] = x.shape;
  const g = opts.groups;
  if (!Number.isInteger(g) || g < 1 || c % g !== 0) throw new OptionError('groups', `${g} does not divide the ${c} channels`);
  if (p.weight.shape[0] !== c) throw new ShapeMismatchError('groupNorm weight', [c], p.weight.shape);
  if (x.dtype === 'float32' && hasFusedNorm()) return fusedNorm(x, p.weight, p.bias, { groups: g, eps: opts.eps, silu: opts.silu ?? false, rows: false });
  const grouped = tf.reshape(x, [b, h * w, g, c / g]); // [B, HW, G, C/G]
  const { mean, variance } = tf.moments(grouped, [1, 3], true); // [B, 1, G, 1]
  const normed = tf.mul(tf.sub(grouped, mean), tf.rsqrt(tf.add(variance, opts.eps)));
  const y = tf.add(tf.mul(tf.reshape(normed, [b, h, w, c]), p.weight), p.bias) as tf.Tensor4D;
  return opts.silu ? siluOf(y) : y;
}

/**
 * `torch.nn.LayerNorm` over the last axis: `(x - μ) / sqrt(σ² + eps) · γ + β`.
 *
 * @param p   γ and β, `[C]`
 * @param x   `[..., C]`
 * @param eps added to the variance (1e-5 in the transformer blocks)
 * @example
 * ```ts
 * layerNorm({ weight: tf.ones([2]), bias: tf.zeros([2]) }, tf.tensor2d([[1, 3]]), 1e-5); // ≈ [[-1, 1]]
 * ```
 */
export function layerNorm<T extends tf.Tensor>(p: NormParams, x: T, eps: number): T {
  const c = x.shape[x.rank - 1];
  if (p.weight.shape[0] !== c) throw new ShapeMismatchError('layerNorm weight', [c ?? null], p.weight.shape);
  if (x.dtype === 'float32' && x.rank >= 2 && hasFusedNorm()) return fusedNorm(x, p.weight, p.bias, { groups: 1, eps, silu: false, rows: true });
  const { mean, variance } = tf.moments(x, -1, true);
  const normed = tf.mul(tf.sub(x, mean), tf.rsqrt(tf.add(variance, eps)));
  return tf.add(tf.mul(normed, p.weight), p.bias) as T;
}
