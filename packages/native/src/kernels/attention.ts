/**
 * The fused attention kernel `SemeditAttention` (the name semedit's core looks for): blocked multi-head attention
 * on the addon, reading heads in place from `[B, N, C]`. semedit's core registers its gradient.
 * @module
 */
import * as tf from '@tensorflow/tfjs-core';
import { nativeOf } from '../backend.js';
import { call, NativeKernelError } from '../errors.js';

/** The kernel names (`FUSED_ATTENTION` and `FUSED_ATTENTION_BIAS` in `@semedit/core`'s nn module). */
export const ATTENTION_KERNEL = 'SemeditAttention';
const ATTENTION_BIAS_KERNEL = 'SemeditAttentionBias';

const attention: tf.KernelFunc = (args) => {
  const b = nativeOf(args.backend);
  const { q, k, v, bias } = args.inputs as Record<string, tf.TensorInfo | undefined>;
  const { heads, scale } = args.attrs as unknown as { heads: number; scale: number };
  const [batch, nq, c] = q!.shape as [number, number, number];
  const nk = k!.shape[1]!;
  const bad = (what: string): never => {
    throw new NativeKernelError(ATTENTION_KERNEL, 'E_NATIVE_SHAPE', what);
  };
  if (q!.shape.length !== 3 || k!.shape.length !== 3 || v!.shape.length !== 3) bad('q, k and v must be [B, N, C]');
  if (k!.shape[0] !== batch || k!.shape[2] !== c || v!.shape[0] !== batch || v!.shape[1] !== nk || v!.shape[2] !== c) {
    bad(`k ${JSON.stringify(k!.shape)} and v ${JSON.stringify(v!.shape)} do not match q ${JSON.stringify(q!.shape)}`);
  }
  if (bias && (bias.shape.length !== 4 || (bias.shape[0] !== 1 && bias.shape[0] !== batch) || bias.shape[1] !== 1 || bias.shape[2] !== nq || bias.shape[3] !== nk)) {
    bad(`bias ${JSON.stringify(bias.shape)} is not [${batch} or 1, 1, ${nq}, ${nk}]`);
  }
  const y = new Float32Array(batch * nq * c);
  if (y.length > 0 && nk > 0) {
    call(ATTENTION_KERNEL, () => b.addon.attention(b.f32(q!), b.f32(k!), b.f32(v!), bias ? b.f32(bias) : null, bias ? bias.shape[0]! : 0,
      batch, nq, nk, c, heads, scale, y));
  }
  return b.out([batch, nq, c], y);
};

/** The attention kernels the addon runs. */
export const ATTENTION_KERNELS: tf.KernelConfig[] = [
  { kernelName: ATTENTION_KERNEL, backendName: 'native', kernelFunc: attention },
  { kernelName: ATTENTION_BIAS_KERNEL, backendName: 'native', kernelFunc: attention },
];
