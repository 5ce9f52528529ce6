/**
 * The VAE's `UNetMidBlock2D` (resnet, single-head self-attention, resnet; no time embedding) and its
 * `Attention` (GroupNorm on the input, biased q/k/v/out projections, residual), NHWC.
 * @module
 */
import * as tf from '@tensorflow/tfjs-core';
import { scaledDotProductAttention } from '../nn/attention.js';
import { groupNorm, type NormParams } from '../nn/group-norm.js';
import { linear, type LinearParams } from '../nn/linear.js';
import { resnetBlock2d, type ResnetBlock2DParams } from '../nn/resnet.js';

/**
 * The mid attention's parameters (diffusers' new names; old checkpoints' `query`/`key`/`value`/`proj_attn` are
 * renamed at load).
 *
 * @example
 * ```ts
 * const p: VaeAttentionParams = params.decoder.mid_block.attentions[0]!;
 * ```
 */
export interface VaeAttentionParams {
  group_norm: NormParams;
  to_q: LinearParams;
  to_k: LinearParams;
  to_v: LinearParams;
  to_out: readonly [LinearParams];
}

/**
 * `UNetMidBlock2D` parameters (`attentions` empty when `mid_block_add_attention` is false).
 *
 * @example
 * ```ts
 * params.encoder.mid_block.resnets.length; // 2
 * ```
 */
export interface VaeMidBlockParams {
  resnets: ResnetBlock2DParams[];
  attentions?: VaeAttentionParams[];
}

/**
 * Options of the VAE blocks.
 *
 * @example
 * ```ts
 * const o: VaeBlockOptions = { groups: 32 };
 * ```
 */
export interface VaeBlockOptions {
  /** GroupNorm groups (`norm_num_groups`); eps is 1e-6 throughout the VAE. */
  groups: number;
  /** Bound on attention scores per chunk (see `scaledDotProductAttention`). */
  maxScoreElements?: number;
}

/**
 * GroupNorm eps of every VAE norm.
 *
 * @example
 * ```ts
 * groupNorm(p, x, { groups: 32, eps: VAE_NORM_EPS });
 * ```
 */
export const VAE_NORM_EPS = 1e-6;

/**
 * The VAE mid attention: `x + to_out(softmax(q kᵀ / √C) v)` with q, k, v projected from `group_norm(x)` over
 * the H·W tokens, one head of width C.
 *
 * @param p    parameters
 * @param x    `[B, H, W, C]`
 * @param opts groups, chunk bound
 * @returns `[B, H, W, C]`
 * @example
 * ```ts
 * vaeAttention(p, tf.zeros([1, 32, 32, 64]), { groups: 32 }).shape; // [1, 32, 32, 64]
 * ```
 */
export function vaeAttention(p: VaeAttentionParams, x: tf.Tensor4D, opts: VaeBlockOptions): tf.Tensor4D {
  const [b, h, w, c] = x.shape;
  const tokens = tf.reshape(groupNorm(p.group_norm, x, { groups: opts.groups, eps: VAE_NORM_EPS }), [b * h * w, c]) as tf.Tensor2D;
  const proj = (l: LinearParams) => tf.reshape(linear(l, tokens), [b, h * w, c]) as tf.Tensor3D;
  const out = scaledDotProductAttention(proj(p.to_q), proj(p.to_k), proj(p.to_v), {
    heads: 1, maxScoreElements: opts.maxScoreElements || undefined,
  });
  const y = linear(p.to_out[0], tf.reshape(out, [b * h * w, c]) as tf.Tensor2D);
  return tf.add(tf.reshape(y, [b, h, w, c]), x);
}

/**
 * `UNetMidBlock2D.forward` without time embedding: resnet, then (attention, resnet).
 *
 * @param p    parameters
 * @param x    `[B, H, W, C]`
 * @param opts groups, chunk bound
 * @returns `[B, H, W, C]`
 * @example
 * ```ts
 * const y = vaeMidBlock(params.decoder.mid_block, x, { groups: 32 });
 * ```
 */
export function vaeMidBlock(p: VaeMidBlockParams, x: tf.Tensor4D, opts: VaeBlockOptions): tf.Tensor4D {
  const norm = { groups: opts.groups, eps: VAE_NORM_EPS };
  let h = tf.tidy(() => resnetBlock2d(p.resnets[0]!, x, null, norm));
  p.resnets.slice(1).forEach((r, j) => {
    const attn = p.attentions?.[j];
    const prev = h;
    h = tf.tidy(() => resnetBlock2d(r, attn ? vaeAttention(attn, prev, opts) : prev, null, norm));
  });
  return h;
}
