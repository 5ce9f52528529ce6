/**
 * StyleGAN2 synthesis, 'skip' architecture (stylegan2-ada `SynthesisNetwork` / rosinality `Generator` with
 * `input_is_latent`), driven by S-space codes so that W, W+ and S inputs share one path. Per block:
 *
 *   x ← const (4×4)  |  x ← lrelu(modconv↑2(x, s_conv0)·d + noise + b)·√2          (SynthesisLayer, clamped)
 *   x ← lrelu(modconv(x, s_conv1)·d + noise + b)·√2
 *   img ← firUpsample2d(img) + modconv1×1(x, s_torgb/√in) + b_rgb                      (ToRGB skip, clamped)
 *
 * Noise: `const` adds `noise_const·noise_strength` (the stored buffers), `random` adds `randn·noise_strength`
 * (one draw per sample), `none` adds nothing; explicit `noise` tensors (rosinality's `noise=[...]`) override per layer.
 * Images are NHWC, in the generator's range (about [-1, 1]).
 * @module
 */
import * as tf from '@tensorflow/tfjs-core';
import { OptionError, ShapeMismatchError } from '../errors.js';
import { biasAct } from '../nn/fused-bias-act.js';
import { randn, type RandomGenerator } from '../random.js';
import type { ResolvedStyleGan2Config } from './config.js';
import { demodCoefficients, modulatedConv2d } from './modulated-conv.js';
import { resampleFilter2d, type StyleGan2Params, type SynthesisLayerParams, type ToRgbParams } from './params.js';
import { firUpsample2d } from './resample.js';
import { assertStyles, assertWs, styleLayerParams, styleLayers, wsToStyles } from './style-space.js';

/**
 * How noise inputs are filled: the stored constant buffers, fresh random draws, or nothing.
 *
 * @example
 * ```ts
 * const mode: NoiseMode = 'const'; // StyleCLIP's randomize_noise=False
 * ```
 */
export type NoiseMode = 'const' | 'random' | 'none';

/**
 * Options of {@link synthesisFromStyles} and {@link synthesis}.
 *
 * @example
 * ```ts
 * const o: SynthesisOptions = { noiseMode: 'random', generator: createGenerator(0) };
 * ```
 */
export interface SynthesisOptions {
  /** Default `'const'` (deterministic; stylegan2-ada's own default is `'random'`). */
  noiseMode?: NoiseMode;
  /** Seeded generator for `'random'` noise (required then). */
  generator?: RandomGenerator;
  /**
   * Explicit noise per conv layer in conv order (`StyleLayer.convIndex`: b4.conv1, b8.conv0, b8.conv1, ...), each
   * `[1 | B, res, res, 1]`, multiplied by the layer's `noise_strength`; `undefined` entries follow `noiseMode`.
   */
  noise?: readonly (tf.Tensor | undefined)[];
}

function layerNoise(p: SynthesisLayerParams, b: number, res: number, convIndex: number, opts: SynthesisOptions): tf.Tensor | undefined {
  if (!p.noise_strength || !p.noise_const) return undefined;
  const explicit = opts.noise?.[convIndex];
  if (explicit) {
    const ok = explicit.rank === 4 && (explicit.shape[0] === 1 || explicit.shape[0] === b) && explicit.shape[1] === res && explicit.shape[2] === res && explicit.shape[3] === 1;
    if (!ok) throw new ShapeMismatchError(`noise[${convIndex}]`, [b, res, res, 1], explicit.shape);
    return tf.mul(explicit, p.noise_strength);
  }
  const mode = opts.noiseMode ?? 'const';
  if (mode === 'none') return undefined;
  if (mode === 'const') return tf.reshape(tf.mul(p.noise_const, p.noise_strength), [1, res, res, 1]);
  if (mode === 'random') {
    if (!opts.generator) throw new OptionError('generator', "is required for noiseMode 'random'");
    return tf.mul(randn([b, res, res, 1], opts.generator), p.noise_strength);
  }
  throw new OptionError('noiseMode', `must be 'const', 'random' or 'none', got ${JSON.stringify(mode)}`);
}

/**
 * Synthesis from S-space codes (every affine output given; ToRGB codes before the weight gain).
 *
 * @param params generator params
 * @param cfg    resolved config
 * @param styles one `[B, C_l]` per style layer, in S order (see `styleLayers`)
 * @param opts   `noiseMode`, `generator`, `noise`
 * @returns image `[B, R, R, img_channels]` (NHWC)
 * @example
 * ```ts
 * const s = wsToStyles(params, cfg, ws);
 * s[3] = tf.add(s[3]!, edit);                        // an S-space edit
 * const img = synthesisFromStyles(params, cfg, s);   // [B, 1024, 1024, 3]
 * ```
 */
export function synthesisFromStyles(
  params: StyleGan2Params, cfg: ResolvedStyleGan2Config, styles: readonly tf.Tensor2D[], opts: SynthesisOptions = {},
): tf.Tensor4D {
  assertStyles(cfg, styles);
  const layers = styleLayers(cfg);
  const b = styles[0]!.shape[0];
  return tf.tidy(() => {
    const filter = tf.tensor2d(resampleFilter2d(cfg.resampleFilter), [cfg.resampleFilter.length, cfg.resampleFilter.length]);
    const c0 = params.synthesis[`b${cfg.blockResolutions[0]!}`]?.const;
    if (!c0) throw new OptionError('params', 'synthesis.b4.const is missing');
    let x = tf.tile(tf.expandDims(c0, 0), [b, 1, 1, 1]) as tf.Tensor4D;
    let img: tf.Tensor4D | undefined;
    for (const l of layers) {
      const p = styleLayerParams(params, l);
      const s = styles[l.index]!;
      if (l.kind === 'conv') {
        const lp = p as SynthesisLayerParams;
        // demodulation, noise, bias, lrelu, gain and clamp: one pass where the backend fuses them (biasAct)
        const y = modulatedConv2d(x, lp.weight, s, { demodulate: false, ...(l.layer === 'conv0' ? { up: 2, resampleFilter: filter } : {}) });
        const noise = layerNoise(lp, b, l.resolution, l.convIndex, opts) as tf.Tensor4D | undefined;
        x = biasAct(y, { scale: demodCoefficients(lp.weight, s), ...(noise ? { noise } : {}), bias: lp.bias, alpha: 0.2, gain: Math.SQRT2, clamp: cfg.convClamp });
      } else {
        const rp = p as ToRgbParams;
        const gain = 1 / Math.sqrt(l.channels);
        let y = modulatedConv2d(x, rp.weight, tf.mul(s, gain) as tf.Tensor2D, { demodulate: false });
        y = biasAct(y, { bias: rp.bias, clamp: cfg.convClamp });
        img = img ? (tf.add(firUpsample2d(img, filter), y) as tf.Tensor4D) : y;
      }
    }
    return img!;
  });
}

/**
 * Synthesis from W+ codes (`G.synthesis(ws, noise_mode)`): styles from the affines, then {@link synthesisFromStyles}.
 *
 * @param params generator params
 * @param cfg    resolved config
 * @param ws     `[B, num_ws, w_dim]` (W repeated, or W+)
 * @param opts   `noiseMode`, `generator`, `noise`
 * @returns image `[B, R, R, img_channels]` (NHWC)
 * @example
 * ```ts
 * synthesis(params, cfg, mapping(params.mapping, cfg, z)).shape; // [B, 1024, 1024, 3]
 * ```
 */
export function synthesis(params: StyleGan2Params, cfg: ResolvedStyleGan2Config, ws: tf.Tensor3D, opts: SynthesisOptions = {}): tf.Tensor4D {
  assertWs(cfg, ws);
  return tf.tidy(() => synthesisFromStyles(params, cfg, wsToStyles(params, cfg, ws), opts));
}

