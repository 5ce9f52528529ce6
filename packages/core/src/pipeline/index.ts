/**
 * `@semedit/core/pipeline`: Stable Diffusion text-to-image: denoisers and classifier-free guidance, the sampling
 * loop, prompt encoding, pipeline loading with memory checks.
 * @module
 */
export * from './batch.js';
export * from './denoiser.js';
export * from './sample.js';
export * from './text.js';
export * from './txt2img.js';
export * from './memory.js';
export * from './load.js';
export * from './image-memory.js';
export * from './single-file.js';
export * from './ldm-keys.js';
