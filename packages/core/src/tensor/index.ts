/**
 * `@semedit/core/tensor`: tensor helpers shared by the models (layout conversion at load).
 * @module
 */
export * from './layout.js';
export * from './compare.js';
