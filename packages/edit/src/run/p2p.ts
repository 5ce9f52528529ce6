/**
 * Prompt-to-Prompt end to end (algorithms.md §1.2.1): the source and edited prompts run in one batch from the
 * same starting latent, with classifier-free guidance, the chosen controller on every attention layer, an
 * attention store, and optionally LocalBlend after each step. It is {@link edit} with only its `p2p` part.
 * @module
 */
import type * as tf from '@tensorflow/tfjs-core';
import { runLoop, type GenerationOptions, type StableDiffusion, type StepEvent, type TruncatedPrompt } from '@semedit/core/pipeline';
import type { P2PController } from '../p2p/controllers.js';
import type { LocalBlend } from '../p2p/local-blend.js';
import type { P2PEdit } from '../p2p/setup.js';
import type { AttentionStore } from '../p2p/store.js';
import { edit } from './edit.js';

/**
 * Options of {@link runPromptToPrompt} / {@link promptToPrompt}: the shared generation options, the source
 * prompt, and the P2P settings.
 *
 * @example
 * ```ts
 * const o: PromptToPromptOptions = { prompt: 'a cat', targets: 'a dog', crossReplaceSteps: 0.8, selfReplaceSteps: 0.4 };
 * ```
 */
export interface PromptToPromptOptions extends GenerationOptions, P2PEdit {
  /** The source prompt (batch prompt 0). */
  prompt: string;
}

/**
 * What {@link runPromptToPrompt} returns; `dispose()` frees everything in it.
 *
 * @example
 * ```ts
 * const { images, store } = r; // [2, 512, 512, 3], the attention store
 * r.dispose();
 * ```
 */
export interface PromptToPromptResult {
  /** Source prompt first, then the edited prompts. */
  prompts: string[];
  /** Final latents `[B, h, w, C]`. */
  latents: tf.Tensor4D;
  /** Decoded images `[B, H, W, 3]` in [0, 1]. */
  images: tf.Tensor4D;
  controller: P2PController;
  store: AttentionStore | undefined;
  localBlend: LocalBlend | undefined;
  truncated: TruncatedPrompt[];
  dispose(): void;
}

/**
 * Prompt-to-Prompt as an async generator of steps (like `textToImage`); its return value is the result.
 *
 * @param sd   the Stable Diffusion pipeline parts
 * @param opts prompts, mode, windows, LocalBlend, store, generation settings
 * @example
 * ```ts
 * const run = promptToPrompt(sd, { prompt: 'a cat riding a bicycle', targets: 'a dog riding a bicycle', numInferenceSteps: 50, seed: 1 });
 * let r = await run.next();
 * while (!r.done) r = await run.next();
 * r.value.dispose();
 * ```
 */
export async function* promptToPrompt(sd: StableDiffusion, opts: PromptToPromptOptions): AsyncGenerator<StepEvent, PromptToPromptResult> {
  const {
    targets, mode, weights, maxAbsWeight, crossReplaceSteps, selfReplaceSteps, selfReplaceMaxQueries, replaceMapper, localBlend, store, wordMode, ...generation
  } = opts;
  const r = yield* edit(sd, {
    ...generation,
    p2p: { targets, mode, weights, maxAbsWeight, crossReplaceSteps, selfReplaceSteps, selfReplaceMaxQueries, replaceMapper, localBlend, store, wordMode },
  });
  return {
    prompts: r.prompts, latents: r.latents, images: r.images, controller: r.controller!, store: r.store, localBlend: r.localBlend,
    truncated: r.truncated, dispose: r.dispose,
  };
}

/**
 * Runs {@link promptToPrompt} to the end.
 *
 * @param sd   the pipeline parts
 * @param opts see {@link PromptToPromptOptions}
 * @example
 * ```ts
 * const r = await runPromptToPrompt(sd, { prompt: 'a cat riding a bicycle', targets: 'a dog riding a bicycle', localBlend: { words: ['cat', 'dog'] } });
 * await writeImageTensor('out/p2p.png', r.images, { range: '0-1', grid: true });
 * r.dispose();
 * ```
 */
export async function runPromptToPrompt(sd: StableDiffusion, opts: PromptToPromptOptions): Promise<PromptToPromptResult> {
  return runLoop(promptToPrompt(sd, opts));
}
