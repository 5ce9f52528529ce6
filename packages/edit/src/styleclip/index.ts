/**
 * StyleCLIP (Patashnik, Wu et al., ICCV 2021) on TensorFlow.js: the CLIP loss as StyleCLIP computes it, the
 * identity-loss hook, latent optimization, the latent mapper (inference, loading, training with resumable
 * checkpoints) and global directions (channel relevance with a resumable cache, the α/β manipulation).
 *
 * @example
 * ```ts
 * const G = await loadNvlabsGenerator('ffhq.pkl');
 * const clip = await loadOpenAiClip('ViT-B-32.pt');
 * const run = optimizeLatent(wPlusSynthesizer(G), new ClipTextLoss(clip, ids), init, { steps: 40 });
 * ```
 * @module
 */
export * from './adam.js';
export * from './channel-features.js';
export * from './clip-loss.js';
export * from './fs-cache.js';
export * from './global-directions.js';
export * from './identity-loss.js';
export * from './mapper.js';
export * from './mapper-load.js';
export * from './mapper-train.js';
export * from './optimize.js';
export * from './ranger.js';
export * from './stylespace.js';
export * from './templates.js';
