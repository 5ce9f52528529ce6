/**
 * Text-to-image with Stable Diffusion as an async generator of steps: prompts, negative prompt, classifier-free
 * guidance, any scheduler, seeded or given latents, a per-step callback, progress events, decoded images.
 * @module
 */
import * as tf from '@tensorflow/tfjs-core';
import { ShapeMismatchError } from '../errors.js';
import { createGenerator } from '../random.js';
import { randn } from '../random.js';
import type { AttentionHookResolver } from '../unet/hooks.js';
import type { AutoencoderKL } from '../vae/vae.js';
import type { StableDiffusion } from '../types.js';
import { promptBatch, latentSize } from './batch.js';
import { assertImageFits } from './image-memory.js';
import { cfgDenoiser, unetDenoiser, withHooks } from './denoiser.js';
import { runLoop, sampleLoop, type StepEvent } from './sample.js';
import { encodePrompts, type TruncatedPrompt } from './text.js';

export type { StableDiffusion } from '../types.js';

/**
 * The options every Stable Diffusion run shares (text-to-image, SEGA, Prompt-to-Prompt, `edit`): guidance, steps,
 * size, start, hooks, callbacks. Each run adds its own prompts and edits.
 *
 * @example
 * ```ts
 * const o: GenerationOptions = { guidanceScale: 7.5, numInferenceSteps: 30, seed: 1 };
 * ```
 */
export interface GenerationOptions {
  /** Negative prompt(s): one for all or one per prompt (default: the empty prompt). */
  negativePrompt?: string | readonly string[];
  /** Classifier-free guidance scale (default 7.5). */
  guidanceScale?: number;
  /** Denoising steps (default 50). */
  numInferenceSteps?: number;
  /** Image height in pixels (default: the UNet's `sample_size` × the VAE factor); a multiple of the VAE factor. */
  height?: number;
  /** Image width in pixels, as `height`. */
  width?: number;
  /** Seed of the starting noise (default 0); ignored when `latents` are given. */
  seed?: number;
  /** Starting latents at unit variance (the caller keeps ownership). */
  latents?: tf.Tensor4D;
  /** DDIM η (default 0). */
  eta?: number;
  /** Attention hooks for every UNet call (they see each row's role). */
  hooks?: AttentionHookResolver;
  /** May replace the latents after a step (ownership passes to the loop). */
  onStepEnd?: (ev: StepEvent) => tf.Tensor4D | undefined | void;
  /** Progress: steps done and total. */
  onProgress?: (done: number, total: number) => void;
  /** Over-long prompts: `warn` (default, reported in the result) or `error`. */
  onTruncate?: 'warn' | 'error';
  /** Stops the run before the next step when aborted. */
  signal?: AbortSignal;
}

/**
 * Options of {@link textToImage}.
 *
 * @example
 * ```ts
 * const o: TextToImageOptions = { prompt: ['a red circle', 'a blue square'], numImagesPerPrompt: 2 };
 * ```
 */
export interface TextToImageOptions extends GenerationOptions {
  /** One prompt, or one per image. */
  prompt: string | readonly string[];
  /** Images per prompt (default 1). */
  numImagesPerPrompt?: number;
}

/** What {@link textToImage} returns when done (the caller owns the tensors). */
export interface TextToImageResult {
  /** Final latents `[B, h, w, C]`. */
  latents: tf.Tensor4D;
  /** Decoded images `[B, H, W, 3]` in [0, 1] (diffusers' `(x / 2 + 0.5).clamp(0, 1)`). */
  images: tf.Tensor4D;
  /** Prompts that were cut to the model length. */
  truncated: TruncatedPrompt[];
}

/**
 * Decodes latents to images in [0, 1]: `vae.decode(vae.unscaleLatents(latents)) / 2 + 0.5`, clamped.
 *
 * @param vae     the VAE
 * @param latents `[B, h, w, C]`
 * @example
 * ```ts
 * const images = decodeLatents(vae, latents); // [B, 8h, 8w, 3]
 * ```
 */
export function decodeLatents(vae: AutoencoderKL, latents: tf.Tensor4D): tf.Tensor4D {
  return tf.tidy(() => {
    const x = vae.decode(vae.unscaleLatents(latents));
    return tf.clipByValue(tf.add(tf.div(x, 2), 0.5), 0, 1) as tf.Tensor4D;
  });
}

/**
 * Generates images from text. Iterate it for per-step events; its return value is the result.
 *
 * @param sd   tokenizer, text encoder, UNet, VAE, scheduler
 * @param opts prompts, guidance, steps, size, seed or latents, callbacks
 * @example
 * ```ts
 * const run = textToImage(sd, { prompt: 'a red circle', numInferenceSteps: 20, seed: 1 });
 * let r = await run.next();
 * while (!r.done) r = await run.next();
 * const { images } = r.value; // [1, 64, 64, 3]
 * ```
 */
export async function* textToImage(sd: StableDiffusion, opts: TextToImageOptions): AsyncGenerator<StepEvent, TextToImageResult> {
  const { prompts, negatives, promptIndex } = promptBatch(opts.prompt, opts.negativePrompt, opts.numImagesPerPrompt ?? 1);
  const size = latentSize(sd, opts);
  assertImageFits({ height: size.height * size.factor, width: size.width * size.factor, images: prompts.length, blockOutChannels: sd.vae.config.blockOutChannels });
  const shape: [number, number, number, number] = [prompts.length, size.height, size.width, size.channels];
  if (opts.latents && opts.latents.shape.some((d, i) => d !== shape[i])) throw new ShapeMismatchError('latents', shape, opts.latents.shape);
  const scale = opts.guidanceScale ?? 7.5;
  const cond = encodePrompts(sd.tokenizer, sd.textEncoder, prompts, { onTruncate: opts.onTruncate ?? 'warn' });
  const uncond = scale > 1 ? encodePrompts(sd.tokenizer, sd.textEncoder, negatives, { onTruncate: opts.onTruncate ?? 'warn' }) : undefined;
  const gen = createGenerator(opts.seed ?? 0);
  const start = opts.latents ? tf.clone(opts.latents) : (randn(shape, gen) as tf.Tensor4D);
  try {
    const denoise = cfgDenoiser(withHooks(unetDenoiser(sd.unet), opts.hooks), {
      cond: cond.embeddings, uncond: uncond?.embeddings ?? cond.embeddings, scale, prompts: promptIndex,
    });
    const loop = sampleLoop(denoise, sd.scheduler, {
      latents: start, numInferenceSteps: opts.numInferenceSteps ?? 50, eta: opts.eta ?? 0, generator: gen,
      onStepEnd: opts.onStepEnd, onProgress: opts.onProgress, signal: opts.signal,
    });
    let r = await loop.next();
    while (!r.done) {
      yield r.value;
      r = await loop.next();
    }
    const latents = r.value;
    const truncated = [...cond.truncated, ...(uncond?.truncated ?? []).map((t) => ({ ...t, prompt: `(negative) ${t.prompt}` }))];
    return { latents, images: decodeLatents(sd.vae, latents), truncated };
  } finally {
    tf.dispose([start, cond.embeddings, ...(uncond ? [uncond.embeddings] : [])]);
  }
}

/**
 * Runs {@link textToImage} to the end and returns its result.
 *
 * @example
 * ```ts
 * const { images } = await runTextToImage(sd, { prompt: 'a blue square', numInferenceSteps: 20 });
 * ```
 */
export async function runTextToImage(sd: StableDiffusion, opts: TextToImageOptions): Promise<TextToImageResult> {
  return runLoop(textToImage(sd, opts));
}
