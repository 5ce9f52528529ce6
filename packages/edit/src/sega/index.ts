/**
 * SEGA (semantic guidance): the guidance function, its denoiser wrapper, the exact torch quantile it thresholds
 * with, and the text-to-image run with edits.
 * @module
 */
export * from './quantile.js';
export * from './concepts.js';
export * from './sega.js';
export * from './denoiser.js';
