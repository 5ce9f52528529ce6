/**
 * `@semedit/core/image`: PNG files, image <-> NHWC tensor conversions (diffusers value conventions), heat
 * maps, and labelled contact-sheet grids.
 * @module
 */
export * from './errors.js';
export * from './image.js';
export * from './png.js';
export * from './convert.js';
export * from './files.js';
export * from './heatmap.js';
export * from './grid.js';
export * from './font.js';
