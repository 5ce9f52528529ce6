/**
 * StyleGAN2's per-layer epilogue as one kernel, {@link FUSED_BIAS_ACT}, that a backend may provide (semedit's `native`
 * engine does): `clamp(leakyRelu(x · scale + noise + bias, alpha) · gain)` over `[B, H, W, C]`, each part optional.
 * {@link biasAct} runs it when the backend has it, and otherwise the same ordinary ops in the same order (so other
 * backends compute exactly what they did before); the gradient, registered here, is written with ordinary ops.
 * @module
 */
import * as tf from '@tensorflow/tfjs-core';
import { backendHasKernels, runFused } from './fused.js';

/**
 * The kernel name a backend registers the fused epilogue under.
 *
 * @example
 * ```ts
 * tf.getKernel(FUSED_BIAS_ACT, 'native') !== undefined; // true
 * ```
 */
export const FUSED_BIAS_ACT = 'SemeditBiasAct';

/**
 * The kernel name a backend may register the epilogue's gradient under: inputs `dy`, `x`, `scale`, `noise`, `bias`
 * (absent parts empty), the same attributes and `wrt`, the input whose gradient it returns. Where it is missing, the
 * gradient is computed with ordinary ops.
 *
 * @example
 * ```ts
 * tf.getKernel(FUSED_BIAS_ACT_GRAD, 'native') !== undefined; // true
 * ```
 */
export const FUSED_BIAS_ACT_GRAD = 'SemeditBiasActGrad';

/**
 * The parts of {@link biasAct}; every one is optional.
 *
 * @example
 * ```ts
 * const o: BiasActOptions = { scale: demod, noise, bias, alpha: 0.2, gain: Math.SQRT2, clamp: 256 };
 * ```
 */
export interface BiasActOptions {
  /** `[B, C]`: a per-sample, per-channel factor (StyleGAN2's demodulation). */
  scale?: tf.Tensor2D;
  /** `[1 | B, H, W, 1]`: added to every channel. */
  noise?: tf.Tensor4D;
  /** `[C]`. */
  bias?: tf.Tensor1D;
  /** Leaky ReLU slope (default 1: no activation). */
  alpha?: number;
  /** Factor after the activation (default 1). */
  gain?: number;
  /** Clamp the result to [-clamp, clamp] (default: none). */
  clamp?: number | null;
}

interface Attrs {
  alpha: number;
  gain: number;
  clamp: number | null;
}

/**
 * `clamp(leakyRelu(x · scale + noise + bias, alpha) · gain)`, fused on backends that have {@link FUSED_BIAS_ACT}.
 *
 * @param x `[B, H, W, C]`
 * @param opts scale, noise, bias, alpha, gain, clamp
 * @example
 * ```ts
 * const y = biasAct(conv, { scale: demod, noise, bias, alpha: 0.2, gain: Math.SQRT2, clamp: null });
 * ```
 */
export function biasAct(x: tf.Tensor4D, opts: BiasActOptions): tf.Tensor4D {
  const attrs: Attrs = { alpha: opts.alpha ?? 1, gain: opts.gain ?? 1, clamp: opts.clamp ?? null };
  if (backendHasKernels(FUSED_BIAS_ACT) && x.dtype === 'float32') {
    // Absent parts are passed as empty tensors: the kernel always has the same four inputs (tfjs saves a fixed list).
    return tf.tidy(() => {
      const part = (t: tf.Tensor | undefined): tf.Tensor => t ?? tf.zeros([0]);
      const inputs = { x, scale: part(opts.scale), noise: part(opts.noise), bias: part(opts.bias) };
      return runFused({ kernelName: FUSED_BIAS_ACT, inputsToSave: ['x', 'scale', 'noise', 'bias'], gradFunc: biasActGrad }, inputs, attrs) as tf.Tensor4D;
    });
  }
  return tf.tidy(() => {
    const [b, , , c] = x.shape;
    let y: tf.Tensor4D = x;
    if (opts.scale) y = tf.mul(y, tf.reshape(opts.scale, [b, 1, 1, c]));
    if (opts.noise) y = tf.add(y, opts.noise);
    if (opts.bias) y = tf.add(y, opts.bias);
    if (attrs.alpha !== 1) y = tf.leakyRelu(y, attrs.alpha);
    if (attrs.gain !== 1) y = tf.mul(y, attrs.gain);
    return attrs.clamp === null ? y : tf.clipByValue(y, -attrs.clamp, attrs.clamp);
  });
}

/**
 * Gradients of the fused epilogue, recomputing its pre-activation from the saved inputs: where the backend has
 * {@link FUSED_BIAS_ACT_GRAD}, one pass per input on the gradient's path (tfjs asks for each in a scope of its own,
 * so one call cannot hand out several); ordinary ops elsewhere.
 */
function biasActGrad(dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[], attrs: tf.NamedAttrMap): Record<string, () => tf.Tensor> {
  if (backendHasKernels(FUSED_BIAS_ACT_GRAD)) {
    const [x, scale, noise, bias] = saved as [tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor];
    const inputs = { dy: dy as tf.Tensor, x, scale, noise, bias };
    const grad = (wrt: string) => (): tf.Tensor => tf.engine().runKernel(FUSED_BIAS_ACT_GRAD, inputs, { ...attrs, wrt }) as tf.Tensor;
    const empty = (): tf.Tensor => tf.zeros([0]);
    return { x: grad('x'), scale: scale.size > 0 ? grad('scale') : empty, noise: noise.size > 0 ? grad('noise') : empty, bias: bias.size > 0 ? grad('bias') : empty };
  }
  return biasActGradOps(dy, saved, attrs);
}

/** The gradients with ordinary ops. */
function biasActGradOps(dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[], attrs: tf.NamedAttrMap): Record<string, () => tf.Tensor> {
  const [x, ...parts] = saved as [tf.Tensor4D, tf.Tensor, tf.Tensor, tf.Tensor];
  const [scale, noise, bias] = parts.map((t) => (t.size > 0 ? t : undefined)) as [tf.Tensor2D | undefined, tf.Tensor4D | undefined, tf.Tensor1D | undefined];
  const { alpha, gain, clamp } = attrs as unknown as Attrs;
  const [b, , , c] = x.shape;
  const s = scale ? tf.reshape(scale, [b, 1, 1, c]) : undefined;
  let z: tf.Tensor = s ? tf.mul(x, s) : x;
  if (noise) z = tf.add(z, noise);
  if (bias) z = tf.add(z, bias);
  let d = dy as tf.Tensor;
  if (clamp !== null) {
    const o = tf.mul(tf.where(tf.greater(z, 0), z, tf.mul(z, alpha)), gain);
    d = tf.where(tf.logicalAnd(tf.greaterEqual(o, -clamp), tf.lessEqual(o, clamp)), d, tf.zerosLike(d));
  }
  const dz = tf.mul(tf.where(tf.greater(z, 0), d, tf.mul(d, alpha)), gain);
  const empty = (): tf.Tensor => tf.zeros([0]);
  return {
    x: () => (s ? tf.mul(dz, s) : dz),
    scale: scale ? () => tf.reshape(tf.sum(tf.mul(dz, x), [1, 2]), [b, c]) : empty,
    noise: noise ? () => (noise.shape[0] === b ? tf.sum(dz, 3, true) : tf.sum(dz, [0, 3], true)) : empty,
    bias: bias ? () => tf.sum(dz, [0, 1, 2]) : empty,
  };
}
