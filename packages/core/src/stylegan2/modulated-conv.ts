/**
 * StyleGAN2's modulated convolution through the non-fused path (stylegan2-ada `modulated_conv2d` with
 * `fused_modconv=False`; tfjs has no grouped conv): modulate the activations by the styles, run one plain conv
 * shared by the whole batch, then demodulate the output. Karras et al. 2020 (arXiv 1912.04958), eqs. 1–3:
 *
 *   w'_ijk = s_i · w_ijk                       (1) modulation, here applied to x instead of w
 *   σ_j    = sqrt(Σ_{i,k} w'_ijk² + ε)          (2)
 *   w''    = w' / σ_j                          (3) demodulation, here applied to the conv output
 *
 * Symbols: i input channel, j output channel, k kernel tap, s the style (the layer's affine output), ε = 1e-8.
 * Because the conv is linear and σ depends only on (batch, j), scaling x by s and the output by 1/σ equals the
 * per-sample conv with w''.
 * @module
 */
import * as tf from '@tensorflow/tfjs-core';
import { OptionError, ShapeMismatchError } from '../errors.js';
import { upfirdn2d } from './resample.js';

/**
 * Options of {@link modulatedConv2d}.
 *
 * @example
 * ```ts
 * const o: ModulatedConvOptions = { up: 2, resampleFilter: f };
 * ```
 */
export interface ModulatedConvOptions {
  /** Demodulate (eqs. 2–3); ToRGB layers use `false` (default true). */
  demodulate?: boolean;
  /** 1, or 2 for the upsampling conv (transposed conv with stride 2, then the FIR filter) (default 1). */
  up?: number;
  /** FIR filter `[f, f]` used when `up > 1`. */
  resampleFilter?: tf.Tensor2D;
  /** Zero padding on every side (default `(k - 1) / 2`). */
  padding?: number;
}

/**
 * Demodulation coefficients `1/σ_j` for a batch of styles (eq. 2): `rsqrt(s² · Σ_k w² + 1e-8)`.
 *
 * @param weight `[kh, kw, in, out]` (HWIO)
 * @param styles `[B, in]`
 * @returns `[B, out]`
 * @example
 * ```ts
 * demodCoefficients(w, s).shape; // [4, 64]
 * ```
 */
export function demodCoefficients(weight: tf.Tensor4D, styles: tf.Tensor2D): tf.Tensor2D {
  return tf.tidy(() => {
    const wsq = tf.sum(tf.square(weight), [0, 1]) as tf.Tensor2D; // [in, out]
    return tf.rsqrt(tf.add(tf.matMul(tf.square(styles), wsq), 1e-8)) as tf.Tensor2D;
  });
}

/**
 * Modulated conv (non-fused reference path): `conv(x · s, w) · (1/σ)`, optionally upsampling ×2 as
 * stylegan2-ada's `conv2d_resample` does (transposed conv, stride 2, no weight flip, then `upfirdn2d` with the
 * filter, gain `up²`).
 *
 * @param x      `[B, H, W, in]`
 * @param weight `[kh, kw, in, out]` (HWIO, as stored: no weight gain)
 * @param styles `[B, in]` modulation (for ToRGB already multiplied by its weight gain)
 * @param opts   `demodulate`, `up`, `resampleFilter`, `padding`
 * @returns `[B, H·up, W·up, out]`
 * @example
 * ```ts
 * modulatedConv2d(tf.ones([2, 8, 8, 64]), w, s).shape;                                  // [2, 8, 8, 32]
 * modulatedConv2d(tf.ones([2, 8, 8, 64]), w, s, { up: 2, resampleFilter: f }).shape;    // [2, 16, 16, 32]
 * ```
 */
export function modulatedConv2d(x: tf.Tensor4D, weight: tf.Tensor4D, styles: tf.Tensor2D, opts: ModulatedConvOptions = {}): tf.Tensor4D {
  const [kh, kw, cin, cout] = weight.shape;
  const [b, h, w, c] = x.shape;
  if (c !== cin) throw new ShapeMismatchError('modulatedConv2d input', [null, null, null, cin], x.shape);
  if (styles.rank !== 2 || styles.shape[0] !== b || styles.shape[1] !== cin) throw new ShapeMismatchError('modulatedConv2d styles', [b, cin], styles.shape);
  const up = opts.up ?? 1;
  const padding = opts.padding ?? Math.floor((kh - 1) / 2);
  return tf.tidy(() => {
    // (1) modulate the activations instead of the weight.
    const xs = tf.mul(x, tf.reshape(styles, [b, 1, 1, cin])) as tf.Tensor4D;
    let y: tf.Tensor4D;
    if (up === 1) {
      y = tf.conv2d(xs, weight, 1, padding === 0 ? 'valid' : [[0, 0], [padding, padding], [padding, padding], [0, 0]]);
    } else if (up === 2) {
      const f = opts.resampleFilter;
      if (!f) throw new OptionError('resampleFilter', 'is required when up > 1');
      const [fh, fw] = f.shape;
      // conv2d_resample's padding bookkeeping for the transposed-conv fast path.
      const px0 = padding + Math.floor((fw + up - 1) / 2) - (kw - 1);
      const px1 = padding + Math.floor((fw - up) / 2) - (kw - up);
      const py0 = padding + Math.floor((fh + up - 1) / 2) - (kh - 1);
      const py1 = padding + Math.floor((fh - up) / 2) - (kh - up);
      const filterT = tf.transpose(weight, [0, 1, 3, 2]) as tf.Tensor4D; // [kh, kw, out, in]
      const t = tf.conv2dTranspose(xs, filterT, [b, (h - 1) * up + kh, (w - 1) * up + kw, cout], up, 'valid');
      y = upfirdn2d(t, f, { padding: [px0, px1, py0, py1], gain: up * up });
    } else {
      throw new OptionError('up', `must be 1 or 2, got ${up}`);
    }
    // (2)-(3) demodulate the output.
    if (opts.demodulate ?? true) y = tf.mul(y, tf.reshape(demodCoefficients(weight, styles), [b, 1, 1, cout]));
    return y;
  });
}
