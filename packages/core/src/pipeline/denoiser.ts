/**
 * Denoisers and guidance (style.md 3.3, k-diffusion's idea): a {@link Denoiser} maps latents at a step to the
 * noise prediction the scheduler steps with. Guidance methods wrap a batched {@link NoiseModel} (the UNet) and
 * decide which conditioning rows go into its one call per step; samplers never know about guidance.
 * @module
 */
import * as tf from '@tensorflow/tfjs-core';
import { OptionError, ShapeMismatchError } from '../errors.js';
import type { AttentionHookResolver, RowRole, StepInfo } from '../unet/hooks.js';
import type { UNet2DConditionModel } from '../unet/unet.js';

/**
 * A denoiser: noise prediction `[B, H, W, C]` for latents `[B, H, W, C]` at one step (the latents already scaled by
 * the scheduler's `scaleModelInput`).
 *
 * @example
 * ```ts
 * const d: Denoiser = (x, step) => tf.zerosLike(x); // a toy denoiser for tests
 * ```
 */
export type Denoiser = (latents: tf.Tensor4D, step: StepInfo) => tf.Tensor4D;

/** Options a guidance method passes to the model for one batched call. */
export interface NoiseModelCall {
  /** The step, for attention hooks. */
  step: StepInfo;
  /** One role per batch row. */
  rows: readonly RowRole[];
  /** Attention hooks for this call. */
  hooks?: AttentionHookResolver;
}

/**
 * A batched conditional noise model: the UNet, or a toy in tests. Rows of `x` and `encoderHiddenStates` pair up.
 *
 * @example
 * ```ts
 * const model = unetNoiseModel(unet);
 * const eps = model(x, 981, ehs, { step, rows }); // [R, H, W, C]
 * ```
 */
export type NoiseModel = (x: tf.Tensor4D, timestep: number, encoderHiddenStates: tf.Tensor3D, call: NoiseModelCall) => tf.Tensor4D;

/**
 * Adapts a {@link UNet2DConditionModel} to a {@link NoiseModel}, passing the step, row roles and hooks down.
 *
 * @param unet the UNet
 * @param opts `maxScoreElements` bounds the attention score slice (see the UNet's attention options)
 * @example
 * ```ts
 * const model = unetNoiseModel(unet);
 * ```
 */
export function unetNoiseModel(unet: UNet2DConditionModel, opts: { maxScoreElements?: number } = {}): NoiseModel {
  return (x, t, ehs, call) =>
    unet.forward(x, t, ehs, {
      step: call.step,
      rows: call.rows,
      attention: { ...(call.hooks ? { hooks: call.hooks } : {}), ...(opts.maxScoreElements ? { maxScoreElements: opts.maxScoreElements } : {}) },
    });
}

/**
 * Classifier-free guidance (Ho & Salimans 2022, eq. 6 in diffusers' form):
 * `ε̂ = ε_uncond + s · (ε_cond − ε_uncond)`. The other common formulation, `(1 + w) ε_cond − w ε_uncond`, is the
 * same with `s = 1 + w`.
 *
 * @param epsUncond ε(x, ∅)  `[B, H, W, C]`
 * @param epsCond   ε(x, c)  `[B, H, W, C]`
 * @param scale     s, the guidance scale (1 = no guidance)
 * @example
 * ```ts
 * const eps = classifierFreeGuidance(u, c, 7.5);
 * ```
 */
export function classifierFreeGuidance(epsUncond: tf.Tensor4D, epsCond: tf.Tensor4D, scale: number): tf.Tensor4D {
  return tf.tidy(() => tf.add(epsUncond, tf.mul(tf.sub(epsCond, epsUncond), scale)));
}

/** Options of {@link cfgDenoiser}. */
export interface CfgOptions {
  /** Text embeddings of each image's prompt, `[B, T, D]` (row b conditions latent b). */
  cond: tf.Tensor3D;
  /** Embeddings of the negative (or empty) prompt, `[B, T, D]` or `[1, T, D]` for all. */
  uncond: tf.Tensor3D;
  /** Guidance scale s; at `s <= 1` only the conditional rows are evaluated (as diffusers). */
  scale: number;
  /** Which prompt each latent row belongs to (default: row b is prompt b). */
  prompts?: readonly number[];
  /** Attention hooks for every call. */
  hooks?: AttentionHookResolver;
}

/**
 * A denoiser with classifier-free guidance: one batched model call per step with rows `[uncond × B, cond × B]`
 * (diffusers' order), roles passed to hooks, then {@link classifierFreeGuidance}.
 *
 * @param model the batched noise model
 * @param opts  embeddings, scale, prompt indices, hooks
 * @example
 * ```ts
 * const denoise = cfgDenoiser(unetNoiseModel(unet), { cond, uncond, scale: 7.5 });
 * const eps = denoise(x, { index: 0, count: 50, timestep: 981 });
 * ```
 */
export function cfgDenoiser(model: NoiseModel, opts: CfgOptions): Denoiser {
  if (!Number.isFinite(opts.scale)) throw new OptionError('guidanceScale', `must be a finite number, got ${opts.scale}`);
  const [b] = opts.cond.shape;
  if (opts.uncond.shape[0] !== b && opts.uncond.shape[0] !== 1) {
    throw new ShapeMismatchError('uncond', [b, opts.cond.shape[1], opts.cond.shape[2]], opts.uncond.shape);
  }
  const prompts = opts.prompts ?? Array.from({ length: b }, (_, i) => i);
  const guided = opts.scale > 1;
  const condRows: RowRole[] = prompts.map((p) => ({ role: 'cond', prompt: p }));
  const rows: RowRole[] = guided ? [...prompts.map((p): RowRole => ({ role: 'uncond', prompt: p })), ...condRows] : condRows;
  return (x, step) => {
    if (x.shape[0] !== b) throw new ShapeMismatchError('latents', [b, null, null, null], x.shape);
    return tf.tidy(() => {
      const call: NoiseModelCall = { step, rows, ...(opts.hooks ? { hooks: opts.hooks } : {}) };
      if (!guided) return model(x, step.timestep, opts.cond, call);
      const uncond = opts.uncond.shape[0] === b ? opts.uncond : tf.tile(opts.uncond, [b, 1, 1]);
      const eps = model(tf.concat([x, x]), step.timestep, tf.concat([uncond, opts.cond]), call);
      const [u, c] = tf.split(eps, 2) as [tf.Tensor4D, tf.Tensor4D];
      return classifierFreeGuidance(u, c, opts.scale);
    });
  };
}
