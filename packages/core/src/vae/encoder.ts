/**
 * The VAE encoder (diffusers `Encoder`): `conv_in`, `DownEncoderBlock2D`s (resnets, then a stride-2 conv with
 * right/bottom padding except at the last level), the mid block, GroupNorm, SiLU, `conv_out` to the
 * `2 · latent_channels` moments. NHWC.
 * @module
 */
import * as tf from '@tensorflow/tfjs-core';
import { conv2d, type Conv2dParams } from '../nn/conv.js';
import { groupNorm, type NormParams } from '../nn/group-norm.js';
import { resnetBlock2d, type ResnetBlock2DParams } from '../nn/resnet.js';
import { downsample2d, type SamplerParams } from '../nn/sampling.js';
import { VAE_NORM_EPS, vaeMidBlock, type VaeBlockOptions, type VaeMidBlockParams } from './mid-block.js';

/**
 * `Encoder` parameters (keys under `encoder.`).
 *
 * @example
 * ```ts
 * params.encoder.down_blocks[0]!.resnets.length; // layers_per_block
 * ```
 */
export interface VaeEncoderParams {
  conv_in: Conv2dParams;
  down_blocks: { resnets: ResnetBlock2DParams[]; downsamplers?: readonly [SamplerParams] }[];
  mid_block: VaeMidBlockParams;
  conv_norm_out: NormParams;
  conv_out: Conv2dParams;
}

/**
 * `Encoder.forward`: image to raw moments (mean and log-variance stacked along channels).
 *
 * @param p    parameters
 * @param x    `[B, H, W, in_channels]` image in [-1, 1]
 * @param opts groups, attention chunk bound
 * @returns `[B, H/2^(levels-1), W/2^(levels-1), 2 · latent_channels]`
 * @example
 * ```ts
 * vaeEncoder(params.encoder, tf.zeros([1, 64, 64, 3]), { groups: 32 }).shape; // [1, 32, 32, 8] for 2 levels
 * ```
 */
export function vaeEncoder(p: VaeEncoderParams, x: tf.Tensor4D, opts: VaeBlockOptions): tf.Tensor4D {
  const norm = { groups: opts.groups, eps: VAE_NORM_EPS };
  let h = conv2d(p.conv_in, x);
  for (const block of p.down_blocks) {
    for (const r of block.resnets) {
      const prev = h;
      h = tf.tidy(() => resnetBlock2d(r, prev, null, norm));
    }
    if (block.downsamplers) {
      const prev = h;
      h = tf.tidy(() => downsample2d(block.downsamplers![0], prev, { padding: 0 }));
    }
  }
  h = vaeMidBlock(p.mid_block, h, opts);
  return conv2d(p.conv_out, groupNorm(p.conv_norm_out, h, { ...norm, silu: true }));
}
