/**
 * `upfirdn2d` as a reference implementation (stylegan2-ada `torch_utils/ops/upfirdn2d.py`, `_upfirdn2d_ref`), on
 * NHWC tensors: upsample by zero insertion, pad (negative = crop), convolve every channel with a 2-D FIR filter
 * (a depthwise conv), then downsample by dropping pixels. {@link firUpsample2d} and {@link firFilter2d} (upfirdn2d.py's `upsample2d` and `filter2d`) are the two
 * wrappers StyleGAN2's synthesis uses. Everything is plain differentiable tfjs ops.
 * @module
 */
import * as tf from '@tensorflow/tfjs-core';
import { OptionError, ShapeMismatchError } from '../errors.js';

/**
 * Options of {@link upfirdn2d}.
 *
 * @example
 * ```ts
 * const o: Upfirdn2dOptions = { up: 2, padding: [2, 1, 2, 1], gain: 4 };
 * ```
 */
export interface Upfirdn2dOptions {
  /** Integer upsampling factor (default 1). */
  up?: number;
  /** Integer downsampling factor (default 1). */
  down?: number;
  /** `[x0, x1, y0, y1]` padding after upsampling, negative crops; a number pads every side (default 0). */
  padding?: number | readonly [number, number, number, number];
  /** `false` (default) convolves (filter flipped, as upfirdn2d does); `true` correlates. */
  flipFilter?: boolean;
  /** Overall gain; the filter is scaled by `gain^(ndim/2)` = `gain` for a 2-D filter (default 1). */
  gain?: number;
}

function parsePadding(p: Upfirdn2dOptions['padding']): [number, number, number, number] {
  const pad = typeof p === 'number' || p === undefined ? ([p ?? 0, p ?? 0, p ?? 0, p ?? 0] as const) : p;
  if (pad.length !== 4 || pad.some((v) => !Number.isInteger(v))) throw new OptionError('padding', `must be an integer or 4 integers, got ${JSON.stringify(p)}`);
  return [pad[0], pad[1], pad[2], pad[3]];
}

/**
 * Pad, upsample, FIR-filter and downsample a batch of NHWC images (reference path).
 *
 * @param x    `[B, H, W, C]`
 * @param f    FIR filter `[fh, fw]` (e.g. `outer([1,3,3,1])/64`)
 * @param opts `up`, `down`, `padding [x0, x1, y0, y1]`, `flipFilter`, `gain`
 * @returns `[B, (H·up + y0 + y1 − fh) / down + 1, (W·up + x0 + x1 − fw) / down + 1, C]` (floor division)
 * @example
 * ```ts
 * const f = tf.tensor2d(resampleFilter2d([1, 3, 3, 1]), [4, 4]);
 * upfirdn2d(tf.ones([1, 4, 4, 8]), f, { up: 2, padding: [2, 1, 2, 1], gain: 4 }).shape; // [1, 8, 8, 8]
 * ```
 */
export function upfirdn2d(x: tf.Tensor4D, f: tf.Tensor2D, opts: Upfirdn2dOptions = {}): tf.Tensor4D {
  const up = opts.up ?? 1;
  const down = opts.down ?? 1;
  if (!Number.isInteger(up) || up < 1) throw new OptionError('up', `must be a positive integer, got ${up}`);
  if (!Number.isInteger(down) || down < 1) throw new OptionError('down', `must be a positive integer, got ${down}`);
  if (f.rank !== 2) throw new ShapeMismatchError('upfirdn2d filter', [null, null], f.shape);
  const [px0, px1, py0, py1] = parsePadding(opts.padding);
  const [fh, fw] = f.shape;
  return tf.tidy(() => {
    const [b, h, w, c] = x.shape;
    let y: tf.Tensor4D = x;
    // 1. Upsample by inserting up-1 zeros after every pixel: [B, H, 1, W, 1, C] padded, then merged.
    if (up > 1) {
      const six = tf.reshape(y, [b, h, 1, w, 1, c]);
      y = tf.reshape(tf.pad(six, [[0, 0], [0, 0], [0, up - 1], [0, 0], [0, up - 1], [0, 0]]), [b, h * up, w * up, c]);
    }
    // 2. Pad (positive parts), then crop (negative parts).
    y = tf.pad(y, [[0, 0], [Math.max(py0, 0), Math.max(py1, 0)], [Math.max(px0, 0), Math.max(px1, 0)], [0, 0]]);
    if (py0 < 0 || py1 < 0 || px0 < 0 || px1 < 0) {
      const [, hh, ww] = y.shape;
      y = tf.slice(y, [0, Math.max(-py0, 0), Math.max(-px0, 0), 0], [b, hh - Math.max(-py0, 0) - Math.max(-py1, 0), ww - Math.max(-px0, 0) - Math.max(-px1, 0), c]);
    }
    // 3. Convolve every channel with the (flipped, scaled) filter: depthwise conv, filter [fh, fw, C, 1].
    let k = tf.mul(f, opts.gain ?? 1) as tf.Tensor2D;
    if (!opts.flipFilter) k = tf.reverse(k, [0, 1]);
    const dw = tf.tile(tf.reshape(k, [fh, fw, 1, 1]), [1, 1, c, 1]) as tf.Tensor4D;
    y = tf.depthwiseConv2d(y, dw, 1, 'valid');
    // 4. Downsample by keeping every down-th pixel.
    if (down > 1) {
      const [, hh, ww] = y.shape;
      y = tf.stridedSlice(y, [0, 0, 0, 0], [b, hh, ww, c], [1, down, down, 1]) as tf.Tensor4D;
    }
    return y;
  });
}

/**
 * StyleGAN2's `upsample2d`: ×`up` with the FIR filter, padding chosen so the output is exactly `up·H × up·W`, gain
 * `up²`.
 *
 * @param x  `[B, H, W, C]`
 * @param f  FIR filter `[fh, fw]`
 * @param up factor (default 2)
 * @returns `[B, up·H, up·W, C]`
 * @example
 * ```ts
 * firUpsample2d(img, f).shape; // [1, 64, 64, 3] for img [1, 32, 32, 3]
 * ```
 */
export function firUpsample2d(x: tf.Tensor4D, f: tf.Tensor2D, up = 2): tf.Tensor4D {
  const [fh, fw] = f.shape;
  const px = [Math.floor((fw + up - 1) / 2), Math.floor((fw - up) / 2)] as const;
  const py = [Math.floor((fh + up - 1) / 2), Math.floor((fh - up) / 2)] as const;
  return upfirdn2d(x, f, { up, padding: [px[0], px[1], py[0], py[1]], gain: up * up });
}

/**
 * StyleGAN2's `filter2d`: FIR filtering that keeps the size when `padding` is 0 (extra padding per side added).
 *
 * @param x       `[B, H, W, C]`
 * @param f       FIR filter `[fh, fw]`
 * @param padding extra `[x0, x1, y0, y1]` (default 0)
 * @param gain    overall gain (default 1)
 * @example
 * ```ts
 * firFilter2d(x, f).shape; // same as x.shape
 * ```
 */
export function firFilter2d(x: tf.Tensor4D, f: tf.Tensor2D, padding: Upfirdn2dOptions['padding'] = 0, gain = 1): tf.Tensor4D {
  const [fh, fw] = f.shape;
  const [x0, x1, y0, y1] = parsePadding(padding);
  return upfirdn2d(x, f, {
    padding: [x0 + Math.floor(fw / 2), x1 + Math.floor((fw - 1) / 2), y0 + Math.floor(fh / 2), y1 + Math.floor((fh - 1) / 2)], gain,
  });
}
