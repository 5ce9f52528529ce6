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

/** The normalization kernels the addon runs. */
export const NORM_KERNELS: tf.KernelConfig[] = [{ kernelName: NORM_KERNEL, backendName: 'native', kernelFunc: norm }];

