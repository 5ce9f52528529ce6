/**
 * CLIP in `@semedit/core`: the BPE tokenizer, the text and vision towers (transformers' `CLIPTextModel`,
 * `CLIPTextModelWithProjection`, `CLIPVisionModel(WithProjection)`, `CLIPModel`), their configs, strict loaders
 * for HF / diffusers folders and OpenAI `.pt` checkpoints, and image preprocessing (CLIP's and StyleCLIP's).
 *
 * @example
 * ```ts
 * const tok = await loadClipTokenizer('sd15/tokenizer');
 * const te = await loadClipTextModel('sd15/text_encoder');
 * const { lastHiddenState } = te.forward(tok.encodeBatch(['a photo of a cat']).map((e) => e.ids)); // [1, 77, 768]
 * ```
 * @module
 */
export * from '../tokenizer/index.js';
export * from './config.js';
export * from './model-errors.js';
export { ClipConfigError, ConfigError } from '../errors.js';
export * from './layers.js';
export * from './attention.js';
export * from './encoder.js';
export * from './params.js';
export * from './text-model.js';
export * from './vision-model.js';
export * from './similarity.js';
export * from './load.js';
export * from './openai-checkpoint.js';
export * from './resample.js';
export * from './preprocess.js';
