/**
 * `torch.quantile(x, q, dim, interpolation='linear')` over any set of axes, reproduced exactly in float32
 * (tf.js has no quantile). SEGA thresholds each latent channel of each sample at the λ-quantile of |ψ| with it.
 *
 * torch's definition (ATen `quantile_impl`, `lerp`), for one row of N sorted values `v₀ ≤ … ≤ v_{N−1}`:
 * 1. `rank = f32(q) · (N − 1)` in float32; `lo = ⌊rank⌋`, `hi = ⌈rank⌉`, `w = rank − lo`;
 * 2. `lerp(v_lo, v_hi, w) = v_lo + w (v_hi − v_lo)` when `|w| < 0.5`, else `v_hi − (v_hi − v_lo)(1 − w)`.
 * @module
 */
import * as tf from '@tensorflow/tfjs-core';
import { OptionError } from '@semedit/core';

/** Where the two order statistics of a linear quantile sit and how they mix. */
export interface QuantileRank {
  /** Ascending index of the lower order statistic. */
  lo: number;
  /** Ascending index of the upper order statistic (`lo` or `lo + 1`). */
  hi: number;
  /** Interpolation weight in [0, 1), a float32 value. */
  weight: number;
}

/**
 * The float32 rank arithmetic of torch's linear quantile for `n` values at level `q`.
 *
 * @param n number of values in the row (≥ 1)
 * @param q quantile level in [0, 1]
 * @example
 * ```ts
 * quantileRank(1024, 0.9); // { lo: 920, hi: 921, weight: 0.6999511718... } (float32 rank 920.69995)
 * ```
 */
export function quantileRank(n: number, q: number): QuantileRank {
  if (!Number.isInteger(n) || n < 1) throw new OptionError('quantile', `needs at least one value per row, got ${n}`);
  if (!(q >= 0 && q <= 1)) throw new OptionError('quantile', `level must be in [0, 1], got ${q}`);
  const rank = Math.fround(Math.fround(q) * (n - 1));
  const lo = Math.floor(rank);
  return { lo, hi: Math.ceil(rank), weight: Math.fround(rank - lo) };
}

/**
 * torch's float32 `lerp(a, b, w)` on plain numbers (the two-sided form that is exact at both ends).
 *
 * @example
 * ```ts
 * lerpF32(1, 3, 0.25); // 1.5
 * ```
 */
export function lerpF32(a: number, b: number, w: number): number {
  const f = Math.fround;
  const d = f(f(b) - f(a));
  return Math.abs(w) < 0.5 ? f(f(a) + f(f(w) * d)) : f(f(b) - f(d * f(1 - w)));
}

function normAxes(axes: number | readonly number[] | undefined, rank: number): number[] {
  const list = axes === undefined ? Array.from({ length: rank }, (_, i) => i) : typeof axes === 'number' ? [axes] : [...axes];
  const out = list.map((a) => {
    if (!Number.isInteger(a) || a < -rank || a >= rank) throw new OptionError('quantile.axes', `axis ${a} is out of range for a rank-${rank} tensor`);
    return a < 0 ? a + rank : a;
  });
  if (new Set(out).size !== out.length) throw new OptionError('quantile.axes', `repeats an axis: [${list}]`);
  return out.sort((a, b) => a - b);
}

/**
 * The linear-interpolation quantile of `x` over `axes` (all axes by default), exactly as torch computes it in
 * float32. Values must be finite (torch returns NaN for a row holding NaN; here the result is then unspecified).
 *
 * @param x        any float32 tensor, e.g. |ψ| `[B, H, W, C]`
 * @param q        quantile level in [0, 1]
 * @param axes     the reduced axes (several are flattened together, as `flatten(start_dim=…)` does)
 * @param keepDims keep the reduced axes with size 1 (default false)
 * @returns the quantiles, shape of `x` without (or with size-1) `axes`; SEGA: `[B, C]` or `[B, 1, 1, C]`
 * @example
 * ```ts
 * const q = quantile(tf.tensor2d([[1, 2, 3, 4]]), 0.5, 1); // [[2.5]]
 * const perChannel = quantile(tf.abs(psi), 0.9, [1, 2], true); // [B, 1, 1, C]
 * ```
 */
export function quantile(x: tf.Tensor, q: number, axes?: number | readonly number[], keepDims = false): tf.Tensor {
  const reduced = normAxes(axes, x.rank);
  const kept = Array.from({ length: x.rank }, (_, i) => i).filter((i) => !reduced.includes(i));
  const n = reduced.reduce((a, i) => a * x.shape[i]!, 1);
  const { lo, hi, weight } = quantileRank(n, q);
  return tf.tidy(() => {
    // [rows, N]: kept axes first (row-major), reduced axes flattened last.
    const rows = kept.reduce((a, i) => a * x.shape[i]!, 1);
    const flat = tf.reshape(tf.transpose(x, [...kept, ...reduced]), [rows, n]);
    // Descending top-k: ascending index j sits at column n − 1 − j; k = n − lo covers both lo and hi.
    const { values } = tf.topk(flat, n - lo, true);
    const vLo = tf.slice(values, [0, n - 1 - lo], [rows, 1]);
    const vHi = tf.slice(values, [0, n - 1 - hi], [rows, 1]);
    const d = tf.sub(vHi, vLo);
    const r = weight < 0.5 ? tf.add(vLo, tf.mul(d, weight)) : tf.sub(vHi, tf.mul(d, Math.fround(1 - weight)));
    const outShape = keepDims ? x.shape.map((s, i) => (reduced.includes(i) ? 1 : s)) : kept.map((i) => x.shape[i]!);
    return tf.reshape(r, outShape);
  });
}
