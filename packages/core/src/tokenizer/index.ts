/**
 * `@semedit/core/tokenizer`: CLIP's byte-level BPE tokenizer (Hugging Face and OpenAI vocabulary files), text
 * cleanup, truncation reports, and the word-to-token lookup Prompt-to-Prompt uses.
 * @module
 */
export * from './bpe.js';
export * from './errors.js';
export * from './text-cleanup.js';
export * from './tokenizer.js';
export * from './tokenizer-load.js';
export * from './tokenizer-vocab.js';
export * from './word-index.js';
