/**
 * `ResnetBlock2D` of diffusers (default time-embedding norm, no up/down sampling inside), NHWC.
 * @module
 */
import * as tf from '@tensorflow/tfjs-core';
import { ShapeMismatchError } from '../errors.js';
import { silu } from './activations.js';
import { conv2d, type Conv2dParams } from './conv.js';
import { groupNorm, type NormParams } from './group-norm.js';
import { linear, type LinearParams } from './linear.js';

/**
 * Parameters of a `ResnetBlock2D` (diffusers names).
 *
 * @example
 * ```ts
 * const y = resnetBlock2d(params.down_blocks[0]!.resnets[0]!, x, temb, { groups: 32, eps: 1e-5 });
 * ```
 */
export interface ResnetBlock2DParams {
  norm1: NormParams;
  conv1: Conv2dParams;
  /** Projects the time embedding to the block's channels; absent in the VAE (`temb_channels=None`). */
  time_emb_proj?: LinearParams;
  norm2: NormParams;
  conv2: Conv2dParams;
  /** 1×1 conv on the skip path, present when input and output channels differ. */
  conv_shortcut?: Conv2dParams;
}

/**
 * Options of {@link resnetBlock2d}.
 *
 * @example
 * ```ts
 * const o: ResnetOptions = { groups: 32, eps: 1e-6 };
 * ```
 */
export interface ResnetOptions {
  /** GroupNorm groups (`resnet_groups` = `norm_num_groups`). */
  groups: number;
  /** GroupNorm eps (`norm_eps` in the UNet, 1e-6 in the VAE). */
  eps: number;
  /** The output is divided by this (`output_scale_factor`, default 1). */
  outputScaleFactor?: number;
}

/**
 * `ResnetBlock2D.forward` with `time_embedding_norm="default"`:
 * 1. `h = conv1(silu(norm1(x)))`
 * 2. `h += time_emb_proj(silu(temb))` broadcast over H, W (when a time embedding is given)
 * 3. `h = conv2(silu(norm2(h)))` (dropout is the identity at inference)
 * 4. `y = (shortcut(x) + h) / output_scale_factor`
 *
 * @param p    block parameters
 * @param x    `[B, H, W, Cin]`
 * @param temb `[B, T]` time embedding, or `null` (VAE)
 * @param opts norm groups and eps, output scale
 * @returns `[B, H, W, Cout]`
 * @example
 * ```ts
 * resnetBlock2d(p, tf.zeros([2, 16, 16, 32]), temb, { groups: 32, eps: 1e-5 }).shape; // [2, 16, 16, 64]
 * ```
 */
export function resnetBlock2d(
  p: ResnetBlock2DParams,
  x: tf.Tensor4D,
  temb: tf.Tensor2D | null,
  opts: ResnetOptions,
): tf.Tensor4D {
  const norm = { groups: opts.groups, eps: opts.eps };
  let h = conv2d(p.conv1, groupNorm(p.norm1, x, { ...norm, silu: true }));
  if (temb && p.time_emb_proj) {
    const t = linear(p.time_emb_proj, silu(temb)); // [B, Cout]
    if (t.shape[0] !== x.shape[0]) throw new ShapeMismatchError('time embedding', [x.shape[0], null], temb.shape);
    h = tf.add(h, tf.reshape(t, [t.shape[0], 1, 1, t.shape[1]])) as tf.Tensor4D;
  }
  h = conv2d(p.conv2, groupNorm(p.norm2, h, { ...norm, silu: true }));
  const shortcut = p.conv_shortcut ? conv2d(p.conv_shortcut, x) : x;
  const out: tf.Tensor4D = tf.add(shortcut, h);
  const scale = opts.outputScaleFactor ?? 1;
  return scale === 1 ? out : tf.div(out, scale);
}
