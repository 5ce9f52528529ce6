/**
 * `@semedit/edit`: the editing methods as small composable functions: StyleCLIP (latent optimization, latent
 * mapper, global directions), SEGA semantic guidance and Prompt-to-Prompt attention control, and {@link edit},
 * which composes SEGA and Prompt-to-Prompt in one sampling loop.
 * @module
 */
export * from './styleclip/index.js';
export * from './p2p/index.js';
export * from './sega/index.js';
export * from './run/index.js';
