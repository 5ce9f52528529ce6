/**
 * Stable Diffusion model files: diffusers model folders, LDM single-file checkpoints and their rename tables,
 * config errors; re-exports the UNet and VAE.
 * @module
 */
export * from './errors.js';
export * from './diffusers-folder.js';
export * from './ldm-keys.js';
export * from './single-file.js';
export * from '../unet/index.js';
export * from '../vae/index.js';
