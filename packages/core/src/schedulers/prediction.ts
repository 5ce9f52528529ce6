/**
 * Converting a model output to the predicted clean sample x̂₀ and noise ε̂ in the variance-preserving
 * parameterization x_t = √ᾱ_t x₀ + √(1 − ᾱ_t) ε (DDPM eq. 4), for the three `prediction_type`s:
 *
 * - `epsilon` (DDIM eq. 12): x̂₀ = (x_t − √(1 − ᾱ_t) ε̂) / √ᾱ_t;
 * - `sample`: x̂₀ is the output, ε̂ = (x_t − √ᾱ_t x̂₀) / √(1 − ᾱ_t);
 * - `v_prediction` (Salimans & Ho 2022, arXiv:2202.00512, §4): v = √ᾱ_t ε − √(1 − ᾱ_t) x₀, so
 *   x̂₀ = √ᾱ_t x_t − √(1 − ᾱ_t) v and ε̂ = √ᾱ_t v + √(1 − ᾱ_t) x_t.
 *
 * Also x̂₀ clipping and dynamic thresholding (Saharia et al. 2022, Imagen, arXiv:2205.11487, §2.3). These are plain
 * tensor functions; callers run them inside their own `tf.tidy`.
 * @module
 */
import * as tf from '@tensorflow/tfjs-core';
import type { PredictionType } from './config.js';

/**
 * x̂₀ and ε̂ from a model output at a noise level ᾱ_t.
 *
 * @param modelOutput    the model output `[B, H, W, C]` (ε, v or x₀ per `predictionType`)
 * @param sample         x_t `[B, H, W, C]`
 * @param alphaProdT     ᾱ_t in (0, 1]
 * @param predictionType what the model predicts
 * @example
 * ```ts
 * const { x0, eps } = tf.tidy(() => predictX0AndEps(out, x, 0.5, 'epsilon'));
 * ```
 */
export function predictX0AndEps(
  modelOutput: tf.Tensor4D, sample: tf.Tensor4D, alphaProdT: number, predictionType: PredictionType,
): { x0: tf.Tensor4D; eps: tf.Tensor4D } {
  const sqrtA = Math.sqrt(alphaProdT);
  const sqrtB = Math.sqrt(1 - alphaProdT); // √β̄_t, β̄_t = 1 − ᾱ_t
  switch (predictionType) {
    case 'epsilon':
      return { x0: tf.div(tf.sub(sample, tf.mul(modelOutput, sqrtB)), sqrtA), eps: modelOutput };
    case 'sample':
      return { x0: modelOutput, eps: tf.div(tf.sub(sample, tf.mul(modelOutput, sqrtA)), sqrtB) };
    case 'v_prediction':
      return {
        x0: tf.sub(tf.mul(sample, sqrtA), tf.mul(modelOutput, sqrtB)),
        eps: tf.add(tf.mul(modelOutput, sqrtA), tf.mul(sample, sqrtB)),
      };
  }
}

/**
 * Dynamic thresholding: per batch row, s = clamp(quantile(|x̂₀|, ratio), 1, maxValue); x̂₀ ← clamp(x̂₀, −s, s) / s.
 * The quantile interpolates linearly between order statistics, as `torch.quantile`.
 *
 * @param x0       x̂₀ `[B, H, W, C]`
 * @param ratio    `dynamic_thresholding_ratio` in (0, 1]
 * @param maxValue `sample_max_value` (>= 1)
 * @example
 * ```ts
 * const t = tf.tidy(() => dynamicThreshold(x0, 0.995, 1.5));
 * ```
 */
export function dynamicThreshold(x0: tf.Tensor4D, ratio: number, maxValue: number): tf.Tensor4D {
  const [b] = x0.shape;
  const n = x0.size / b;
  const absRows = tf.abs(tf.reshape(x0, [b, n])) as tf.Tensor2D;
  // Order statistics around position ratio·(n − 1) of the ascending values: the k largest end at index lo.
  const pos = ratio * (n - 1);
  const lo = Math.floor(pos);
  const hi = Math.min(lo + 1, n - 1);
  const w = pos - lo;
  const { values } = tf.topk(absRows, n - lo); // descending; column n-1-lo is ascending index lo
  const vLo = tf.slice(values, [0, n - 1 - lo], [b, 1]);
  const vHi = hi === lo ? vLo : tf.slice(values, [0, n - 1 - hi], [b, 1]);
  const q = tf.add(vLo, tf.mul(tf.sub(vHi, vLo), w));
  const s = tf.reshape(tf.clipByValue(q, 1, maxValue), [b, 1, 1, 1]);
  return tf.div(tf.minimum(tf.maximum(x0, tf.neg(s)), s), s);
}

/**
 * Applies `thresholding` (dynamic) or `clip_sample` (to ±`clip_sample_range`) to x̂₀ as the config asks; returns
 * `x0` itself when neither is set.
 *
 * @param x0  x̂₀ `[B, H, W, C]`
 * @param cfg the relevant config fields
 * @example
 * ```ts
 * const x0c = tf.tidy(() => clipPredOriginal(x0, scheduler.config));
 * ```
 */
export function clipPredOriginal(
  x0: tf.Tensor4D,
  cfg: { thresholding: boolean; clipSample: boolean; clipSampleRange: number; dynamicThresholdingRatio: number; sampleMaxValue: number },
): tf.Tensor4D {
  if (cfg.thresholding) return dynamicThreshold(x0, cfg.dynamicThresholdingRatio, cfg.sampleMaxValue);
  if (cfg.clipSample) return tf.clipByValue(x0, -cfg.clipSampleRange, cfg.clipSampleRange);
  return x0;
}

/**
 * Per-row scale `[B, 1, 1, 1]` for `addNoise`-style broadcasting (or a scalar when all rows share it).
 *
 * @param values one value per batch row
 * @example
 * ```ts
 * const c = tf.tidy(() => tf.mul(x, rowScale([0.9, 0.5])));
 * ```
 */
export function rowScale(values: readonly number[]): tf.Tensor {
  return values.every((v) => v === values[0]) ? tf.scalar(values[0]!) : tf.tensor4d(values as number[], [values.length, 1, 1, 1]);
}
