/**
 * Adapters from a StyleGAN2 generator (`@semedit/core`'s `StyleGan2`, or anything with the same methods) to what
 * the StyleCLIP methods take: a W+ synthesizer for latent optimization and mapper training, and a
 * {@link StyleSpaceGenerator} for global directions. Typed structurally so no generator class is imported here.
 * @module
 */
import type * as tf from '@tensorflow/tfjs-core';
import type { StyleSpaceGenerator } from './channel-features.js';
import type { StyleLayer } from './global-directions.js';
import type { SynthesizeWPlus } from './optimize.js';

/**
 * The generator methods StyleCLIP uses (`StyleGan2` from `@semedit/core` has them).
 *
 * @example
 * ```ts
 * const G: StyleGan2Like = await loadNvlabsGenerator('ffhq.pkl');
 * ```
 */
export interface StyleGan2Like {
  readonly styleLayers: readonly { name: string; resolution: number; kind: 'conv' | 'torgb'; channels: number }[];
  readonly numWs: number;
  mapping(z: tf.Tensor2D, opts?: { truncationPsi?: number; truncationCutoff?: number | null }): tf.Tensor3D;
  styles(ws: tf.Tensor3D): tf.Tensor2D[];
  concatStyles(styles: readonly tf.Tensor2D[]): tf.Tensor2D;
  splitStyles(s: tf.Tensor2D): tf.Tensor2D[];
  synthesis(ws: tf.Tensor3D, opts?: { noiseMode?: 'const' | 'random' | 'none' }): tf.Tensor4D;
  synthesisFromStyles(styles: readonly tf.Tensor2D[], opts?: { noiseMode?: 'const' | 'random' | 'none' }): tf.Tensor4D;
}

/**
 * Noise handling of the adapters: StyleCLIP fixes the noise (`randomize_noise=False` / `noise_mode='const'`).
 *
 * @example
 * ```ts
 * const o: StyleClipNoise = { noiseMode: 'none' };
 * ```
 */
export interface StyleClipNoise {
  /** Default `const`. */
  noiseMode?: 'const' | 'none';
}

/**
 * The style layers of a generator in the form global directions use.
 *
 * @param G the generator
 * @example
 * ```ts
 * styleLayersOf(G).filter((l) => !l.toRgb).length; // 17 for FFHQ-1024
 * ```
 */
export function styleLayersOf(G: StyleGan2Like): StyleLayer[] {
  return G.styleLayers.map((l) => ({ name: l.name, dim: l.channels, toRgb: l.kind === 'torgb', resolution: l.resolution }));
}

/**
 * A differentiable W+ → image function over a generator, noise fixed.
 *
 * @param G    the generator
 * @param opts `noiseMode`
 * @example
 * ```ts
 * const run = optimizeLatent(wPlusSynthesizer(G), loss, init);
 * ```
 */
export function wPlusSynthesizer(G: StyleGan2Like, opts: StyleClipNoise = {}): SynthesizeWPlus {
  const noiseMode = opts.noiseMode ?? 'const';
  return (ws) => G.synthesis(ws, { noiseMode });
}

/**
 * A {@link StyleSpaceGenerator} over a generator (concatenated S vectors in style order).
 *
 * @param G    the generator
 * @param opts `noiseMode`
 * @example
 * ```ts
 * const gen = styleSpaceGenerator(G);
 * const stats = styleStatistics(gen, z, { truncationPsi: 0.7 });
 * ```
 */
export function styleSpaceGenerator(G: StyleGan2Like, opts: StyleClipNoise = {}): StyleSpaceGenerator {
  const noiseMode = opts.noiseMode ?? 'const';
  return {
    layers: styleLayersOf(G),
    mapping: (z, truncationPsi) => G.mapping(z, { truncationPsi }),
    stylesFromWPlus: (ws) => G.concatStyles(G.styles(ws)),
    synthesizeStyles: (s) => G.synthesisFromStyles(G.splitStyles(s), { noiseMode }),
  };
}
