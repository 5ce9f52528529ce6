/**
 * Prompt-to-Prompt (Hertz et al., ICLR 2023): attention controllers as hooks, the attention store, LocalBlend,
 * attention-map pictures, and the end-to-end run.
 * @module
 */
export * from './errors.js';
export * from './seq-aligner.js';
export * from './word-mappers.js';
export * from './schedules.js';
export * from './store.js';
export * from './controllers.js';
export * from './local-blend.js';
export * from './maps.js';
export * from './setup.js';
