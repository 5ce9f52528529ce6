/**
 * The native engine's fused attention kernel against {@link referenceAttention} on tfjs-backend-cpu: outputs with
 * and without a bias (CLIP's masks, a fully masked key), edge sizes (one query, one key, many heads), gradients with
 * respect to q, k, v and the bias, and that a hook still sees the probabilities (the fused kernel is bypassed).
 */
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { initBackend } from '../backend/index.js';
import { expectClose } from '../fixtures/compare.js';
import { createGenerator } from '../random.js';
import { referenceAttention, scaledDotProductAttention } from './attention.js';
import { FUSED_ATTENTION, hasFusedAttention } from './fused-attention.js';

const native = (await import('@semedit/native')).nativeAvailability();
const d = native.available ? describe : describe.skip;

const data = (n: number, seed: number): Float32Array => createGenerator(seed).normal(n);

interface Dims { b: number; nq: number; nk: number; c: number; heads: number; bias?: 'none' | 'shared' | 'per-row' }

async function outputs(backend: 'cpu' | 'native', dm: Dims, grads: boolean): Promise<Float32Array[]> {
  await initBackend({ backend });
  return tf.tidy(() => {
    const q = tf.tensor3d(data(dm.b * dm.nq * dm.c, 1), [dm.b, dm.nq, dm.c]);
    const k = tf.tensor3d(data(dm.b * dm.nk * dm.c, 2), [dm.b, dm.nk, dm.c]);
    const v = tf.tensor3d(data(dm.b * dm.nk * dm.c, 3), [dm.b, dm.nk, dm.c]);
    const rows = dm.bias === 'per-row' ? dm.b : 1;
    // A causal-style mask: query i attends keys j <= i + 1 (the first key always), as CLIP's masks do, with -1e9.
    const mask = new Float32Array(rows * dm.nq * dm.nk).map((_, i) => (i % dm.nk <= (Math.floor(i / dm.nk) % dm.nq) + 1 ? 0 : -1e9));
    const bias = dm.bias && dm.bias !== 'none' ? tf.tensor4d(mask, [rows, 1, dm.nq, dm.nk]) : undefined;
    const f = backend === 'cpu' ? referenceAttention : scaledDotProductAttention;
    const run = (a: tf.Tensor, bb: tf.Tensor, c: tf.Tensor): tf.Tensor => f(a as tf.Tensor3D, bb as tf.Tensor3D, c as tf.Tensor3D, { heads: dm.heads, ...(bias ? { bias } : {}) });
    const y = run(q, k, v);
    if (!grads) return [y.dataSync() as Float32Array];
    const w = tf.tensor3d(data(dm.b * dm.nq * dm.c, 4), [dm.b, dm.nq, dm.c]);
    const g = tf.grads((a: tf.Tensor, bb: tf.Tensor, c: tf.Tensor) => tf.sum(tf.mul(run(a, bb, c), w)))([q, k, v]);
    return [y, ...g].map((t) => t.dataSync() as Float32Array);
  });
}

d('fused attention (native) matches the reference on cpu', () => {
  const cases: Dims[] = [
    { b: 2, nq: 100, nk: 77, c: 32, heads: 4 },
    { b: 2, nq: 130, nk: 130, c: 40, heads: 1 },
    { b: 1, nq: 1, nk: 1, c: 8, heads: 8 },
    { b: 2, nq: 77, nk: 77, c: 24, heads: 3, bias: 'shared' },
    { b: 3, nq: 9, nk: 9, c: 16, heads: 2, bias: 'per-row' },
  ];
  for (const dm of cases) {
    it(`${JSON.stringify(dm)} output and gradients`, async () => {
      const ref = await outputs('cpu', dm, true);
      const got = await outputs('native', dm, true);
      expect(hasFusedAttention()).toBe(true);
      ref.forEach((r, i) => expectClose(got[i]!, r, { atol: 2e-5, rtol: 2e-5, name: ['output', 'dq', 'dk', 'dv'][i]! }));
    });
  }

  it('is bypassed when a hook watches the probabilities, which the hook then sees in full, or when SEMEDIT_FUSED_ATTENTION=0', async () => {
    await initBackend({ backend: 'native' });
    const seen: number[][] = [];
    const prof = await tf.profile(() => {
      const q = tf.randomNormal([1, 16, 8]) as tf.Tensor3D;
      return scaledDotProductAttention(q, q, q, { heads: 2, onProbs: (p) => (seen.push(p.shape), p) });
    });
    expect(seen).toEqual([[1, 2, 16, 16]]);
    expect(prof.kernelNames).not.toContain(FUSED_ATTENTION);
    const plain = await tf.profile(() => {
      const q = tf.randomNormal([1, 16, 8]) as tf.Tensor3D;
      return scaledDotProductAttention(q, q, q, { heads: 2 });
    });
    expect(plain.kernelNames).toContain(FUSED_ATTENTION);
    process.env['SEMEDIT_FUSED_ATTENTION'] = '0';
    try {
      expect(hasFusedAttention()).toBe(false);
    } finally {
      delete process.env['SEMEDIT_FUSED_ATTENTION'];
    }
    expect(hasFusedAttention()).toBe(true);
  });
});
