/**
 * The VAE decoder (diffusers `Decoder`): `conv_in`, the mid block, `UpDecoderBlock2D`s from the deepest level
 * (`layers_per_block + 1` resnets, then nearest 2× + conv except at the last), GroupNorm, SiLU, `conv_out`. NHWC.
 * @module
 */
import * as tf from '@tensorflow/tfjs-core';
import { conv2d, type Conv2dParams } from '../nn/conv.js';
import { groupNorm, type NormParams } from '../nn/group-norm.js';
import { resnetBlock2d, type ResnetBlock2DParams } from '../nn/resnet.js';
import { upsample2d, type SamplerParams } from '../nn/sampling.js';
import { VAE_NORM_EPS, vaeMidBlock, type VaeBlockOptions, type VaeMidBlockParams } from './mid-block.js';

/**
 * `Decoder` parameters (keys under `decoder.`; `up_blocks[0]` is the deepest level).
 *
 * @example
 * ```ts
 * params.decoder.up_blocks[0]!.resnets.length; // layers_per_block + 1
 * ```
 */
export interface VaeDecoderParams {
  conv_in: Conv2dParams;
  mid_block: VaeMidBlockParams;
  up_blocks: { resnets: ResnetBlock2DParams[]; upsamplers?: readonly [SamplerParams] }[];
  conv_norm_out: NormParams;
  conv_out: Conv2dParams;
}

/**
 * `Decoder.forward`: latents (after `post_quant_conv`) to an image.
 *
 * @param p    parameters
 * @param z    `[B, h, w, latent_channels]`
 * @param opts groups, attention chunk bound
 * @returns `[B, h·2^(levels-1), w·2^(levels-1), out_channels]`, not clamped
 * @example
 * ```ts
 * vaeDecoder(params.decoder, tf.zeros([1, 32, 32, 4]), { groups: 32 }).shape; // [1, 64, 64, 3] for 2 levels
 * ```
 */
export function vaeDecoder(p: VaeDecoderParams, z: tf.Tensor4D, opts: VaeBlockOptions): tf.Tensor4D {
  const norm = { groups: opts.groups, eps: VAE_NORM_EPS };
  let h = conv2d(p.conv_in, z);
  h = vaeMidBlock(p.mid_block, h, opts);
  for (const block of p.up_blocks) {
    for (const r of block.resnets) {
      const prev = h;
      h = tf.tidy(() => resnetBlock2d(r, prev, null, norm));
    }
    if (block.upsamplers) {
      const prev = h;
      h = tf.tidy(() => upsample2d(block.upsamplers![0], prev));
    }
  }
  return conv2d(p.conv_out, groupNorm(p.conv_norm_out, h, { ...norm, silu: true }));
}
