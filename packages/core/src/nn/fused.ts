/**
 * Running a backend's fused kernel (semedit's `native` engine provides several): whether the active backend has
 * it, and the call itself with its gradient registered on first use.
 * @module
 */
import * as tf from '@tensorflow/tfjs-core';

/**
 * Whether the active backend registers every one of these kernels.
 *
 * @example
 * ```ts
 * backendHasKernels('SemeditGroupNorm'); // true on native
 * ```
 */
export function backendHasKernels(...names: string[]): boolean {
  const b = tf.getBackend();
  return names.every((n) => tf.getKernel(n, b) !== undefined);
}

/**
 * Runs kernel `grad.kernelName` on the active backend, registering `grad` (its gradient, written with ordinary ops)
 * the first time.
 *
 * @example
 * ```ts
 * const y = runFused({ kernelName: 'SemeditGelu', inputsToSave: ['x'], gradFunc }, { x });
 * ```
 */
export function runFused(grad: tf.GradConfig, inputs: tf.NamedTensorMap, attrs: object = {}): tf.Tensor {
  if (!tf.getGradient(grad.kernelName)) tf.registerGradient(grad);
  return tf.engine().runKernel(grad.kernelName, inputs, attrs as tf.NamedAttrMap) as tf.Tensor;
}
