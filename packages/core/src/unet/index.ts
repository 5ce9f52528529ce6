/**
 * The Stable Diffusion UNet (`UNet2DConditionModel`): configs, parameters, loading, the forward with attention
 * hooks.
 * @module
 */
export * from './config.js';
export * from './hooks.js';
export * from './embeddings.js';
export * from './transformer.js';
export * from './blocks.js';
export * from './params.js';
export * from './unet.js';
export * from './load.js';
export { UnsupportedConfigError, InvalidConfigError, ConfigError } from '../errors.js';
