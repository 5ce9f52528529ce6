/**
 * The fused attention kernel: a tfjs kernel named {@link FUSED_ATTENTION} that a backend may provide (semedit's
 * `native` engine does: a blocked kernel that never holds more than one block of scores). Inputs `q` `[B, Nq, C]`,
 * `k` and `v` `[B, Nk, C]`, optional `bias` `[B or 1, 1, Nq, Nk]`; attributes `heads` and `scale`; output
 * `[B, Nq, C]`. {@link scaledDotProductAttention} uses it when no hook watches the probabilities; its gradient,
 * registered here, recomputes the probabilities with ordinary ops.
 * @module
 */
import * as tf from '@tensorflow/tfjs-core';
import { backendHasKernels, runFused } from './fused.js';

/**
 * The kernel name a backend registers its fused attention under.
 *
 * @example
 * ```ts
 * tf.getKernel(FUSED_ATTENTION, tf.getBackend()) !== undefined; // true on native
 * ```
 */
export const FUSED_ATTENTION = 'SemeditAttention';

/**
 * The same kernel with the additive `bias` input (a separate name: tfjs saves a kernel's inputs for its gradient by
 * a fixed list of names).
 *
 * @example
 * ```ts
 * tf.getKernel(FUSED_ATTENTION_BIAS, 'native') !== undefined; // true
 * ```
 */
export const FUSED_ATTENTION_BIAS = 'SemeditAttentionBias';

/**
 * Whether the active backend provides {@link FUSED_ATTENTION} (and `SEMEDIT_FUSED_ATTENTION` is not `0`, which
 * turns it off: every layer then runs the chunked path that hooks use).
 *
 * @example
 * ```ts
 * if (hasFusedAttention()) console.log('blocked attention kernel');
 * ```
 */
export function hasFusedAttention(): boolean {
  if (process.env['SEMEDIT_FUSED_ATTENTION'] === '0') return false;
  return backendHasKernels(FUSED_ATTENTION, FUSED_ATTENTION_BIAS);
}

/**
 * Runs the backend's fused attention `softmax(q kᵀ · scale + bias) v` per head.
 *
 * @param q `[B, Nq, C]`; `k`, `v`: `[B, Nk, C]`
 * @param opts heads, scale, additive bias `[B or 1, 1, Nq, Nk]`
 * @example
 * ```ts
 * const out = fusedAttention(q, k, v, { heads: 8, scale: 1 / Math.sqrt(40) }); // [2, 4096, 320]
 * ```
 */
export function fusedAttention(q: tf.Tensor3D, k: tf.Tensor3D, v: tf.Tensor3D, opts: { heads: number; scale: number; bias?: tf.Tensor4D }): tf.Tensor3D {
  const attrs = { heads: opts.heads, scale: opts.scale };
  if (opts.bias) {
    return runFused({ kernelName: FUSED_ATTENTION_BIAS, inputsToSave: ['q', 'k', 'v', 'bias'], gradFunc: attentionGrad }, { q, k, v, bias: opts.bias }, attrs) as tf.Tensor3D;
  }
  return runFused({ kernelName: FUSED_ATTENTION, inputsToSave: ['q', 'k', 'v'], gradFunc: attentionGrad }, { q, k, v }, attrs) as tf.Tensor3D;
}

/** Splits `[B, N, C]` into heads `[B, h, N, d]`. */
const split = (x: tf.Tensor, h: number): tf.Tensor4D => {
  const [b, n, c] = x.shape as [number, number, number];
  return tf.transpose(tf.reshape(x, [b, n, h, c / h]), [0, 2, 1, 3]) as tf.Tensor4D;
};
/** Merges heads `[B, h, N, d]` back into `[B, N, C]`. */
const merge = (x: tf.Tensor): tf.Tensor3D => {
  const [b, h, n, d] = x.shape as [number, number, number, number];
  return tf.reshape(tf.transpose(x, [0, 2, 1, 3]), [b, n, h * d]) as tf.Tensor3D;
};

/** Recomputes the probabilities with ordinary ops and returns d/dq, d/dk, d/dv (and d/dbias). */
function attentionGrad(dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[], attrs: tf.NamedAttrMap): Record<string, () => tf.Tensor> {
  const [q, k, v, bias] = saved as [tf.Tensor3D, tf.Tensor3D, tf.Tensor3D, tf.Tensor4D | undefined];
  const { heads, scale } = attrs as unknown as { heads: number; scale: number };
  const qh = split(q, heads), kh = split(k, heads), vh = split(v, heads), dyh = split(dy as tf.Tensor, heads);
  const logits = tf.mul(tf.matMul(qh, kh, false, true), scale);
  const p = tf.softmax(bias ? tf.add(logits, bias) : logits);
  const dp = tf.matMul(dyh, vh, false, true);
  const ds = tf.mul(p, tf.sub(dp, tf.sum(tf.mul(dp, p), -1, true)));
  const grads: Record<string, () => tf.Tensor> = {
    q: () => merge(tf.mul(tf.matMul(ds, kh), scale)),
    k: () => merge(tf.mul(tf.matMul(ds, qh, true, false), scale)),
    v: () => merge(tf.matMul(p, dyh, true, false)),
  };
  if (bias) grads['bias'] = () => tf.sum(ds, bias.shape[0] === 1 ? [0, 1] : [1], true);
  return grads;
}
