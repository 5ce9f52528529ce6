/**
 * The fused normalization kernel: a tfjs kernel named {@link FUSED_NORM} that a backend may provide (semedit's
 * `native` engine does): group normalization of `[B, ..., C]` (statistics per batch row and group, over every
 * position and the group's channels) or, with `rows`, layer normalization over the last axis; the affine transform
 * and an optional SiLU in the same pass. {@link groupNorm} and {@link layerNorm} use it when the backend has it; its
 * gradient, registered here, is written with ordinary ops.
 * @module
 */
import * as tf from '@tensorflow/tfjs-core';
import { backendHasKernels, runFused } from './fused.js';

/**
 * The kernel name a backend registers its fused normalization under.
 *
 * @example
 * ```ts
 * tf.getKernel(FUSED_NORM, 'native') !== undefined; // true
 * ```
 */
export const FUSED_NORM = 'SemeditGroupNorm';

/** Attributes of {@link FUSED_NORM}. */
interface NormAttrs {
  groups: number;
  eps: number;
  silu: boolean;
  rows: boolean;
}

/**
 * Whether the active backend provides {@link FUSED_NORM}.
 *
 * @example
 * ```ts
 * hasFusedNorm(); // true on native
 * ```
 */
export function hasFusedNorm(): boolean {
  return backendHasKernels(FUSED_NORM);
}

/**
 * Runs the backend's fused normalization.
 *
 * @param x `[B, ..., C]`
 * @param gamma, beta `[C]`
 * @param attrs `groups` (ignored with `rows`), `eps`, `silu` (apply x·sigmoid(x) after the affine transform),
 *   `rows` (layer normalization: each position alone, one group)
 * @example
 * ```ts
 * fusedNorm(x, gamma, beta, { groups: 32, eps: 1e-5, silu: true, rows: false }); // GroupNorm + SiLU
 * ```
 */
export function fusedNorm<T extends tf.Tensor>(x: T, gamma: tf.Tensor1D, beta: tf.Tensor1D, attrs: NormAttrs): T {
  return runFused({ kernelName: FUSED_NORM, inputsToSave: ['x', 'gamma', 'beta'], gradFunc: normGrad }, { x, gamma, beta }, attrs) as T;
}

/**
 * Name of the normalization's gradient kernel: inputs `dy`, `x`, `gamma`, `beta`, the forward's attributes and
 * `wrt` (`x`, `gamma` or `beta`), the one gradient it returns. Where it is missing, the gradient runs as ops.
 *
 * @example
 * ```ts
 * tf.getKernel(FUSED_NORM_GRAD, 'native') !== undefined; // true
 * ```
 */
export const FUSED_NORM_GRAD = 'SemeditGroupNormGrad';

/** The normalization's gradients: one native pass per input on the gradient's path, or ops. */
function normGrad(dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[], attrs: tf.NamedAttrMap): Record<string, () => tf.Tensor> {
  if (!backendHasKernels(FUSED_NORM_GRAD)) return normGradOps(dy, saved, attrs);
  const [x, gamma, beta] = saved as [tf.Tensor, tf.Tensor1D, tf.Tensor1D];
  const inputs = { dy: dy as tf.Tensor, x, gamma, beta };
  const grad = (wrt: string) => (): tf.Tensor => tf.engine().runKernel(FUSED_NORM_GRAD, inputs, { ...attrs, wrt }) as tf.Tensor;
  return { x: grad('x'), gamma: grad('gamma'), beta: grad('beta') };
}

/** d/dx, d/dgamma, d/dbeta of the normalization (and SiLU) as ops, from the saved inputs. */
function normGradOps(dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[], attrs: tf.NamedAttrMap): Record<string, () => tf.Tensor> {
  const [x, gamma, beta] = saved as [tf.Tensor, tf.Tensor1D, tf.Tensor1D];
  const { groups, eps, silu, rows } = attrs as unknown as NormAttrs;
  const c = x.shape[x.rank - 1]!;
  const size = x.size;
  const b = rows ? size / c : x.shape[0]!;
  const g = rows ? 1 : groups;
  const view = [b, rows ? 1 : size / (b * c || 1), g, c / g];
  const xs = tf.reshape(x, view);
  const { mean, variance } = tf.moments(xs, [1, 3], true);
  const rstd = tf.rsqrt(tf.add(variance, eps));
  const xhat = tf.mul(tf.sub(xs, mean), rstd);
  const gm = tf.reshape(gamma, [1, 1, g, c / g]);
  let d = tf.reshape(dy as tf.Tensor, view);
  if (silu) {
    const y = tf.add(tf.mul(xhat, gm), tf.reshape(beta, [1, 1, g, c / g]));
    const s = tf.sigmoid(y);
    d = tf.mul(d, tf.mul(s, tf.add(1, tf.mul(y, tf.sub(1, s)))));
  }
  const dxhat = tf.mul(d, gm);
  return {
    x: () => tf.reshape(tf.mul(rstd, tf.sub(tf.sub(dxhat, tf.mean(dxhat, [1, 3], true)), tf.mul(xhat, tf.mean(tf.mul(dxhat, xhat), [1, 3], true)))), x.shape),
    gamma: () => tf.reshape(tf.sum(tf.mul(d, xhat), [0, 1]), [c]),
    beta: () => tf.reshape(tf.sum(d, [0, 1]), [c]),
  };
}
