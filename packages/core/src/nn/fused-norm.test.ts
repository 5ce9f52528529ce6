/**
 * The native engine's fused normalization kernel against the op-by-op GroupNorm / LayerNorm on tfjs-backend-cpu:
 * values with and without SiLU, odd shapes, and gradients with respect to x, gamma and beta (native: the
 * `SemeditGroupNormGrad` kernel, one pass per input), on maps large enough to be split over threads too.
 */
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { initBackend } from '../backend/index.js';
import { expectClose } from '../fixtures/compare.js';
import { createGenerator } from '../random.js';
import { groupNorm, layerNorm } from './group-norm.js';
import { FUSED_NORM, FUSED_NORM_GRAD, hasFusedNorm } from './fused-norm.js';

const native = (await import('@semedit/native')).nativeAvailability();
const d = native.available ? describe : describe.skip;

const data = (n: number, seed: number, offset = 0): Float32Array => createGenerator(seed).normal(n).map((v) => v + offset);

type Case = { name: string; shape: number[]; groups: number; silu: boolean; layer?: boolean };

async function run(backend: 'cpu' | 'native', c: Case): Promise<{ values: Float32Array[]; kernels: string[]; gradKernels: string[] }> {
  await initBackend({ backend });
  const ch = c.shape[c.shape.length - 1]!;
  const x = tf.tensor(data(tf.util.sizeFromShape(c.shape), 1, 3), c.shape); // offset: a non-zero mean
  const p = { weight: tf.tensor1d(data(ch, 2)), bias: tf.tensor1d(data(ch, 3)) };
  const w = tf.tensor(data(tf.util.sizeFromShape(c.shape), 4), c.shape);
  const f = (a: tf.Tensor, g: tf.Tensor, b: tf.Tensor): tf.Tensor => {
    const q = { weight: g as tf.Tensor1D, bias: b as tf.Tensor1D };
    return c.layer ? layerNorm(q, a, 1e-5) : groupNorm(q, a as tf.Tensor4D, { groups: c.groups, eps: 1e-5, silu: c.silu });
  };
  const prof = await tf.profile(() => f(x, p.weight, p.bias));
  const values = tf.tidy(() => {
    const y = f(x, p.weight, p.bias);
    const grads = tf.grads((a: tf.Tensor, g: tf.Tensor, b: tf.Tensor) => tf.sum(tf.mul(f(a, g, b), w)))([x, p.weight, p.bias]);
    return [y, ...grads].map((t) => t.dataSync() as Float32Array);
  });
  const before = tf.memory().numTensors;
  const gradProf = await tf.profile(() => tf.grads((a: tf.Tensor, g: tf.Tensor, b: tf.Tensor) => tf.sum(tf.mul(f(a, g, b), w)))([x, p.weight, p.bias]));
  tf.dispose(gradProf.result as tf.Tensor[]);
  expect(tf.memory().numTensors).toBe(before);
  tf.dispose([x, p.weight, p.bias, w]);
  return { values, kernels: prof.kernelNames, gradKernels: gradProf.kernelNames };
}

d('fused GroupNorm / LayerNorm (native) match the op-by-op versions on cpu', () => {
  const cases: Case[] = [
    { name: 'GroupNorm 32 groups + SiLU', shape: [2, 5, 7, 64], groups: 32, silu: true },
    { name: 'GroupNorm 1 group', shape: [1, 3, 3, 6], groups: 1, silu: false },
    { name: 'GroupNorm 1x1 spatial, C/G = 1', shape: [3, 1, 1, 8], groups: 8, silu: true },
    { name: 'LayerNorm rows', shape: [2, 9, 24], groups: 1, silu: false, layer: true },
    { name: 'LayerNorm many rows (the rows spread over threads)', shape: [4, 300, 40], groups: 1, silu: false, layer: true },
    { name: 'GroupNorm + SiLU split over threads', shape: [3, 23, 31, 48], groups: 16, silu: true },
    { name: 'LayerNorm rows split over threads', shape: [2, 700, 64], groups: 1, silu: false, layer: true },
  ];
  for (const c of cases) {
    it(`${c.name} ${JSON.stringify(c.shape)}: values and gradients`, async () => {
      const ref = await run('cpu', c);
      const got = await run('native', c);
      expect(hasFusedNorm()).toBe(true);
      expect(got.kernels).toContain(FUSED_NORM);
      expect(got.gradKernels).toContain(FUSED_NORM_GRAD);
      expect(ref.gradKernels).not.toContain(FUSED_NORM_GRAD);
      ref.values.forEach((r, i) => expectClose(got.values[i]!, r, { atol: 5e-5, rtol: 5e-5, name: ['y', 'dx', 'dgamma', 'dbeta'][i]! }));
    });
  }
});
