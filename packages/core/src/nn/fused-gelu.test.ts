/**
 * The native engine's one-pass exact GELU against the op-by-op version on tfjs-backend-cpu: values over a wide range
 * (tails included) and the gradient.
 */
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { initBackend } from '../backend/index.js';
import { expectClose } from '../fixtures/compare.js';
import { FUSED_GELU, gelu } from './activations.js';

const native = (await import('@semedit/native')).nativeAvailability();

async function run(backend: 'cpu' | 'native'): Promise<{ y: Float32Array; g: Float32Array; kernels: string[] }> {
  await initBackend({ backend });
  const x = tf.linspace(-9, 9, 1001);
  const kernels = (await tf.profile(() => gelu(x))).kernelNames;
  const [y, g] = tf.tidy(() => [gelu(x), tf.grad((a: tf.Tensor) => tf.sum(tf.mul(gelu(a), tf.sin(a))))(x)].map((t) => t.dataSync() as Float32Array));
  x.dispose();
  return { y: y!, g: g!, kernels };
}

describe.skipIf(!native.available)('fused GELU (native)', () => {
  it('matches the op-by-op exact GELU on cpu, values and gradient', async () => {
    const ref = await run('cpu');
    const got = await run('native');
    expect(got.kernels).toEqual([FUSED_GELU]);
    expectClose(got.y, ref.y, { atol: 1e-5, rtol: 1e-5, name: 'gelu' });
    expectClose(got.g, ref.g, { atol: 1e-5, rtol: 1e-5, name: 'gelu gradient' });
  });
});
