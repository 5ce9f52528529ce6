/**
 * Building blocks shared by the diffusion models: linear and conv layers over load-time layouts, norms,
 * activations, resnet and resampling blocks, the chunked hookable attention kernel, and parameter trees.
 * @module
 */
export * from './activations.js';
export * from './attention.js';
export * from './fused-attention.js';
export * from './fused-norm.js';
export * from './fused-bias-act.js';
export * from './fused.js';
export * from './conv.js';
export * from './group-norm.js';
export * from './linear.js';
export * from './resnet.js';
export * from './sampling.js';
export * from './weights.js';
