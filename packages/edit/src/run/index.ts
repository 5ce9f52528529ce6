/**
 * Editing runs: {@link edit} composes SEGA and Prompt-to-Prompt in one sampling loop; `segaToImage` and
 * `promptToPrompt` are its single-method forms.
 * @module
 */
export * from './edit.js';
export * from './sega.js';
export * from './p2p.js';
