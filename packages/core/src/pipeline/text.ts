/**
 * Prompt encoding for Stable Diffusion: tokenize (truncating to the model length as every SD pipeline does, but
 * reporting it), run the CLIP text encoder, return `[B, 77, D]` embeddings.
 * @module
 */
import * as tf from '@tensorflow/tfjs-core';
import type { ClipTokenizer, EncodeOptions, TruncationReport } from '../tokenizer/tokenizer.js';
import type { ClipTextModel } from '../clip/text-model.js';
import { OptionError } from '../errors.js';

/** A prompt that was too long for the model: what was dropped. */
export interface TruncatedPrompt extends TruncationReport {
  /** Index of the prompt in the batch. */
  index: number;
  prompt: string;
}

/** Options of {@link encodePrompts}. */
export interface EncodePromptsOptions {
  /** `warn` (default): truncate and report; `error`: throw `PromptTooLongError`. */
  onTruncate?: EncodeOptions['onTruncate'];
  /** diffusers' `clip_skip`: use the hidden state this many layers before the last (through the final layer norm). */
  clipSkip?: number;
}

/**
 * Encodes prompts to text embeddings.
 *
 * @param tokenizer   the CLIP tokenizer
 * @param textEncoder the CLIP text model
 * @param prompts     one string per row
 * @param opts        truncation policy, clip skip
 * @returns embeddings `[B, L, D]` (caller owns) and the prompts that were truncated
 * @example
 * ```ts
 * const { embeddings, truncated } = encodePrompts(tok, te, ['a cat', '']); // [2, 77, 768]
 * ```
 */
export function encodePrompts(
  tokenizer: ClipTokenizer, textEncoder: ClipTextModel, prompts: readonly string[], opts: EncodePromptsOptions = {},
): { embeddings: tf.Tensor3D; truncated: TruncatedPrompt[] } {
  if (prompts.length === 0) throw new OptionError('prompt', 'at least one prompt is needed');
  const enc = tokenizer.encodeBatch(prompts, { padding: 'max_length', truncation: true, onTruncate: opts.onTruncate ?? 'warn' });
  const truncated = enc.flatMap((e, index) => (e.truncated ? [{ index, prompt: prompts[index]!, ...e.truncated }] : []));
  const out = textEncoder.forward(enc.map((e) => e.ids), opts.clipSkip !== undefined ? { clipSkip: opts.clipSkip } : {});
  const embeddings = opts.clipSkip !== undefined ? out.clipSkipState! : out.lastHiddenState;
  const rest = Object.values(out).flat().filter((t): t is tf.Tensor => t instanceof tf.Tensor && t !== embeddings);
  tf.dispose(rest);
  return { embeddings, truncated };
}
