/**
 * StyleGAN2 (stylegan2-ada-pytorch semantics, NVLabs and rosinality checkpoints): configs, parameter trees, the
 * reference `upfirdn2d`, modulated conv (non-fused path), mapping with truncation, synthesis with ToRGB skips and
 * noise modes, the W / W+ / S spaces, and loaders. Start with {@link loadNvlabsGenerator} or
 * {@link loadRosinalityGenerator}, which return a {@link StyleGan2}.
 * @module
 */
export * from './config.js';
export * from './errors.js';
export { UnknownConfigKeyError, UnsupportedConfigError, InvalidConfigError, ConfigError } from '../errors.js';
export * from './params.js';
export * from './resample.js';
export * from './modulated-conv.js';
export * from './mapping.js';
export * from './style-space.js';
export * from './synthesis.js';
export * from './generator.js';
export * from './load-nvlabs.js';
export * from './load-rosinality.js';
export * from './random-weights.js';
