/**
 * Gradient registration. tfjs-core's Node entry registers no gradient functions (the `@tensorflow/tfjs` union
 * package does that), so `tf.grad` fails with "gradient function not found". {@link ensureGradients} registers
 * tfjs-core's own gradient configs and chained ops once; {@link initBackend} calls it.
 * @module
 */
import * as tf from '@tensorflow/tfjs-core';

let state: Promise<boolean> | undefined;

/**
 * Registers tfjs-core's gradients and chained tensor methods (`x.sum()`), once. Resolves to whether gradients
 * are available: `false` only where neither tfjs-core's module tree (used by tsx, vitest and bundlers) nor the
 * `@tensorflow/tfjs` union package can be loaded.
 *
 * @example
 * ```ts
 * await ensureGradients();
 * tf.grad((x: tf.Tensor) => tf.sum(tf.square(x)))(tf.tensor([1, 2])); // [2, 4]
 * ```
 */
export function ensureGradients(): Promise<boolean> {
  state ??= (async () => {
    if (tf.getGradient('Sum') !== undefined) return true;
    try {
      await import('@tensorflow/tfjs-core/dist/register_all_gradients.js');
      await import('@tensorflow/tfjs-core/dist/public/chained_ops/register_all_chained_ops.js');
    } catch {
      try {
        await import('@tensorflow/tfjs' as string);
      } catch {
        // reported through the return value
      }
    }
    return tf.getGradient('Sum') !== undefined;
  })();
  return state;
}
