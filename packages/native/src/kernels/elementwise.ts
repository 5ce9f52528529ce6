/**
 * Element-wise kernels on the addon: binary operations with broadcasting (float32 arithmetic, float32 comparisons
 * giving bool, bool logical ops; other dtypes go to tfjs-backend-cpu), Select, unary functions through oneDNN's
 * eltwise primitive, Softmax over the last axis, Transpose, Cast.
 * @module
 */
import * as tf from '@tensorflow/tfjs-core';
import { nativeKernel } from '../backend.js';
import { call } from '../errors.js';

/** Binary op codes of the addon (`BinaryOp` in src/addon/eltwise.cc): float32 in and out. */
const BINARY: [string, number][] = [
  [tf.Add, 0], [tf.Sub, 1], [tf.Multiply, 2], [tf.RealDiv, 3], [tf.Maximum, 4], [tf.Minimum, 5], [tf.SquaredDifference, 6], [tf.Pow, 7],
];
/** Comparisons (float32 in, bool out) and logical ops (bool in and out), in the same code space. */
const COMPARE: [string, number][] = [[tf.Greater, 8], [tf.GreaterEqual, 9], [tf.Less, 10], [tf.LessEqual, 11], [tf.Equal, 12], [tf.NotEqual, 13]];
const LOGICAL: [string, number][] = [[tf.LogicalAnd, 14], [tf.LogicalOr, 15]];

function binary(name: string, op: number, inType: 'float32' | 'bool', outType: 'float32' | 'bool'): tf.KernelConfig {
  return nativeKernel(name, (b, { inputs }, cpu) => {
    const { a, b: bt } = inputs as Record<string, tf.TensorInfo>;
    if (a!.dtype !== inType || bt!.dtype !== inType) return cpu();
    const outShape = tf.backend_util.assertAndGetBroadcastShape(a!.shape, bt!.shape);
    const rank = Math.max(outShape.length, 1);
    const pad = (s: readonly number[]): number[] => [...new Array<number>(rank - s.length).fill(1), ...s];
    const n = tf.util.sizeFromShape(outShape);
    const y = outType === 'bool' ? new Uint8Array(n) : new Float32Array(n);
    const read = (t: tf.TensorInfo): Float32Array | Uint8Array => (inType === 'bool' ? b.u8(t) : b.f32(t));
    if (n > 0) call(name, () => b.addon.binary(op, read(a!), pad(a!.shape), read(bt!), pad(bt!.shape), y, pad(outShape)));
    return outType === 'bool' ? b.makeTensorInfo(outShape, 'bool', y) : b.out(outShape, y as Float32Array);
  });
}

/**
 * Select(condition, t, e) for float32 t and e and a condition of their shape (tf.where broadcasts its operands
 * first); other conditions go to tfjs-backend-cpu.
 */
const select = nativeKernel(tf.Select, (b, { inputs }, cpu) => {
  const { condition, t, e } = inputs as Record<string, tf.TensorInfo>;
  if (t!.dtype !== 'float32' || e!.dtype !== 'float32' || condition!.dtype !== 'bool' || !tf.util.arraysEqual(condition!.shape, t!.shape) ||
    !tf.util.arraysEqual(e!.shape, t!.shape)) return cpu();
  const y = new Float32Array(tf.util.sizeFromShape(t!.shape));
  if (y.length > 0) call(tf.Select, () => b.addon.select(b.u8(condition!), b.f32(t!), b.f32(e!), y));
  return b.out(t!.shape, y);
});

/** The addon's unary codes (`UNARY_ALGS` in src/addon/eltwise.cc, oneDNN eltwise algorithms); -1 is erf. */
const ALG = { relu: 0, tanh: 1, elu: 2, square: 3, abs: 4, sqrt: 5, linear: 6, softRelu: 7, logistic: 8, exp: 9, log: 10, clip: 11, pow: 12, geluErf: 13, erf: -1 } as const;

/** tfjs kernel → oneDNN algorithm, alpha, beta (from the attributes where the kernel has some). */
const UNARY: [string, number, (attrs: Record<string, unknown>) => [number, number]][] = [
  [tf.Relu, ALG.relu, () => [0, 0]],
  [tf.LeakyRelu, ALG.relu, (a) => [Number(a['alpha'] ?? 0.2), 0]],
  [tf.Relu6, ALG.clip, () => [0, 6]],
  [tf.Elu, ALG.elu, () => [1, 0]],
  [tf.Tanh, ALG.tanh, () => [0, 0]],
  [tf.Sigmoid, ALG.logistic, () => [0, 0]],
  [tf.Exp, ALG.exp, () => [0, 0]],
  [tf.Log, ALG.log, () => [0, 0]],
  [tf.Sqrt, ALG.sqrt, () => [0, 0]],
  [tf.Rsqrt, ALG.pow, () => [1, -0.5]],
  [tf.Reciprocal, ALG.pow, () => [1, -1]],
  [tf.Square, ALG.square, () => [0, 0]],
  [tf.Abs, ALG.abs, () => [0, 0]],
  [tf.Neg, ALG.linear, () => [-1, 0]],
  [tf.Softplus, ALG.softRelu, () => [0, 0]],
  [tf.ClipByValue, ALG.clip, (a) => [Number(a['clipValueMin']), Number(a['clipValueMax'])]],
  [tf.Erf, ALG.erf, () => [0, 0]],
  // semedit's own: the exact (erf) GELU, x · Φ(x), in one pass (`FUSED_GELU` in @semedit/core's nn module).
  ['SemeditGelu', ALG.geluErf, () => [0, 0]],
];

function unary(name: string, alg: number, params: (attrs: Record<string, unknown>) => [number, number]): tf.KernelConfig {
  return nativeKernel(name, (b, { inputs, attrs }, cpu) => {
    const x = inputs['x']!;
    if (x.dtype !== 'float32') return cpu();
    const [alpha, beta] = params(attrs);
    const y = new Float32Array(tf.util.sizeFromShape(x.shape));
    if (y.length > 0) call(name, () => b.addon.unary(alg, alpha, beta, b.f32(x), y));
    return b.out(x.shape, y);
  });
}

const softmax = nativeKernel(tf.Softmax, (b, { inputs, attrs }, cpu) => {
  const logits = inputs['logits']!;
  const dim = Number(attrs['dim'] ?? -1);
  const r = logits.shape.length;
  if (logits.dtype !== 'float32' || r === 0 || (dim !== -1 && dim !== r - 1)) return cpu();
  const cols = logits.shape[r - 1]!, y = new Float32Array(tf.util.sizeFromShape(logits.shape));
  if (y.length > 0) call(tf.Softmax, () => b.addon.softmax(b.f32(logits), y.length / cols, cols, y));
  return b.out(logits.shape, y);
});

const transpose = nativeKernel(tf.Transpose, (b, { inputs, attrs }, cpu) => {
  const x = inputs['x']!;
  const perm = attrs['perm'] as number[];
  if (x.dtype !== 'float32' || x.shape.length === 0) return cpu();
  const outShape = perm.map((p) => x.shape[p]!);
  const y = new Float32Array(tf.util.sizeFromShape(x.shape));
  if (y.length > 0) call(tf.Transpose, () => b.addon.transpose(b.f32(x), x.shape, perm, y));
  return b.out(outShape, y);
});

/** Cast with float32 results always held as Float32Array (tfjs-backend-cpu's shares an int32 tensor's data). */
const cast = nativeKernel(tf.Cast, (b, { inputs, attrs }, cpu) => {
  const x = inputs['x']!;
  if (attrs['dtype'] !== 'float32' || x.dtype === 'float32' || x.dtype === 'complex64' || x.dtype === 'string') return cpu();
  return b.out(x.shape, b.f32(x).slice());
});

/** The element-wise kernels the addon runs. */
export const ELEMENTWISE_KERNELS: tf.KernelConfig[] = [
  ...BINARY.map(([n, op]) => binary(n, op, 'float32', 'float32')),
  ...COMPARE.map(([n, op]) => binary(n, op, 'float32', 'bool')),
  ...LOGICAL.map(([n, op]) => binary(n, op, 'bool', 'bool')),
  select,
  ...UNARY.map(([n, alg, p]) => unary(n, alg, p)),
  softmax,
  transpose,
  cast,
];
