/**
 * `UNet2DConditionModel`: the Stable Diffusion noise predictor as a function over its parameter tree, NHWC,
 * with per-call attention hooks (style.md 3.3). The class only holds the resolved config and the parameters and
 * wraps the forward in one `tf.tidy` (blocks scope their own intermediates inside it).
 * @module
 */
import * as tf from '@tensorflow/tfjs-core';
import { DisposedError, OptionError, ShapeMismatchError } from '../errors.js';
import type { RawTensor } from '../io/types.js';
import { conv2d } from '../nn/conv.js';
import { groupNorm } from '../nn/group-norm.js';
import { paramTensors } from '../nn/weights.js';
import { downBlock, midBlock, upBlock, type BlockRun } from './blocks.js';
import { resolveUNetConfig, type ResolvedUNetConfig, type UNet2DConditionConfig } from './config.js';
import { timestepEmbedding, timestepProj, timestepsTensor, type TimestepInput } from './embeddings.js';
import type { AttentionOptions, RowRole, StepInfo } from './hooks.js';
import { buildUNetParams, type UNetBuildOptions, type UNetParams } from './params.js';
import { storeWeights } from '../backend/weight-storage.js';

/**
 * Options of {@link UNet2DConditionModel.forward}.
 *
 * @example
 * ```ts
 * const opts: UNetForwardOptions = { step: { index: 3, count: 50, timestep: 921 }, rows, attention: { hooks } };
 * ```
 */
export interface UNetForwardOptions {
  /** Attention hooks, processor and chunk bound for this call. */
  attention?: AttentionOptions;
  /** The sampling step, handed to hooks in their context. */
  step?: StepInfo;
  /** One role per batch row, handed to hooks (length must equal the batch). */
  rows?: readonly RowRole[];
  /**
   * Called synchronously with the output of each top-level module (`time_proj`, `time_embedding`, `conv_in`,
   * `down_blocks.i`, `mid_block`, `up_blocks.i`, `conv_out`), like a PyTorch forward hook. The tensor is freed
   * when the forward returns: read it, or `tf.keep(tf.clone(t))`.
   */
  observe?: (module: string, output: tf.Tensor) => void;
}

/**
 * The Stable Diffusion UNet (diffusers `UNet2DConditionModel`, SD 1.x and 2.x layouts).
 *
 * @example
 * ```ts
 * const unet = await loadUNet('sd15/unet');
 * const eps = unet.forward(latents, 981, textEmbeddings); // latents [2, 64, 64, 4] -> eps [2, 64, 64, 4]
 * unet.dispose();
 * ```
 */
export class UNet2DConditionModel {
  private disposed = false;

  /** The resolved config the model runs with. */
  readonly config: ResolvedUNetConfig;
  /** Parameters, keyed like the diffusers module tree. */
  readonly params: UNetParams;

  /**
   * @param config resolved config
   * @param params parameter tree matching it (see {@link buildUNetParams})
   */
  constructor(config: ResolvedUNetConfig, params: UNetParams) {
    this.config = config;
    this.params = params;
    storeWeights(paramTensors(params));
  }

  /**
   * Builds a UNet from diffusers-keyed checkpoint tensors and a diffusers config, strictly (see
   * {@link buildUNetParams}).
   *
   * @param weights tensors by diffusers key
   * @param config  the diffusers `config.json` contents (or an already resolved config)
   * @param opts    file name for errors, accepted leftovers
   * @example
   * ```ts
   * const ck = await readCheckpoint('unet/diffusion_pytorch_model.bin');
   * const unet = UNet2DConditionModel.fromWeights(ck.tensors, json, { file: ck.file });
   * ```
   */
  static fromWeights(
    weights: ReadonlyMap<string, RawTensor>,
    config: UNet2DConditionConfig | ResolvedUNetConfig,
    opts: UNetBuildOptions = {},
  ): UNet2DConditionModel {
    const cfg = 'down' in config ? config : resolveUNetConfig(config);
    return new UNet2DConditionModel(cfg, buildUNetParams(weights, cfg, opts));
  }

  /**
   * Predicts the noise (or v) for latents at a timestep, conditioned on encoder hidden states.
   *
   * @param sample              `[B, H, W, in_channels]` latents (NHWC; any H, W)
   * @param timestep            one value for every row, or one per row (numbers or a tensor; floats allowed)
   * @param encoderHiddenStates `[B, T, cross_attention_dim]` text embeddings
   * @param opts                attention hooks/processor, step, row roles, module observer
   * @returns `[B, H, W, out_channels]`
   * @throws ShapeMismatchError for wrongly shaped latents, encoder states or timesteps; OptionError for rows
   * @example
   * ```ts
   * const eps = unet.forward(x, [981, 981], ehs, { attention: { hooks: (ctx) => (ctx.kind === 'cross' ? store : undefined) } });
   * ```
   */
  forward(sample: tf.Tensor4D, timestep: TimestepInput, encoderHiddenStates: tf.Tensor3D, opts: UNetForwardOptions = {}): tf.Tensor4D {
    if (this.disposed) throw new DisposedError('UNet2DConditionModel');
    const cfg = this.config;
    const p = this.params;
    if (sample.rank !== 4 || sample.shape[3] !== cfg.inChannels) {
      throw new ShapeMismatchError('sample', [null, null, null, cfg.inChannels], sample.shape);
    }
    const [b] = sample.shape;
    const ehs = encoderHiddenStates;
    if (ehs.rank !== 3 || ehs.shape[0] !== b || ehs.shape[2] !== cfg.crossAttentionDim) {
      throw new ShapeMismatchError('encoderHiddenStates', [b, null, cfg.crossAttentionDim], ehs.shape);
    }
    if (opts.rows && opts.rows.length !== b) throw new OptionError('rows', `has ${opts.rows.length} entries for a batch of ${b}`);
    const observe = opts.observe ?? (() => undefined);
    return tf.tidy(() => {
      const x: tf.Tensor4D = cfg.centerInputSample ? tf.sub(tf.mul(sample, 2), 1) : sample;
      const tproj = timestepProj(timestepsTensor(timestep, b), { dim: cfg.blockOutChannels[0]!, flipSinToCos: cfg.flipSinToCos, freqShift: cfg.freqShift });
      observe('time_proj', tproj);
      const temb = timestepEmbedding(p.time_embedding, tproj);
      observe('time_embedding', temb);
      let h = conv2d(p.conv_in, x);
      observe('conv_in', h);
      const tokens = ehs.shape[1];
      const run: BlockRun = {
        cfg, temb,
        env: { encoderHiddenStates: tf.reshape(ehs, [b * tokens, ehs.shape[2]]), tokens, options: opts.attention ?? {}, step: opts.step, rows: opts.rows },
      };
      const skips: tf.Tensor4D[] = [h];
      cfg.down.forEach((block, i) => {
        const out = downBlock(p.down_blocks[i]!, h, block, i, run);
        skips.push(...out.skips);
        h = out.hidden;
        observe(`down_blocks.${i}`, h);
      });
      if (cfg.mid && p.mid_block) {
        h = midBlock(p.mid_block, h, cfg.mid, run);
        observe('mid_block', h);
      }
      cfg.up.forEach((block, i) => {
        const mine = skips.splice(skips.length - block.resnets.length, block.resnets.length);
        const next = skips[skips.length - 1];
        const size = block.resample && next ? ([next.shape[1], next.shape[2]] as const) : undefined;
        h = upBlock(p.up_blocks[i]!, h, mine, block, i, run, size);
        observe(`up_blocks.${i}`, h);
      });
      const out = conv2d(p.conv_out, groupNorm(p.conv_norm_out, h, { groups: cfg.normNumGroups, eps: cfg.normEps, silu: true }));
      observe('conv_out', out);
      return out;
    });
  }

  /**
   * Frees every parameter tensor.
   *
   * @example
   * ```ts
   * unet.dispose();
   * ```
   */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    tf.dispose(paramTensors(this.params));
  }
}
