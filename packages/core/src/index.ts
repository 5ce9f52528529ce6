/**
 * `@semedit/core`: backends, checkpoint I/O, images, and (in later issues) the models and samplers.
 * @module
 */
export * from './errors.js';
