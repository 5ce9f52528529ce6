/**
 * The fused normalization kernel `SemeditGroupNorm` (the name semedit's core looks for): group normalization of
 * `[B, ..., C]` over the positions and each group's channels, or layer normalization (`rows`: every position of
 * every row alone, one group), with the affine transform and an optional SiLU. semedit's core registers its
 * gradient.
 * @module
 */
import * as tf from '@tensorflow/tfjs-core';
import { nativeOf } from '../backend.js';
import { call, NativeKernelError } from '../errors.js';

/** The kernel name (`FUSED_NORM` in `@semedit/core`'s nn module). */
export const NORM_KERNEL = 'SemeditGroupNorm';

const norm: tf.KernelFunc = (args) => {
  const b = nativeOf(args.backend);
  const { x, gamma, beta } = args.inputs as Record<string, tf.TensorInfo>;
  const { groups, eps, silu, rows } = args.attrs as unknown as { groups: number; eps: number; silu: boolean; rows: boolean };
  const shape = x!.shape;
  const c = shape[shape.length - 1]!;
  if (shape.length < 2 || gamma!.shape.join() !== String(c) || beta!.shape.join() !== String(c)) {
    throw new NativeKernelError(NORM_KERNEL, 'E_NATIVE_SHAPE', `x ${JSON.stringify(shape)} with gamma ${JSON.stringify(gamma!.shape)} and beta ${JSON.stringify(beta!.shape)}`);
  }
  const size = tf.util.sizeFromShape(shape);
  const batch = rows ? size / c : shape[0]!;
  const positions = rows ? 1 : size / (batch * c || 1);
  const y = new Float32Array(size);
  if (size > 0) call(NORM_KERNEL, () => b.addon.groupNorm(b.f32(x!), batch, positions, c, rows ? 1 : groups, b.f32(gamma!), b.f32(beta!), eps, silu, y));
  return b.out(shape, y);
};

/** The kernel name of the normalization's gradient (`FUSED_NORM_GRAD` in `@semedit/core`'s nn module). */
export const NORM_GRAD_KERNEL = 'SemeditGroupNormGrad';

/** Inputs dy, x, gamma, beta; the forward's attributes and `wrt` (`x`, `gamma` or `beta`), the gradient returned. */
const normGrad: tf.KernelFunc = (args) => {
  const b = nativeOf(args.backend);
  const { dy, x, gamma, beta } = args.inputs as Record<string, tf.TensorInfo>;
  const { groups, eps, silu, rows, wrt } = args.attrs as unknown as { groups: number; eps: number; silu: boolean; rows: boolean; wrt: 'x' | 'gamma' | 'beta' };
  const shape = x!.shape;
  const c = shape[shape.length - 1]!;
  if (shape.length < 2 || gamma!.shape.join() !== String(c) || beta!.shape.join() !== String(c) || !tf.util.arraysEqual(dy!.shape, shape)) {
    throw new NativeKernelError(NORM_GRAD_KERNEL, 'E_NATIVE_SHAPE', `dy ${JSON.stringify(dy!.shape)}, x ${JSON.stringify(shape)}, gamma ${JSON.stringify(gamma!.shape)}, beta ${JSON.stringify(beta!.shape)}`);
  }
  if (wrt !== 'x' && wrt !== 'gamma' && wrt !== 'beta') throw new NativeKernelError(NORM_GRAD_KERNEL, 'E_NATIVE_ARG', `no gradient for '${String(wrt)}'`);
  const size = tf.util.sizeFromShape(shape);
  const batch = rows ? size / c : shape[0]!;
  const positions = rows ? 1 : size / (batch * c || 1);
  const out = new Float32Array(wrt === 'x' ? size : c);
  const pick = (name: string): Float32Array | null => (wrt === name ? out : null);
  if (size > 0) {
    call(NORM_GRAD_KERNEL, () => b.addon.groupNormGrad(b.f32(dy!), b.f32(x!), batch, positions, c, rows ? 1 : groups, b.f32(gamma!), b.f32(beta!), eps, silu,
      pick('x'), pick('gamma'), pick('beta')));
  }
  return b.out(wrt === 'x' ? shape : [c], out);
};

/** The kernel name of StyleGAN2's fused epilogue (`FUSED_BIAS_ACT` in `@semedit/core`'s nn module). */
export const BIAS_ACT_KERNEL = 'SemeditBiasAct';

/**
 * The inputs of the epilogue and its gradient, checked: x [B, H, W, C]; scale [B, C], noise [1 | B, H, W, 1] and
 * bias [C], each undefined when absent (empty).
 */
function biasActParts(kernel: string, inputs: tf.NamedTensorInfoMap) {
  const given = inputs as Record<string, tf.TensorInfo | undefined>;
  const part = (t: tf.TensorInfo | undefined): tf.TensorInfo | undefined => (t && tf.util.sizeFromShape(t.shape) > 0 ? t : undefined);
  const x = given['x']!, scale = part(given['scale']), noise = part(given['noise']), bias = part(given['bias']);
  const [batch, h, w, c] = x.shape as [number, number, number, number];
  const bad = (what: string): never => {
    throw new NativeKernelError(kernel, 'E_NATIVE_SHAPE', what);
  };
  if (x.shape.length !== 4) bad(`x ${JSON.stringify(x.shape)} is not [B, H, W, C]`);
  if (scale && !tf.util.arraysEqual(scale.shape, [batch, c])) bad(`scale ${JSON.stringify(scale.shape)} is not [${batch}, ${c}]`);
  if (bias && !tf.util.arraysEqual(bias.shape, [c])) bad(`bias ${JSON.stringify(bias.shape)} is not [${c}]`);
  if (noise && (noise.shape.length !== 4 || (noise.shape[0] !== 1 && noise.shape[0] !== batch) || noise.shape[1] !== h || noise.shape[2] !== w || noise.shape[3] !== 1)) {
    bad(`noise ${JSON.stringify(noise.shape)} is not [1 or ${batch}, ${h}, ${w}, 1]`);
  }
  return { x, scale, noise, bias, batch, positions: h * w, c };
}

/** Attributes alpha, gain and clamp (null: none). */
type BiasActAttrs = { alpha: number; gain: number; clamp: number | null };

const biasAct: tf.KernelFunc = (args) => {
  const b = nativeOf(args.backend);
  const { x, scale, noise, bias, batch, positions, c } = biasActParts(BIAS_ACT_KERNEL, args.inputs);
  const { alpha, gain, clamp } = args.attrs as unknown as BiasActAttrs;
  const y = new Float32Array(tf.util.sizeFromShape(x.shape));
  if (y.length > 0) {
    call(BIAS_ACT_KERNEL, () => b.addon.biasAct(b.f32(x), batch, positions, c, scale ? b.f32(scale) : null, noise ? b.f32(noise) : null, noise ? noise.shape[0]! : 0,
      bias ? b.f32(bias) : null, alpha, gain, clamp ?? -1, y));
  }
  return b.out(x.shape, y);
};

/** The kernel name of the epilogue's gradient (`FUSED_BIAS_ACT_GRAD` in `@semedit/core`'s nn module). */
export const BIAS_ACT_GRAD_KERNEL = 'SemeditBiasActGrad';

/** Inputs dy and the epilogue's inputs; attribute `wrt` names the one input whose gradient is returned. */
const biasActGrad: tf.KernelFunc = (args) => {
  const b = nativeOf(args.backend);
  const { x, scale, noise, bias, batch, positions, c } = biasActParts(BIAS_ACT_GRAD_KERNEL, args.inputs);
  const dy = (args.inputs as Record<string, tf.TensorInfo>)['dy']!;
  if (!tf.util.arraysEqual(dy.shape, x.shape)) {
    throw new NativeKernelError(BIAS_ACT_GRAD_KERNEL, 'E_NATIVE_SHAPE', `dy ${JSON.stringify(dy.shape)} is not x's shape ${JSON.stringify(x.shape)}`);
  }
  const { alpha, gain, clamp, wrt } = args.attrs as unknown as BiasActAttrs & { wrt: 'x' | 'scale' | 'noise' | 'bias' };
  const target = { x, scale, noise, bias }[wrt];
  if (!target) throw new NativeKernelError(BIAS_ACT_GRAD_KERNEL, 'E_NATIVE_ARG', `no gradient for '${wrt}': the input is absent or unknown`);
  const out = new Float32Array(tf.util.sizeFromShape(target.shape));
  const pick = (name: string): Float32Array | null => (wrt === name ? out : null);
  if (tf.util.sizeFromShape(x.shape) > 0) {
    call(BIAS_ACT_GRAD_KERNEL, () => b.addon.biasActGrad(b.f32(dy), b.f32(x), batch, positions, c, scale ? b.f32(scale) : null, noise ? b.f32(noise) : null,
      noise ? noise.shape[0]! : 0, bias ? b.f32(bias) : null, alpha, gain, clamp ?? -1, pick('x'), pick('scale'), pick('noise'), pick('bias')));
  }
  return b.out(target.shape, out);
};

/** The normalization kernels the addon runs (and StyleGAN2's per-channel epilogue). */
export const NORM_KERNELS: tf.KernelConfig[] = [
  { kernelName: NORM_KERNEL, backendName: 'native', kernelFunc: norm },
  { kernelName: NORM_GRAD_KERNEL, backendName: 'native', kernelFunc: normGrad },
  { kernelName: BIAS_ACT_KERNEL, backendName: 'native', kernelFunc: biasAct },
  { kernelName: BIAS_ACT_GRAD_KERNEL, backendName: 'native', kernelFunc: biasActGrad },
];

