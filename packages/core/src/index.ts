/**
 * `@semedit/core`: backends, checkpoint I/O, images, seeded random numbers, tensor layout helpers, and (in later
 * issues) the models and samplers. Everything is also importable from its subpath (`@semedit/core/io`,
 * `/image`, `/backend`, `/tensor`); test helpers live in `@semedit/core/testing`.
 * @module
 */
export * from './errors.js';
export * from './backend/index.js';
export * from './io/index.js';
export * from './image/index.js';
export * from './tensor/index.js';
export * from './random.js';
export * from './clip/index.js';
export * from './schedulers/index.js';
export * from './unet/index.js';
export * from './vae/index.js';
export * from './pipeline/index.js';
export * from './stylegan2/index.js';
