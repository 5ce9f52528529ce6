/**
 * `@semedit/edit`: the editing methods as small composable functions: StyleCLIP (latent optimization, latent
 * mapper, global directions), SEGA semantic guidance and Prompt-to-Prompt attention control.
 * @module
 */
export * from './styleclip/index.js';
export * from './p2p/index.js';
export * from './sega/index.js';
