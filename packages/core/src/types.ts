/**
 * The types every sampling run shares, in one place: what a batch row is ({@link RowRole}), which step a model call
 * belongs to ({@link StepInfo}), the conditioning a denoiser is called with ({@link Conditioning}), the
 * {@link Denoiser} itself (the UNet and every guidance method are denoisers, composed the k-diffusion way), and
 * the parts of a Stable Diffusion pipeline ({@link StableDiffusion}).
 * @module
 */
import type * as tf from '@tensorflow/tfjs-core';
import type { ClipTextModel } from './clip/text-model.js';
import type { ClipTokenizer } from './tokenizer/tokenizer.js';
import type { Scheduler } from './schedulers/types.js';
import type { AttentionHookResolver } from './unet/hooks.js';
import type { UNet2DConditionModel } from './unet/unet.js';
import type { AutoencoderKL } from './vae/vae.js';

/**
 * What one batch row is: the unconditional or conditional half of a prompt under CFG, or a SEGA concept row.
 *
 * @example
 * ```ts
 * const rows: RowRole[] = [{ role: 'uncond', prompt: 0 }, { role: 'cond', prompt: 0 }, { role: 'cond', prompt: 1 }];
 * ```
 */
export interface RowRole {
  role: 'uncond' | 'cond' | 'concept';
  /** Index of the prompt the row belongs to (P2P: 0 = source, 1..n = targets). */
  prompt: number;
  /** For `concept` rows: the index of the concept. */
  concept?: number;
}

/**
 * The sampling step a UNet call belongs to, passed down from the loop.
 *
 * @example
 * ```ts
 * const step: StepInfo = { index: 0, count: 50, timestep: 981 };
 * ```
 */
export interface StepInfo {
  /** 0-based sampler step index (`plan.callStep[call]`: both model calls of a Heun step share it). */
  index: number;
  /** Number of sampler steps of the loop (`plan.numSteps`). */
  count: number;
  /** The timestep value passed to the UNet. */
  timestep: number;
  /** 0-based index of the model call in the loop (equals `index` for one-call samplers); absent outside a loop. */
  call?: number | undefined;
}

/**
 * The conditioning of one batched denoiser call: text embeddings per row, what each row is, and the attention
 * hooks to run. Guidance wrappers build it; the UNet denoiser consumes it.
 *
 * @example
 * ```ts
 * const c: Conditioning = { embeddings: ehs, rows: [{ role: 'uncond', prompt: 0 }, { role: 'cond', prompt: 0 }] };
 * ```
 */
export interface Conditioning {
  /** Encoder hidden states `[R, T, D]`, one row per latent row. */
  embeddings: tf.Tensor3D;
  /** One role per row. */
  rows: readonly RowRole[];
  /** Attention hooks for this call. */
  hooks?: AttentionHookResolver | undefined;
}

/**
 * A denoiser: the noise prediction `[R, H, W, C]` for latents `[R, H, W, C]` at one step (latents already scaled
 * by the scheduler's `scaleModelInput`). A *conditional* denoiser (the UNet, {@link NoiseModel}) reads the
 * conditioning it is given; a guided denoiser (CFG, SEGA) wraps a conditional one, builds the rows and the
 * conditioning of each call itself, and ignores its own third argument, so samplers call every denoiser the same
 * way: `denoise(x, step)`.
 *
 * @example
 * ```ts
 * const d: Denoiser = (x, step) => tf.zerosLike(x); // a toy denoiser for tests
 * ```
 */
export type Denoiser = (latents: tf.Tensor4D, step: StepInfo, cond?: Conditioning) => tf.Tensor4D;

/**
 * A conditional denoiser (the UNet adapted by `unetDenoiser`, or a toy in tests): it needs the
 * {@link Conditioning} argument.
 *
 * @example
 * ```ts
 * const model: NoiseModel = unetDenoiser(unet);
 * const eps = model(x, step, { embeddings, rows }); // [R, H, W, C]
 * ```
 */
export type NoiseModel = (latents: tf.Tensor4D, step: StepInfo, cond: Conditioning) => tf.Tensor4D;

/**
 * The parts of a Stable Diffusion pipeline.
 *
 * @example
 * ```ts
 * const sd: StableDiffusion = { tokenizer, textEncoder, unet, vae, scheduler };
 * ```
 */
export interface StableDiffusion {
  tokenizer: ClipTokenizer;
  textEncoder: ClipTextModel;
  unet: UNet2DConditionModel;
  vae: AutoencoderKL;
  scheduler: Scheduler;
}
