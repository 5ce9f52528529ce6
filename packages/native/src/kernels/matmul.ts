/**
 * BatchMatMul and _FusedMatMul on oneDNN. Batch dimensions are flattened; they must be equal or one side's must
 * be all ones (otherwise, and for PReLU or int32, the tfjs-backend-cpu kernel runs).
 * @module
 */
import * as tf from '@tensorflow/tfjs-core';
import { nativeKernel } from '../backend.js';
import { call } from '../errors.js';
import { activationCode } from './activation.js';

interface MatMulAttrs {
  transposeA: boolean;
  transposeB: boolean;
  activation?: string;
  leakyreluAlpha?: number;
}

/** A bias broadcast to [batch, m, n], as a rank-3 shape, or undefined when it does not reduce to one. */
function biasShape3(shape: readonly number[], batchShape: readonly number[], m: number, n: number): number[] | undefined {
  const r = shape.length;
  const inner = [r >= 2 ? shape[r - 2]! : 1, r >= 1 ? shape[r - 1]! : 1];
  const lead = shape.slice(0, Math.max(0, r - 2));
  const leadSize = tf.util.sizeFromShape(lead);
  if (leadSize !== 1 && !(lead.length <= batchShape.length && tf.util.arraysEqual([...lead], [...batchShape.slice(batchShape.length - lead.length)]) && leadSize === tf.util.sizeFromShape([...batchShape]))) return undefined;
  if ((inner[0] !== 1 && inner[0] !== m) || (inner[1] !== 1 && inner[1] !== n)) return undefined;
  return [leadSize, inner[0]!, inner[1]!];
}

function matmul(name: string, fused: boolean): tf.KernelConfig {
  return nativeKernel(name, (b, { inputs, attrs }, cpu) => {
    const { a, b: bt, bias, preluActivationWeights } = inputs as Record<string, tf.TensorInfo | undefined>;
    const { transposeA, transposeB, activation, leakyreluAlpha } = attrs as unknown as MatMulAttrs;
    const act = fused ? activationCode(activation ?? 'linear') : 0;
    const ra = a!.shape.length, rb = bt!.shape.length;
    if (act === undefined || preluActivationWeights || a!.dtype !== 'float32' || bt!.dtype !== 'float32' || (bias && bias.dtype !== 'float32')) {
      return cpu();
    }
    const batchA = a!.shape.slice(0, -2), batchB = bt!.shape.slice(0, -2);
    const sa = tf.util.sizeFromShape(batchA), sb = tf.util.sizeFromShape(batchB);
    const m = transposeA ? a!.shape[ra - 1]! : a!.shape[ra - 2]!, k = transposeA ? a!.shape[ra - 2]! : a!.shape[ra - 1]!;
    const n = transposeB ? bt!.shape[rb - 2]! : bt!.shape[rb - 1]!, kb = transposeB ? bt!.shape[rb - 1]! : bt!.shape[rb - 2]!;
    if (k !== kb) {
      throw new Error(`Error in matMul: inner shapes (${k}) and (${kb}) of Tensors with shapes ${a!.shape} and ${bt!.shape} and transposeA=${transposeA} and transposeB=${transposeB} must match.`);
    }
    const batchShape = tf.backend_util.assertAndGetBroadcastShape(batchA, batchB);
    const flatOk = sa === sb || sa === 1 || sb === 1;
    const outShape = [...batchShape, m, n];
    const bias3 = bias ? biasShape3(bias.shape, batchShape, m, n) : undefined;
    if (!flatOk || k === 0 || (bias && !bias3)) return cpu();
    const y = new Float32Array(tf.util.sizeFromShape(outShape));
    if (y.length > 0) {
      const as3 = transposeA ? [sa, k, m] : [sa, m, k], bs3 = transposeB ? [sb, n, k] : [sb, k, n];
      call(name, () => b.addon.matmul(b.f32(a!), as3, b.weight(bt!), bs3, y, [Math.max(sa, sb), m, n], transposeA, transposeB,
        bias ? b.f32(bias) : null, bias3 ?? null, act, leakyreluAlpha ?? 0.2, b.precision === 'bf16' ? b.packId(bt!) : 0));
    }
    return b.out(outShape, y);
  });
}

/** The matrix-multiplication kernels the addon runs. */
export const MATMUL_KERNELS: tf.KernelConfig[] = [matmul(tf.BatchMatMul, false), matmul(tf._FusedMatMul, true)];
