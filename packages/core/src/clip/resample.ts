/**
 * Image resampling as separable linear maps: a `[out, in]` weight matrix per axis, applied to NHWC images by two
 * rank-2 matmuls (exact, differentiable, and cheap in memory). Builds the matrices of PIL's bicubic resize (what
 * CLIP's preprocessing uses) and of StyleCLIP's nearest-upsample + average-pool resize.
 * @module
 */
import * as tf from '@tensorflow/tfjs-core';
import { OptionError, ShapeMismatchError } from '../errors.js';

/**
 * The bicubic (Keys) kernel PIL uses, with `a = -0.5`.
 *
 * @param x distance in input pixels (scaled by the filter scale when downsampling)
 * @example
 * ```ts
 * bicubicKernel(0); // 1
 * bicubicKernel(0.5); // 0.5625
 * ```
 */
export function bicubicKernel(x: number): number {
  const a = -0.5;
  const t = Math.abs(x);
  if (t < 1) return ((a + 2) * t - (a + 3)) * t * t + 1;
  if (t < 2) return (((t - 5) * t + 8) * t - 4) * a;
  return 0;
}

/**
 * The `[outSize, inSize]` matrix of PIL's bicubic resampling along one axis (`ImagingResample`'s coefficients):
 * pixel centers aligned (`center = (o + 0.5) · in/out`), the kernel widened by the scale when downsampling
 * (antialiasing), taps outside the image dropped and each row renormalized to sum 1.
 *
 * @param inSize  input length
 * @param outSize output length
 * @example
 * ```ts
 * pilBicubicMatrix(4, 2); // each row averages the input with a widened cubic kernel
 * ```
 */
export function pilBicubicMatrix(inSize: number, outSize: number): Float32Array {
  checkSize('inSize', inSize);
  checkSize('outSize', outSize);
  const scale = inSize / outSize;
  const filterScale = Math.max(scale, 1);
  const support = 2 * filterScale;
  const m = new Float32Array(outSize * inSize);
  for (let o = 0; o < outSize; o++) {
    const center = (o + 0.5) * scale;
    const lo = Math.max(0, Math.trunc(center - support + 0.5));
    const hi = Math.min(inSize, Math.trunc(center + support + 0.5));
    const w: number[] = [];
    let total = 0;
    for (let i = lo; i < hi; i++) {
      const v = bicubicKernel((i - center + 0.5) / filterScale);
      w.push(v);
      total += v;
    }
    w.forEach((v, k) => (m[o * inSize + lo + k] = total === 0 ? 0 : v / total));
  }
  return m;
}

/**
 * The `[floor(inSize·factor/kernel), inSize]` matrix of nearest upsampling by an integer `factor` followed by
 * non-overlapping average pooling with `kernel` (`AvgPool2d(kernel)(Upsample(scale_factor=factor))`, as StyleCLIP's
 * CLIP loss resizes the generator output). Entry (o, i) is the share of window o covered by copies of pixel i.
 *
 * @param inSize input length
 * @param factor nearest-neighbour upsampling factor (integer ≥ 1)
 * @param kernel pooling window and stride (integer ≥ 1)
 * @example
 * ```ts
 * upsamplePoolMatrix(32, 7, 8).length; // 28 * 32
 * ```
 */
export function upsamplePoolMatrix(inSize: number, factor: number, kernel: number): Float32Array {
  checkSize('inSize', inSize);
  checkSize('factor', factor);
  checkSize('kernel', kernel);
  const outSize = Math.floor((inSize * factor) / kernel);
  if (outSize < 1) throw new OptionError('kernel', `${kernel} is larger than the upsampled size ${inSize * factor}`);
  const m = new Float32Array(outSize * inSize);
  for (let o = 0; o < outSize; o++) {
    // Upsampled pixel j is a copy of input pixel floor(j / factor) (torch's nearest rule for integer factors).
    for (let j = o * kernel; j < (o + 1) * kernel; j++) {
      const at = o * inSize + Math.floor(j / factor);
      m[at] = m[at]! + 1;
    }
  }
  return m.map((count) => count / kernel);
}

function checkSize(name: string, v: number): void {
  if (!Number.isInteger(v) || v < 1) throw new OptionError(name, `must be an integer >= 1, got ${v}`);
}

/**
 * Applies separable per-axis matrices to an NHWC batch: `out[n, y, x, c] = Σ_ij H[y, i] · W[x, j] · in[n, i, j, c]`.
 *
 * @param images `[N, H, W, C]`
 * @param rows   `[outH, H]` matrix along the height (row-major)
 * @param cols   `[outW, W]` matrix along the width (row-major)
 * @returns `[N, outH, outW, C]`
 * @example
 * ```ts
 * const out = applySeparable(img, pilBicubicMatrix(480, 224), pilBicubicMatrix(640, 298));
 * ```
 */
export function applySeparable(images: tf.Tensor4D, rows: Float32Array, cols: Float32Array): tf.Tensor4D {
  const [n, h, w, c] = images.shape;
  if (rows.length % h !== 0 || cols.length % w !== 0) throw new ShapeMismatchError('images (NHWC)', [null, rows.length, cols.length, null], images.shape);
  const outH = rows.length / h;
  const outW = cols.length / w;
  return tf.tidy(() => {
    const rowsT = tf.transpose(tf.tensor2d(rows, [outH, h]));
    const colsT = tf.transpose(tf.tensor2d(cols, [outW, w]));
    // Height: [N, W, C, H] @ [H, outH]; width: [N, outH, C, W] @ [W, outW]; back to NHWC.
    const byH = tf.matMul(tf.reshape(tf.transpose(images, [0, 2, 3, 1]), [n * w * c, h]), rowsT);
    const hw = tf.transpose(tf.reshape(byH, [n, w, c, outH]), [0, 3, 2, 1]);
    const byW = tf.matMul(tf.reshape(hw, [n * outH * c, w]), colsT);
    return tf.transpose(tf.reshape(byW, [n, outH, c, outW]), [0, 1, 3, 2]) as tf.Tensor4D;
  });
}
