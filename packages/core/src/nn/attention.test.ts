/**
 * Chunked attention against the unchunked batched reference (style.md rule 8) on cpu and the default backend:
 * any chunk bound gives the same output; the chunk plan covers every (head, query) once within the bound; a
 * hook sees slices that concatenate to the reference probabilities and can replace them; a finite-difference
 * gradient check (style.md 3.8.7) on tiny shapes; no leaked tensors.
 */
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../backend/index.js';
import { ShapeMismatchError } from '../errors.js';
import { expectClose } from '../testing/index.js';
import { DEFAULT_MAX_SCORE_ELEMENTS, planAttentionChunks, referenceAttention, referenceAttentionProbs, scaledDotProductAttention, type AttentionSlice } from './attention.js';

function inputs(b: number, n: number, m: number, c: number, seed: number): [tf.Tensor3D, tf.Tensor3D, tf.Tensor3D] {
  return [
    tf.randomNormal([b, n, c], 0, 1, 'float32', seed) as tf.Tensor3D,
    tf.randomNormal([b, m, c], 0, 1, 'float32', seed + 1) as tf.Tensor3D,
    tf.randomNormal([b, m, c], 0, 1, 'float32', seed + 2) as tf.Tensor3D,
  ];
}

describe('planAttentionChunks', () => {
  it.each([
    [{ batch: 2, heads: 8, queries: 4096, keys: 4096 }, 1 << 24],
    [{ batch: 2, heads: 8, queries: 1024, keys: 77 }, 1 << 24],
    [{ batch: 3, heads: 5, queries: 100, keys: 7 }, 1000],
    [{ batch: 1, heads: 2, queries: 10, keys: 1000 }, 10],
  ])('covers every (head, query) once within the bound: %o, max %i', (dims, max) => {
    const chunks = planAttentionChunks(dims, max);
    const seen = new Uint8Array(dims.heads * dims.queries);
    for (const c of chunks) {
      const size = dims.batch * (c.heads[1] - c.heads[0]) * (c.queries[1] - c.queries[0]) * dims.keys;
      expect(size <= max || c.queries[1] - c.queries[0] === 1).toBe(true);
      for (let h = c.heads[0]; h < c.heads[1]; h++) for (let q = c.queries[0]; q < c.queries[1]; q++) seen[h * dims.queries + q]! += 1;
    }
    expect(seen.every((v) => v === 1)).toBe(true);
  });

  it('takes all heads in one chunk when they fit, and one head with a query range otherwise', () => {
    expect(planAttentionChunks({ batch: 2, heads: 8, queries: 1024, keys: 77 }, 1 << 24)).toEqual([{ heads: [0, 8], queries: [0, 1024] }]);
    expect(planAttentionChunks({ batch: 2, heads: 2, queries: 4096, keys: 4096 }, 1 << 24)).toEqual([
      { heads: [0, 1], queries: [0, 2048] }, { heads: [0, 1], queries: [2048, 4096] },
      { heads: [1, 2], queries: [0, 2048] }, { heads: [1, 2], queries: [2048, 4096] },
    ]);
  });

  it('rejects a non-positive bound', () => {
    expect(() => planAttentionChunks({ batch: 1, heads: 1, queries: 1, keys: 1 }, 0)).toThrow(/maxScoreElements/);
  });
});

describe.each([
  { label: 'default backend', init: () => initBackend() },
  { label: 'cpu', init: () => initBackend({ backend: 'cpu' }) },
])('scaledDotProductAttention on $label', ({ init }) => {
  beforeAll(init);

  it.each([
    ['unchunked', 2, 37, 11, 4, undefined],
    ['head chunks', 2, 37, 11, 4, 2 * 37 * 11 * 3],
    ['query chunks with a remainder', 2, 37, 11, 4, 2 * 11 * 10],
    ['one query per chunk', 3, 9, 5, 2, 1],
    ['one head', 1, 16, 16, 1, 100],
  ] as const)('%s equals the reference (B=%i, Nq=%i, Nk=%i, h=%i, max=%s)', (_l, b, n, m, h, max) => {
    const before = tf.memory().numTensors;
    const [q, k, v] = inputs(b, n, m, 8 * h, 7);
    tf.tidy(() => {
      const ref = referenceAttention(q, k, v, { heads: h });
      const got = scaledDotProductAttention(q, k, v, { heads: h, maxScoreElements: max || undefined });
      expectClose(got, ref, { atol: 2e-6, rtol: 1e-5, name: 'attention' });
    });
    tf.dispose([q, k, v]);
    expect(tf.memory().numTensors).toBe(before);
  });

  it.each([
    ['one bias for every row, query chunks', 1, undefined],
    ['a bias per row, one query per chunk', 2, 1],
  ] as const)('an additive bias (%s) masks keys as the reference does', (_l, rows, max) => {
    const before = tf.memory().numTensors;
    const [b, n, m, h] = [2, 6, 6, 2];
    const [q, k, v] = inputs(b, n, m, 8 * h, 3);
    // Causal mask with float32's lowest value (row 1 also masks key 0 where rows differ).
    const data = new Float32Array(rows * n * m).map((_, e) => {
      const [r, i, j] = [Math.floor(e / (n * m)), Math.floor(e / m) % n, e % m];
      return j > i || (r === 1 && j === 0 && i > 0) ? -3.4028234663852886e38 : 0;
    });
    const bias = tf.tensor4d(data, [rows, 1, n, m]);
    tf.tidy(() => {
      const ref = referenceAttention(q, k, v, { heads: h, bias });
      const got = scaledDotProductAttention(q, k, v, { heads: h, bias, maxScoreElements: max });
      expectClose(got, ref, { atol: 2e-6, rtol: 1e-5, name: 'biased attention' });
      const probs = referenceAttentionProbs(q, k, { heads: h, bias }).arraySync();
      expect(probs[0]![0]![0]!.slice(1).every((p) => p === 0)).toBe(true); // query 0 sees key 0 only
      const unmasked = scaledDotProductAttention(q, k, v, { heads: h });
      expect(tf.max(tf.abs(tf.sub(unmasked, got))).dataSync()[0]).toBeGreaterThan(1e-3);
    });
    const wrong = tf.zeros([b, 1, n, m + 1]) as tf.Tensor4D;
    expect(() => scaledDotProductAttention(q, k, v, { heads: h, bias: wrong })).toThrow(ShapeMismatchError);
    tf.dispose([q, k, v, bias, wrong]);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('a hook sees slices [B, hs, qs, Nk] that concatenate to the reference probabilities', () => {
    const [b, n, m, h] = [2, 23, 6, 3];
    const [q, k, v] = inputs(b, n, m, 4 * h, 11);
    const ref = referenceAttentionProbs(q, k, { heads: h, scale: 0.3 });
    const seen = new Float32Array(b * h * n * m).fill(NaN);
    const slices: AttentionSlice[] = [];
    const out = scaledDotProductAttention(q, k, v, {
      heads: h, scale: 0.3, maxScoreElements: b * m * 5,
      onProbs: (p, s) => {
        slices.push(s);
        expect(p.shape).toEqual([b, s.heads[1] - s.heads[0], s.queries[1] - s.queries[0], m]);
        const data = p.dataSync();
        const [, hc, qc] = p.shape;
        for (let r = 0; r < b; r++) for (let j = 0; j < hc; j++) for (let i = 0; i < qc; i++) {
          seen.set(data.subarray(((r * hc + j) * qc + i) * m, ((r * hc + j) * qc + i + 1) * m), ((r * h + s.heads[0] + j) * n + s.queries[0] + i) * m);
        }
        return p;
      },
    });
    expect(slices.length).toBe(h * Math.ceil(n / 5));
    expectClose(seen, ref.dataSync() as Float32Array, { atol: 1e-6, rtol: 1e-5, name: 'hooked probabilities' });
    tf.dispose([q, k, v, ref, out]);
  });

  it('a hook that replaces the probabilities changes the output (uniform attention gives the mean of V)', () => {
    const [b, n, m, h] = [2, 5, 4, 2];
    const [q, k, v] = inputs(b, n, m, 6, 3);
    const out = scaledDotProductAttention(q, k, v, { heads: h, maxScoreElements: b * m * 2, onProbs: (p) => tf.fill(p.shape, 1 / m) as tf.Tensor4D });
    const mean = tf.tile(tf.mean(v, 1, true), [1, n, 1]); // closed form: every query averages the values
    expectClose(out, mean, { atol: 1e-6, rtol: 1e-5, name: 'uniform attention' });
    tf.dispose([q, k, v, out, mean]);
  });

  it('rejects a hook output of the wrong shape, and bad head counts', () => {
    const [q, k, v] = inputs(1, 4, 3, 4, 1);
    expect(() => tf.tidy(() => scaledDotProductAttention(q, k, v, { heads: 2, onProbs: (p) => tf.slice(p, 0, [1, 1, 4, 3]) as tf.Tensor4D }))).toThrow(ShapeMismatchError);
    expect(() => scaledDotProductAttention(q, k, v, { heads: 3 })).toThrow(/heads/);
    tf.dispose([q, k, v]);
  });
});

describe('attention at a 64x64 latent (default backend)', () => {
  beforeAll(() => initBackend());

  it('self-attention over 4096 tokens never materializes more than the bound; every (row, head, query) is seen once', () => {
    const [b, n, h] = [2, 4096, 8];
    const [q, k, v] = inputs(b, n, n, 64, 5);
    const seen = new Uint8Array(h * n);
    let largest = 0;
    const before = tf.memory().numTensors;
    const out = tf.tidy(() => scaledDotProductAttention(q, k, v, {
      heads: h,
      onProbs: (p, s) => {
        largest = Math.max(largest, p.size);
        for (let j = s.heads[0]; j < s.heads[1]; j++) for (let i = s.queries[0]; i < s.queries[1]; i++) seen[j * n + i]! += 1;
        return p;
      },
    }));
    expect(out.shape).toEqual([b, n, 64]);
    expect(largest).toBeLessThanOrEqual(DEFAULT_MAX_SCORE_ELEMENTS);
    expect(largest).toBe(b * (n / 2) * n); // one head, half the queries: 2^24 scores
    expect(seen.every((c) => c === 1)).toBe(true);
    expect(Number.isFinite(tf.tidy(() => tf.sum(out).dataSync()[0]!))).toBe(true);
    expect(tf.memory().numTensors).toBe(before + 1);
    tf.dispose([q, k, v, out]);
  });
});

describe('attention gradient (finite differences, cpu)', () => {
  beforeAll(() => initBackend({ backend: 'cpu' }));

  it('tf.grad of the chunked attention matches central differences for q, k and v', () => {
    const [q, k, v] = inputs(2, 5, 3, 4, 21);
    const weights = tf.randomNormal([2, 5, 4], 0, 1, 'float32', 99);
    const loss = (a: tf.Tensor3D, b: tf.Tensor3D, c: tf.Tensor3D) =>
      tf.sum(tf.mul(scaledDotProductAttention(a, b, c, { heads: 2, maxScoreElements: 2 * 3 * 2 }), weights)) as tf.Scalar;
    const grads = tf.grads((a, b, c) => loss(a as tf.Tensor3D, b as tf.Tensor3D, c as tf.Tensor3D))([q, k, v]);
    const h = 1e-2;
    [q, k, v].forEach((x, which) => {
      const base = x.dataSync() as Float32Array;
      const analytic = grads[which]!.dataSync();
      for (let i = 0; i < base.length; i += 3) {
        const eval1 = (delta: number) => {
          const d = base.slice();
          d[i]! += delta;
          const args = [q, k, v].map((t, j) => (j === which ? tf.tensor3d(d, x.shape) : t)) as [tf.Tensor3D, tf.Tensor3D, tf.Tensor3D];
          const l = tf.tidy(() => loss(...args).dataSync()[0]!);
          tf.dispose(args[which]);
          return l;
        };
        const fd = (eval1(h) - eval1(-h)) / (2 * h);
        expect(Math.abs(fd - analytic[i]!), `d loss / d ${'qkv'[which]}[${i}]: fd ${fd}, grad ${analytic[i]}`).toBeLessThan(2e-3 + 1e-2 * Math.abs(fd));
      }
    });
    tf.dispose([q, k, v, weights, ...grads]);
  });
});
