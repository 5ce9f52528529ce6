/**
 * SEGA text-to-image (diffusers' `SemanticStableDiffusionPipeline.__call__`): prompt, negative prompt, editing
 * prompts or precomputed concept embeddings, seeded or given latents, recorded or replayed guidance, decoded
 * images. It is {@link edit} with only its `sega` part.
 * @module
 */
import type * as tf from '@tensorflow/tfjs-core';
import { runLoop, type GenerationOptions, type StableDiffusion, type StepEvent, type TruncatedPrompt } from '@semedit/core/pipeline';
import type { SegaPhase } from '../sega/sega.js';
import { edit, type SegaEdit } from './edit.js';

/**
 * Options of {@link segaToImage}: the shared generation options, the prompts, and SEGA's settings.
 *
 * @example
 * ```ts
 * const o: SegaRunOptions = { prompt: 'a photo of a cat', concepts: [{ prompt: 'sunglasses' }], seed: 3 };
 * ```
 */
export interface SegaRunOptions extends GenerationOptions, SegaEdit {
  /** One prompt, or one per image. */
  prompt: string | readonly string[];
  /** Images per prompt (default 1). */
  numImagesPerPrompt?: number;
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
  const { concepts, momentumScale, momBeta, conceptChunk, recordGuidance, replayGuidance, lowGuidance, ...generation } = opts;
  const r = yield* edit(sd, { ...generation, sega: { concepts, momentumScale, momBeta, conceptChunk, recordGuidance, replayGuidance, lowGuidance } });
  return { latents: r.latents, images: r.images, guidance: r.guidance, phases: r.phases, editsApplied: r.editsApplied, warnings: r.warnings, truncated: r.truncated };
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
  return runLoop(segaToImage(sd, opts));
}
