/**
 * {@link StyleGan2}: a loaded generator (config + parameter tree) with the methods editing code uses: Z → W+
 * (mapping, truncation), W+ → S (styles), S or W+ → image. Every method is a pure function of its inputs and
 * the frozen parameters, so `tf.grad` / `tf.variableGrads` work with respect to W+ or S codes.
 * @module
 */
import * as tf from '@tensorflow/tfjs-core';
import { OptionError } from '../errors.js';
import type { ResolvedStyleGan2Config } from './config.js';
import { mapping, mappingW, meanLatent, truncate, type MappingOptions } from './mapping.js';
import type { StyleGan2Params } from './params.js';
import { concatStyles, splitStyles, styleLayers, wsToStyles, type StyleCodes, type StyleLayer } from './style-space.js';
import { synthesis, synthesisFromStyles, type SynthesisOptions } from './synthesis.js';
import { paramTensors } from '../nn/weights.js';
import { storeWeights } from '../backend/weight-storage.js';

/**
 * A StyleGAN2 generator. Images are NHWC `[B, R, R, C]` in the generator's range (about [-1, 1]).
 *
 * @example
 * ```ts
 * const G = await loadNvlabsGenerator('ffhq.pkl');
 * const ws = G.mapping(z, { truncationPsi: 0.7 });             // [B, 18, 512]
 * const img = G.synthesis(ws, { noiseMode: 'const' });          // [B, 1024, 1024, 3]
 * const s = G.styles(ws);                                       // 26 × [B, C_l], S order
 * const edited = G.synthesisFromStyles(s);                      // same image as img
 * const g = tf.grad((w: tf.Tensor) => tf.sum(G.synthesis(w as tf.Tensor3D)))(ws); // d/dW+
 * ```
 */
export class StyleGan2 {
  /** S-space layout (order, sizes, W+ rows, offsets). */
  readonly styleLayers: readonly StyleLayer[];

  /**
   * @param config resolved config
   * @param params parameter tree (owned: disposed by {@link StyleGan2.dispose})
   * @param format which checkpoint layout it was loaded from
   */
  constructor(readonly config: ResolvedStyleGan2Config, readonly params: StyleGan2Params, readonly format: 'nvlabs' | 'rosinality') {
    this.styleLayers = styleLayers(config);
    storeWeights(paramTensors(params));
  }

  /** Rows of W+ (`2·log2(R) − 2`). */
  get numWs(): number {
    return this.config.numWs;
  }

  /** Total S-space channels (Σ of `styleLayers[].channels`). */
  get styleDim(): number {
    return this.styleLayers.reduce((a, l) => a + l.channels, 0);
  }

  /** The truncation centre `mapping.w_avg` `[w_dim]` (rosinality: the checkpoint's `latent_avg`), if any. */
  get wAvg(): tf.Tensor1D | undefined {
    return this.params.mapping.w_avg;
  }

  /**
   * Z → W+ (`G.mapping`): W repeated to `num_ws` rows, truncated when `truncationPsi ≠ 1`.
   *
   * @param z    `[B, z_dim]`
   * @param opts `c`, `truncationPsi`, `truncationCutoff`, `truncationLatent`
   * @returns `[B, num_ws, w_dim]`
   * @example
   * ```ts
   * G.mapping(z, { truncationPsi: 0.7, truncationCutoff: 8 }).shape; // [B, 18, 512]
   * ```
   */
  mapping(z: tf.Tensor2D, opts: MappingOptions = {}): tf.Tensor3D {
    return mapping(this.params.mapping, this.config, z, opts);
  }

  /**
   * Z → W without broadcasting or truncation (rosinality `get_latent`); leading dims kept.
   *
   * @param z `[..., z_dim]`
   * @param c labels for conditional generators
   * @returns `[..., w_dim]`
   * @example
   * ```ts
   * G.mappingW(tf.randomNormal([4, 18, 512])).shape; // [4, 18, 512]: one w per W+ row
   * ```
   */
  mappingW(z: tf.Tensor, c?: tf.Tensor2D): tf.Tensor {
    return mappingW(this.params.mapping, this.config, z, c);
  }

  /**
   * Truncation `center + ψ·(ws − center)` (default centre `w_avg`).
   *
   * @param ws     `[B, num_ws, w_dim]`
   * @param psi    ψ
   * @param opts   `center` `[w_dim]` / `[1, w_dim]`, `cutoff` rows
   * @example
   * ```ts
   * G.truncate(wplus, 0.7, { center: meanW }).shape; // wplus.shape
   * ```
   */
  truncate(ws: tf.Tensor3D, psi: number, opts: { center?: tf.Tensor; cutoff?: number | null } = {}): tf.Tensor3D {
    const center = opts.center ?? this.wAvg;
    if (!center) throw new OptionError('center', 'is required: this generator has no w_avg');
    return truncate(ws, center, psi, opts.cutoff ?? null);
  }

  /**
   * Mean W of a batch of z (rosinality `mean_latent`, with the draw passed in).
   *
   * @param z `[n, z_dim]`
   * @returns `[1, w_dim]`
   * @example
   * ```ts
   * const mean = G.meanLatent(randn([4096, 512], createGenerator(0)) as tf.Tensor2D);
   * ```
   */
  meanLatent(z: tf.Tensor2D): tf.Tensor2D {
    return meanLatent(this.params.mapping, this.config, z);
  }

  /**
   * W+ → S: every layer's affine output, in S order (ToRGB before its weight gain).
   *
   * @param ws `[B, num_ws, w_dim]`
   * @example
   * ```ts
   * G.styles(ws).map((s) => s.shape[1]); // [512, 512, 512, 512, 512, ...] for FFHQ
   * ```
   */
  styles(ws: tf.Tensor3D): StyleCodes {
    return wsToStyles(this.params, this.config, ws);
  }

  /**
   * Concatenates style codes into `[B, styleDim]`.
   *
   * @param styles one `[B, C_l]` per layer
   * @example
   * ```ts
   * G.concatStyles(G.styles(ws)).shape; // [B, 9088] for FFHQ-1024
   * ```
   */
  concatStyles(styles: readonly tf.Tensor2D[]): tf.Tensor2D {
    return concatStyles(styles);
  }

  /**
   * Splits `[B, styleDim]` into per-layer codes.
   *
   * @param s `[B, styleDim]`
   * @example
   * ```ts
   * G.splitStyles(sFlat).length; // G.styleLayers.length
   * ```
   */
  splitStyles(s: tf.Tensor2D): StyleCodes {
    return splitStyles(this.config, s);
  }

  /**
   * W+ → image (`G.synthesis(ws, noise_mode)`).
   *
   * @param ws   `[B, num_ws, w_dim]`
   * @param opts `noiseMode` (default `'const'`), `generator`, `noise`
   * @returns `[B, R, R, img_channels]`
   * @example
   * ```ts
   * G.synthesis(ws, { noiseMode: 'none' }).shape; // [B, 1024, 1024, 3]
   * ```
   */
  synthesis(ws: tf.Tensor3D, opts: SynthesisOptions = {}): tf.Tensor4D {
    return synthesis(this.params, this.config, ws, opts);
  }

  /**
   * S → image.
   *
   * @param styles one `[B, C_l]` per layer, in S order
   * @param opts   `noiseMode` (default `'const'`), `generator`, `noise`
   * @returns `[B, R, R, img_channels]`
   * @example
   * ```ts
   * G.synthesisFromStyles(G.styles(ws)).shape; // [B, 1024, 1024, 3]
   * ```
   */
  synthesisFromStyles(styles: readonly tf.Tensor2D[], opts: SynthesisOptions = {}): tf.Tensor4D {
    return synthesisFromStyles(this.params, this.config, styles, opts);
  }

  /**
   * Z → image (`G(z, c, truncation_psi, noise_mode)`).
   *
   * @param z    `[B, z_dim]`
   * @param opts mapping and synthesis options
   * @example
   * ```ts
   * G.generate(z, { truncationPsi: 0.7 }).shape; // [B, 1024, 1024, 3]
   * ```
   */
  generate(z: tf.Tensor2D, opts: MappingOptions & SynthesisOptions = {}): tf.Tensor4D {
    return tf.tidy(() => this.synthesis(this.mapping(z, opts), opts));
  }

  /**
   * Every parameter tensor (for memory accounting).
   *
   * @example
   * ```ts
   * G.tensors().length; // 84 for the tiny fixture
   * ```
   */
  tensors(): tf.Tensor[] {
    return paramTensors(this.params);
  }

  /**
   * Frees every parameter tensor.
   *
   * @example
   * ```ts
   * G.dispose();
   * ```
   */
  dispose(): void {
    tf.dispose(this.tensors());
  }
}
