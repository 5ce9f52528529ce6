/**
 * Denoisers and guidance (style.md 3.3, k-diffusion's idea): a {@link Denoiser} maps latents at a step to the
 * noise prediction the scheduler steps with. The UNet is a conditional denoiser ({@link unetDenoiser});
 * {@link withHooks} adds attention control to it; guidance ({@link cfgDenoiser}, SEGA) wraps it, decides which
 * conditioning rows go into its one call per step and returns a plain denoiser. Samplers never know about guidance.
 * @module
 */
import * as tf from '@tensorflow/tfjs-core';
import { OptionError, ShapeMismatchError } from '../errors.js';
import type { Denoiser, NoiseModel, RowRole } from '../types.js';
import { composeResolvers, type AttentionHookResolver } from '../unet/hooks.js';
import type { UNet2DConditionModel } from '../unet/unet.js';

export type { Conditioning, Denoiser, NoiseModel, RowRole, StepInfo } from '../types.js';

/**
 * Adapts a {@link UNet2DConditionModel} to a conditional denoiser ({@link NoiseModel}): the embeddings, row roles,
 * step and hooks of each call go down to the UNet's attention layers.
 *
 * @param unet the UNet
 * @param opts `maxScoreElements` bounds the attention score slice (see the UNet's attention options)
 * @example
 * ```ts
 * const model = unetDenoiser(unet);
 * const eps = model(x, step, { embeddings, rows }); // [R, H, W, C]
 * ```
 */
export function unetDenoiser(unet: UNet2DConditionModel, opts: { maxScoreElements?: number } = {}): NoiseModel {
  return (x, step, cond) => {
    if (!cond) throw new OptionError('cond', 'the UNet denoiser needs the conditioning (embeddings and row roles) of each call');
    const attention = { hooks: cond.hooks, maxScoreElements: opts.maxScoreElements };
    return unet.forward(x, step.timestep, cond.embeddings, { step, rows: cond.rows, attention });
  };
}

/**
 * Wraps a conditional denoiser so that every call also runs these attention hooks (after any the caller passes),
 * the way attention control (Prompt-to-Prompt, an attention store) joins a guided run.
 *
 * @param inner the conditional denoiser
 * @param hooks the hooks to add (none: `inner` itself is returned)
 * @example
 * ```ts
 * const model = withHooks(unetDenoiser(unet), composeResolvers(p2p.hooks, store.hooks));
 * const denoise = cfgDenoiser(model, { cond, uncond, scale: 7.5 });
 * ```
 */
export function withHooks(inner: NoiseModel, ...hooks: (AttentionHookResolver | undefined)[]): NoiseModel {
  const added = hooks.filter((h): h is AttentionHookResolver => h !== undefined);
  if (added.length === 0) return inner;
  return (x, step, cond) => inner(x, step, { ...cond, hooks: composeResolvers(...added, cond.hooks) });
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

/**
 * Options of {@link cfgDenoiser}.
 *
 * @example
 * ```ts
 * const o: CfgOptions = { cond, uncond, scale: 7.5 };
 * ```
 */
export interface CfgOptions {
  /** Text embeddings of each image's prompt, `[B, T, D]` (row b conditions latent b). */
  cond: tf.Tensor3D;
  /** Embeddings of the negative (or empty) prompt, `[B, T, D]` or `[1, T, D]` for all. */
  uncond: tf.Tensor3D;
  /** Guidance scale s; at `s <= 1` only the conditional rows are evaluated (as diffusers). */
  scale: number;
  /** Which prompt each latent row belongs to (default: row b is prompt b). */
  prompts?: readonly number[];
}

/**
 * Classifier-free guidance as a denoiser wrapper: one call of the conditional denoiser per step with rows
 * `[uncond × B, cond × B]` (diffusers' order) and their roles, then {@link classifierFreeGuidance}.
 *
 * @param model the conditional denoiser (`unetDenoiser(unet)`, maybe `withHooks(...)`)
 * @param opts  embeddings, scale, prompt indices
 * @example
 * ```ts
 * const denoise = cfgDenoiser(unetDenoiser(unet), { cond, uncond, scale: 7.5 });
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
      if (!guided) return model(x, step, { embeddings: opts.cond, rows });
      const uncond = opts.uncond.shape[0] === b ? opts.uncond : tf.tile(opts.uncond, [b, 1, 1]);
      const eps = model(tf.concat([x, x]), step, { embeddings: tf.concat([uncond, opts.cond]), rows });
      const [u, c] = tf.split(eps, 2) as [tf.Tensor4D, tf.Tensor4D];
      return classifierFreeGuidance(u, c, opts.scale);
    });
  };
}
