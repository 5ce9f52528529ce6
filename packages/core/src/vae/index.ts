/**
 * The Stable Diffusion VAE (`AutoencoderKL`): configs, parameters, encoder, decoder, loading.
 * @module
 */
export * from './config.js';
export * from './params.js';
export * from './mid-block.js';
export * from './encoder.js';
export * from './decoder.js';
export * from './vae.js';
export { UnsupportedConfigError, InvalidConfigError, ConfigError } from '../errors.js';
