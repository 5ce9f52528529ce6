/**
 * Text-to-image with SEGA edits, the counterpart of core's `textToImage` (and of diffusers'
 * `SemanticStableDiffusionPipeline.__call__`): prompt, negative prompt, editing prompts or precomputed concept
 * embeddings, seeded or given latents, recorded or replayed guidance, decoded images.
 * @module
 */
import * as tf from '@tensorflow/tfjs-core';
import { OptionError, ShapeMismatchError, createGenerator, randn } from '@semedit/core';
import {
  decodeLatents, encodePrompts, latentSize, promptBatch, sampleLoop, unetDenoiser, withHooks, type StableDiffusion, type StepEvent, type TruncatedPrompt,
} from '@semedit/core/pipeline';
import type { AttentionHookResolver } from '@semedit/core/unet';
import type { SegaConcept } from './concepts.js';
import { segaDenoiser, type LowGuidancePolicy } from './denoiser.js';
import type { SegaPhase } from './sega.js';

/**
 * One edit concept: its text (`prompt`, e.g. "smiling, smile") or precomputed `embeddings` `[1, T, D]` / `[B, T, D]`,
 * plus its settings.
 *
 * @example
 * ```ts
 * const c: SegaConceptInput = { prompt: 'glasses', reverse: true, scale: 5, threshold: 0.975, warmup: 10 };
 * ```
 */
export interface SegaConceptInput extends SegaConcept {
  prompt?: string;
  /** Precomputed embeddings (the caller keeps ownership). */
  embeddings?: tf.Tensor3D;
}

/** Options of {@link segaToImage}. */
export interface SegaRunOptions {
  /** One prompt, or one per image. */
  prompt: string | readonly string[];
  /** Negative prompt(s): one for all or one per prompt (default empty); also SEGA's baseline ε_u. */
  negativePrompt?: string | readonly string[];
  /** Edit concepts, in order (may be empty: plain CFG). */
  concepts: readonly SegaConceptInput[];
  /** `edit_momentum_scale` (default 0.1) and `edit_mom_beta` (default 0.4). */
  momentumScale?: number;
  momBeta?: number;
  /** Classifier-free guidance scale (default 7.5). */
  guidanceScale?: number;
  /** Denoising steps (default 50). */
  numInferenceSteps?: number;
  /** Image size in pixels (default: the UNet's `sample_size` × the VAE factor). */
  height?: number;
  width?: number;
  /** Images per prompt (default 1). */
  numImagesPerPrompt?: number;
  /** Seed of the starting noise (default 0); ignored when `latents` are given. */
  seed?: number;
  /** Starting latents `[B, h, w, C]` (the caller keeps ownership). */
  latents?: tf.Tensor4D;
  /** DDIM η (default 0). */
  eta?: number;
  /** Attention hooks for every UNet call (they see `uncond`, `cond` and `concept` rows). */
  hooks?: AttentionHookResolver;
  /** Concepts per UNet call (default all). */
  conceptChunk?: number;
  /** Return each step's semantic guidance (default true). */
  recordGuidance?: boolean;
  /** Guidance recorded by an earlier run, added at each step (diffusers' `sem_guidance`). Not disposed. */
  replayGuidance?: readonly tf.Tensor4D[] | tf.Tensor;
  /** At `guidanceScale <= 1`: `error` (default) or `skip-edits` (diffusers' behaviour, reported). */
  lowGuidance?: LowGuidancePolicy;
  /** May replace the latents after a step. */
  onStepEnd?: (ev: StepEvent) => tf.Tensor4D | undefined | void;
  /** Progress: steps done and total. */
  onProgress?: (done: number, total: number) => void;
  /** Over-long prompts: `warn` (default, reported) or `error`. */
  onTruncate?: 'warn' | 'error';
}

/** What {@link segaToImage} returns (the caller owns the tensors). */
export interface SegaRunResult {
  /** Final latents `[B, h, w, C]`. */
  latents: tf.Tensor4D;
  /** Decoded images `[B, H, W, 3]` in [0, 1]. */
  images: tf.Tensor4D;
  /** The semantic guidance added at each step, `[B, h, w, C]` each (empty when not recorded or skipped). */
  guidance: tf.Tensor4D[];
  /** Which concepts each step applied. */
  phases: SegaPhase[];
  /** False when `guidanceScale <= 1` made the run skip the edits (policy `skip-edits`). */
  editsApplied: boolean;
  /** Human-readable notes (skipped edits). */
  warnings: string[];
  /** Prompts (main, negative, editing) cut to the model length. */
  truncated: TruncatedPrompt[];
}

/**
 * SEGA text-to-image as an async generator of steps; its return value is the result.
 *
 * @param sd   tokenizer, text encoder, UNet, VAE, scheduler
 * @param opts prompt, concepts, guidance, steps, seed or latents, recording/replay, callbacks
 * @example
 * ```ts
 * const run = segaToImage(sd, { prompt: 'a photo of a cat', concepts: [{ prompt: 'sunglasses', warmup: 2 }], numInferenceSteps: 10 });
 * let r = await run.next();
 * while (!r.done) r = await run.next();
 * const { images, guidance } = r.value; // [1, 64, 64, 3]; 10 × [1, 32, 32, 4]
 * ```
 */
export async function* segaToImage(sd: StableDiffusion, opts: SegaRunOptions): AsyncGenerator<StepEvent, SegaRunResult> {
  const { prompts, negatives, promptIndex } = promptBatch(opts.prompt, opts.negativePrompt, opts.numImagesPerPrompt ?? 1);
  if (!Array.isArray(opts.concepts)) throw new OptionError('concepts', 'must be an array (empty for no edit)');
  opts.concepts.forEach((c, i) => {
    if ((c.prompt === undefined) === (c.embeddings === undefined)) throw new OptionError(`concepts[${i}]`, 'needs exactly one of prompt or embeddings');
  });
  const size = latentSize(sd, opts);
  const shape: [number, number, number, number] = [prompts.length, size.height, size.width, size.channels];
  if (opts.latents && opts.latents.shape.some((d, i) => d !== shape[i])) throw new ShapeMismatchError('latents', shape, opts.latents.shape);
  const scale = opts.guidanceScale ?? 7.5;
  const onTruncate = opts.onTruncate ?? 'warn';
  const owned: tf.Tensor[] = [];
  const enc = (texts: string[], label: string): { embeddings: tf.Tensor3D; truncated: TruncatedPrompt[] } => {
    const r = encodePrompts(sd.tokenizer, sd.textEncoder, texts, { onTruncate });
    owned.push(r.embeddings);
    return { embeddings: r.embeddings, truncated: r.truncated.map((t) => ({ ...t, prompt: `${label}${t.prompt}` })) };
  };
  try {
    const cond = enc(prompts, '');
    const uncond = enc(negatives, '(negative) ');
    const textIdx = opts.concepts.flatMap((c, i) => (c.prompt !== undefined ? [i] : []));
    const edits = textIdx.length > 0 ? enc(textIdx.map((i) => opts.concepts[i]!.prompt!), '(concept) ') : undefined;
    const conceptEmb = opts.concepts.map((c, i) => {
      if (c.embeddings) return c.embeddings;
      const row = textIdx.indexOf(i);
      const e = tf.slice(edits!.embeddings, [row, 0, 0], [1, -1, -1]) as tf.Tensor3D;
      owned.push(e);
      return e;
    });
    const denoise = segaDenoiser(withHooks(unetDenoiser(sd.unet), opts.hooks), {
      cond: cond.embeddings, uncond: uncond.embeddings, concepts: conceptEmb, scale,
      edit: {
        concepts: opts.concepts.map(({ prompt: _p, embeddings: _e, ...settings }) => settings),
        ...(opts.momentumScale !== undefined ? { momentumScale: opts.momentumScale } : {}),
        ...(opts.momBeta !== undefined ? { momBeta: opts.momBeta } : {}),
      },
      prompts: promptIndex,
      ...(opts.conceptChunk !== undefined ? { conceptChunk: opts.conceptChunk } : {}),
      ...(opts.replayGuidance ? { replayGuidance: opts.replayGuidance } : {}),
      recordGuidance: opts.recordGuidance ?? true,
      lowGuidance: opts.lowGuidance ?? 'error',
    });
    const gen = createGenerator(opts.seed ?? 0);
    const start = opts.latents ? tf.clone(opts.latents) : (randn(shape, gen) as tf.Tensor4D);
    owned.push(start);
    try {
      const loop = sampleLoop(denoise, sd.scheduler, {
        latents: start, numInferenceSteps: opts.numInferenceSteps ?? 50, eta: opts.eta ?? 0, generator: gen,
        ...(opts.onStepEnd ? { onStepEnd: opts.onStepEnd } : {}), ...(opts.onProgress ? { onProgress: opts.onProgress } : {}),
      });
      let r = await loop.next();
      while (!r.done) {
        yield r.value;
        r = await loop.next();
      }
      const latents = r.value;
      const skipped = denoise.editsSkipped;
      return {
        latents, images: decodeLatents(sd.vae, latents),
        guidance: skipped || opts.recordGuidance === false ? [] : denoise.takeRecorded(),
        phases: [...denoise.phases], editsApplied: !skipped,
        warnings: skipped ? [`guidance scale ${scale} <= 1: no classifier-free guidance, so the ${opts.concepts.length} edit concept(s) were not applied (diffusers' behaviour)`] : [],
        truncated: [...cond.truncated, ...uncond.truncated, ...(edits?.truncated ?? [])],
      };
    } finally {
      denoise.dispose();
    }
  } finally {
    tf.dispose(owned);
  }
}

/**
 * Runs {@link segaToImage} to the end and returns its result.
 *
 * @param sd   the pipeline
 * @param opts as {@link segaToImage}
 * @example
 * ```ts
 * const { images, guidance } = await runSega(sd, {
 *   prompt: 'a photo of the face of a woman', guidanceScale: 7, numInferenceSteps: 50, seed: 21,
 *   concepts: [{ prompt: 'smiling, smile', scale: 4, threshold: 0.99 }, { prompt: 'glasses', reverse: true }],
 * });
 * ```
 */
export async function runSega(sd: StableDiffusion, opts: SegaRunOptions): Promise<SegaRunResult> {
  const run = segaToImage(sd, opts);
  let r = await run.next();
  while (!r.done) r = await run.next();
  return r.value;
}
