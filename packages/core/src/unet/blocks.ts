/**
 * The UNet's blocks: `CrossAttnDownBlock2D` / `DownBlock2D`, `UNetMidBlock2DCrossAttn`, `CrossAttnUpBlock2D` /
 * `UpBlock2D`, as functions over parameter trees, NHWC. Each resnet and transformer runs in its own `tf.tidy`
 * so a block keeps only the tensors it hands on.
 * @module
 */
import * as tf from '@tensorflow/tfjs-core';
import { resnetBlock2d, type ResnetBlock2DParams } from '../nn/resnet.js';
import { downsample2d, upsample2d, type SamplerParams } from '../nn/sampling.js';
import type { ResolvedMidBlock, ResolvedUNetBlock, ResolvedUNetConfig } from './config.js';
import { transformer2d, type AttentionEnv, type Transformer2DParams } from './transformer.js';

/**
 * A down block's parameters (`attentions` only in `CrossAttnDownBlock2D`, `downsamplers` except in the last).
 *
 * @example
 * ```ts
 * params.down_blocks[0]!.resnets.length; // layers_per_block
 * ```
 */
export interface DownBlockParams {
  resnets: ResnetBlock2DParams[];
  attentions?: Transformer2DParams[];
  downsamplers?: readonly [SamplerParams];
}

/**
 * An up block's parameters (`attentions` only in `CrossAttnUpBlock2D`, `upsamplers` except in the last).
 *
 * @example
 * ```ts
 * params.up_blocks[0]!.resnets.length; // layers_per_block + 1
 * ```
 */
export interface UpBlockParams {
  resnets: ResnetBlock2DParams[];
  attentions?: Transformer2DParams[];
  upsamplers?: readonly [SamplerParams];
}

/**
 * `UNetMidBlock2DCrossAttn` parameters: `resnets` (layers + 1) and `attentions` (layers).
 *
 * @example
 * ```ts
 * params.mid_block!.resnets.length; // 2
 * ```
 */
export interface MidBlockParams {
  resnets: ResnetBlock2DParams[];
  attentions: Transformer2DParams[];
}

/**
 * Settings a block function needs besides its parameters.
 *
 * @example
 * ```ts
 * const run: BlockRun = { cfg, temb, env };
 * ```
 */
export interface BlockRun {
  cfg: ResolvedUNetConfig;
  /** `[B, T]` time embedding. */
  temb: tf.Tensor2D;
  env: AttentionEnv;
}

/** One resnet in its own tidy; `x` may be a thunk so its input (a skip concatenation) is freed with it. */
function resnet(p: ResnetBlock2DParams, x: tf.Tensor4D | (() => tf.Tensor4D), run: BlockRun, scale = 1): tf.Tensor4D {
  const opts = { groups: run.cfg.normNumGroups, eps: run.cfg.normEps, outputScaleFactor: scale };
  return tf.tidy(() => resnetBlock2d(p, typeof x === 'function' ? x() : x, run.temb, opts));
}

function transformer(p: Transformer2DParams, x: tf.Tensor4D, attn: NonNullable<ResolvedUNetBlock['attention']>, run: BlockRun, path: string, place: 'down' | 'mid' | 'up'): tf.Tensor4D {
  const [, height, width] = x.shape;
  return tf.tidy(() => transformer2d(p, x, attn, run.cfg.normNumGroups, run.env, { path, place, height, width }));
}

/**
 * `CrossAttnDownBlock2D.forward` / `DownBlock2D.forward`: resnet (then transformer) per layer, then the
 * downsampler; every intermediate output is a skip connection.
 *
 * @param p     block parameters
 * @param x     `[B, H, W, Cin]`
 * @param block resolved block settings
 * @param index block index (for module paths)
 * @param run   config, time embedding, attention environment
 * @returns the block output and its skip tensors, in order
 * @example
 * ```ts
 * const { hidden, skips } = downBlock(params.down_blocks[0]!, x, cfg.down[0]!, 0, run);
 * ```
 */
export function downBlock(p: DownBlockParams, x: tf.Tensor4D, block: ResolvedUNetBlock, index: number, run: BlockRun): { hidden: tf.Tensor4D; skips: tf.Tensor4D[] } {
  const skips: tf.Tensor4D[] = [];
  let h = x;
  p.resnets.forEach((r, j) => {
    h = resnet(r, h, run);
    if (block.attention) h = transformer(p.attentions![j]!, h, block.attention, run, `down_blocks.${index}.attentions.${j}`, 'down');
    skips.push(h);
  });
  if (p.downsamplers) {
    const prev = h;
    h = tf.tidy(() => downsample2d(p.downsamplers![0], prev, { padding: run.cfg.downsamplePadding }));
    skips.push(h);
  }
  return { hidden: h, skips };
}

/**
 * `UNetMidBlock2DCrossAttn.forward`: resnet, then (transformer, resnet) per layer.
 *
 * @param p   parameters
 * @param x   `[B, h, w, C]`
 * @param mid resolved mid block
 * @param run config, time embedding, attention environment
 * @returns `[B, h, w, C]`
 * @example
 * ```ts
 * const y = midBlock(params.mid_block!, x, cfg.mid!, run);
 * ```
 */
export function midBlock(p: MidBlockParams, x: tf.Tensor4D, mid: ResolvedMidBlock, run: BlockRun): tf.Tensor4D {
  let h = resnet(p.resnets[0]!, x, run, mid.outputScaleFactor);
  for (let j = 0; j < mid.layers; j++) {
    h = transformer(p.attentions[j]!, h, mid.attention, run, `mid_block.attentions.${j}`, 'mid');
    h = resnet(p.resnets[j + 1]!, h, run, mid.outputScaleFactor);
  }
  return h;
}

/**
 * `CrossAttnUpBlock2D.forward` / `UpBlock2D.forward`: per layer, concatenate the last unused skip along
 * channels (`[hidden, skip]`), resnet (then transformer); then upsample to `upsampleSize`.
 *
 * @param p            block parameters
 * @param x            `[B, h, w, C]`
 * @param skips        this block's skips, consumed from the end
 * @param block        resolved block settings
 * @param index        block index (for module paths)
 * @param run          config, time embedding, attention environment
 * @param upsampleSize spatial size of the next level's skips (diffusers' `upsample_size`)
 * @returns `[B, h', w', Cout]`
 * @example
 * ```ts
 * const y = upBlock(params.up_blocks[0]!, x, skips.splice(-3), cfg.up[0]!, 0, run, [32, 32]);
 * ```
 */
export function upBlock(
  p: UpBlockParams,
  x: tf.Tensor4D,
  skips: tf.Tensor4D[],
  block: ResolvedUNetBlock,
  index: number,
  run: BlockRun,
  upsampleSize?: readonly [number, number],
): tf.Tensor4D {
  const pending = [...skips];
  let h = x;
  p.resnets.forEach((r, j) => {
    const skip = pending.pop()!;
    const prev = h;
    h = resnet(r, () => tf.concat([prev, skip], 3), run);
    if (block.attention) h = transformer(p.attentions![j]!, h, block.attention, run, `up_blocks.${index}.attentions.${j}`, 'up');
  });
  if (p.upsamplers) {
    const prev = h;
    h = tf.tidy(() => upsample2d(p.upsamplers![0], prev, upsampleSize ? { size: upsampleSize } : {}));
  }
  return h;
}
