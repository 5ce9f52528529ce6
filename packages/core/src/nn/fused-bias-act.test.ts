/**
 * The native engine's fused StyleGAN2 epilogue (scale, noise, bias, leaky ReLU, gain, clamp) against the same ops
 * one by one on tfjs-backend-cpu: values and gradients with respect to every input (native computes them in one
 * kernel, `SemeditBiasActGrad`), with each part present or absent, noise per sample or shared, a clamp that bites,
 * and maps large enough to be split over threads.
 */
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { initBackend } from '../backend/index.js';
import { expectClose } from '../fixtures/compare.js';
import { createGenerator } from '../random.js';
import { biasAct, FUSED_BIAS_ACT, FUSED_BIAS_ACT_GRAD, type BiasActOptions } from './fused-bias-act.js';

const native = (await import('@semedit/native')).nativeAvailability();
const d = native.available ? describe : describe.skip;

const data = (n: number, seed: number): Float32Array => createGenerator(seed).normal(n);

type Case = { name: string; shape: [number, number, number, number]; scale: boolean; noise: 0 | 1 | 'B'; bias: boolean; alpha: number; gain: number; clamp: number | null };

async function run(backend: 'cpu' | 'native', c: Case): Promise<{ values: Float32Array[]; kernels: string[]; gradKernels: string[] }> {
  await initBackend({ backend });
  const [b, h, w, ch] = c.shape;
  const x = tf.tensor4d(data(b * h * w * ch, 1), c.shape);
  const scale = c.scale ? tf.tensor2d(data(b * ch, 2), [b, ch]) : undefined;
  const nb = c.noise === 'B' ? b : 1;
  const noise = c.noise ? tf.tensor4d(data(nb * h * w, 3), [nb, h, w, 1]) : undefined;
  const bias = c.bias ? tf.tensor1d(data(ch, 4)) : undefined;
  const weights = tf.tensor4d(data(b * h * w * ch, 5), c.shape);
  const inputs: tf.Tensor[] = [x];
  for (const t of [scale, noise, bias]) if (t) inputs.push(t);
  const f = (...ts: tf.Tensor[]): tf.Tensor => {
    let i = 1;
    const o: BiasActOptions = { alpha: c.alpha, gain: c.gain, clamp: c.clamp };
    if (scale) o.scale = ts[i++] as tf.Tensor2D;
    if (noise) o.noise = ts[i++] as tf.Tensor4D;
    if (bias) o.bias = ts[i++] as tf.Tensor1D;
    return biasAct(ts[0] as tf.Tensor4D, o);
  };
  const before = tf.memory().numTensors;
  const prof = await tf.profile(() => f(...inputs));
  const values = tf.tidy(() => {
    const y = f(...inputs);
    const grads = tf.grads((...ts: tf.Tensor[]) => tf.sum(tf.mul(f(...ts), weights)))(inputs);
    return [y, ...grads].map((t) => t.dataSync() as Float32Array);
  });
  prof.result && tf.dispose(prof.result as tf.Tensor);
  const gradProf = await tf.profile(() => tf.grads((...ts: tf.Tensor[]) => tf.sum(tf.mul(f(...ts), weights)))(inputs));
  tf.dispose(gradProf.result as tf.Tensor[]);
  expect(tf.memory().numTensors).toBe(before);
  tf.dispose([...inputs, weights]);
  return { values, kernels: prof.kernelNames, gradKernels: gradProf.kernelNames };
}

d('fused StyleGAN2 epilogue (native) matches the op-by-op version on cpu', () => {
  const cases: Case[] = [
    { name: 'conv layer: demod, shared noise, bias, lrelu, sqrt2', shape: [2, 5, 6, 8], scale: true, noise: 1, bias: true, alpha: 0.2, gain: Math.SQRT2, clamp: null },
    { name: 'per-sample noise and a clamp that bites', shape: [3, 4, 4, 5], scale: true, noise: 'B', bias: true, alpha: 0.2, gain: Math.SQRT2, clamp: 0.5 },
    { name: 'ToRGB: bias and clamp only', shape: [2, 7, 3, 3], scale: false, noise: 0, bias: true, alpha: 1, gain: 1, clamp: 1 },
    { name: 'no noise, no bias', shape: [1, 3, 5, 16], scale: true, noise: 0, bias: false, alpha: 0.2, gain: 2, clamp: null },
    { name: 'split over threads: shared noise over 3 samples, clamp', shape: [3, 37, 29, 40], scale: true, noise: 1, bias: true, alpha: 0.2, gain: Math.SQRT2, clamp: 1 },
    { name: 'split over threads: per-sample noise, no scale', shape: [2, 64, 33, 35], scale: false, noise: 'B', bias: true, alpha: 0.1, gain: 1.5, clamp: null },
  ];
  for (const c of cases) {
    it(`${c.name} ${JSON.stringify(c.shape)}: values and gradients`, async () => {
      const ref = await run('cpu', c);
      const got = await run('native', c);
      expect(got.kernels).toContain(FUSED_BIAS_ACT);
      expect(got.gradKernels).toContain(FUSED_BIAS_ACT_GRAD);
      expect(ref.gradKernels).not.toContain(FUSED_BIAS_ACT_GRAD);
      expect(got.values.length).toBe(ref.values.length);
      ref.values.forEach((r, i) => expectClose(got.values[i]!, r, { atol: 2e-5, rtol: 2e-5, name: `output ${i}` }));
    });
  }
});
