/**
 * CLIP blocks against closed forms, on every available backend: the activations (QuickGELU, exact erf GELU, the
 * tanh approximation) and their gradients, LayerNorm, the additive attention masks, and attention against a
 * plain-JS softmax(q kᵀ / √d) v.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { clipAttention, FLOAT32_MIN, textAttentionBias } from './attention.js';
import { activation, gelu, geluTanh, layerNorm, quickGelu } from './layers.js';
import { availableBackends, useBackend } from './test-support.js';

/** erf to 1e-15 by its Maclaurin series (|x| <= 3 here), for the closed-form GELU. */
function erf(x: number): number {
  let term = x;
  let sum = x;
  for (let n = 1; n < 80; n++) {
    term *= (-x * x) / n;
    sum += term / (2 * n + 1);
  }
  return (2 / Math.sqrt(Math.PI)) * sum;
}

const XS = [-3, -1.5, -0.3, 0, 0.2, 1, 2.5];
const close = (a: ArrayLike<number>, e: readonly number[], tol: number) =>
  e.forEach((v, i) => expect(Math.abs(a[i]! - v), `index ${i}: ${a[i]} vs ${v}`).toBeLessThanOrEqual(tol));

describe.each(await availableBackends())('CLIP layers on %s', (backend) => {
  let before: number;
  beforeAll(async () => {
    await useBackend(backend);
    before = tf.memory().numTensors;
  });
  afterAll(() => expect(tf.memory().numTensors).toBe(before));

  it('quick_gelu, gelu (erf) and the tanh approximation match their formulas', () => {
    tf.tidy(() => {
      const x = tf.tensor1d(XS);
      const sig = (v: number) => 1 / (1 + Math.exp(-v));
      close(quickGelu(x).dataSync(), XS.map((v) => v * sig(1.702 * v)), 1e-6);
      close(gelu(x).dataSync(), XS.map((v) => 0.5 * v * (1 + erf(v / Math.SQRT2))), 2e-6);
      close(geluTanh(x).dataSync(), XS.map((v) => 0.5 * v * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (v + 0.044715 * v ** 3)))), 1e-6);
      close(activation('gelu_pytorch_tanh', x).dataSync(), Array.from(geluTanh(x).dataSync()), 0);
      close(activation('quick_gelu', x).dataSync(), Array.from(quickGelu(x).dataSync()), 0);
    });
  });

  it("gelu's and quick_gelu's gradients match their derivatives", () => {
    const x = tf.tensor1d(XS);
    const pdf = (v: number) => Math.exp(-v * v / 2) / Math.sqrt(2 * Math.PI);
    const g = tf.grad((t: tf.Tensor) => tf.sum(gelu(t)))(x);
    close(g.dataSync(), XS.map((v) => 0.5 * (1 + erf(v / Math.SQRT2)) + v * pdf(v)), 2e-6);
    const sig = (v: number) => 1 / (1 + Math.exp(-v));
    const q = tf.grad((t: tf.Tensor) => tf.sum(quickGelu(t)))(x);
    close(q.dataSync(), XS.map((v) => sig(1.702 * v) + 1.702 * v * sig(1.702 * v) * (1 - sig(1.702 * v))), 2e-6);
    tf.dispose([x, g, q]);
  });

  it('layerNorm normalizes with the biased variance, then scales and shifts', () => {
    const rows = [[1, 2, 3, 6], [-2, 0, 0, 2]];
    const out = tf.tidy(() => layerNorm({ weight: tf.tensor1d([1, 2, 1, 1]), bias: tf.tensor1d([0, 0, 1, 0]) }, tf.tensor2d(rows), 1e-5).dataSync());
    const expected = rows.flatMap((r) => {
      const mean = r.reduce((a, b) => a + b) / r.length;
      const v = r.reduce((a, b) => a + (b - mean) ** 2, 0) / r.length;
      return r.map((x, i) => ((x - mean) / Math.sqrt(v + 1e-5)) * [1, 2, 1, 1][i]! + [0, 0, 1, 0][i]!);
    });
    close(out, expected, 1e-5);
  });

  it('textAttentionBias: causal mask, plus padding keys (masked by both -> -Infinity, as the reference sums them)', () => {
    const causal = tf.tidy(() => Array.from(textAttentionBias(3).dataSync()));
    const m = Math.fround(FLOAT32_MIN);
    expect(causal).toEqual([0, m, m, 0, 0, m, 0, 0, 0]);
    const padded = tf.tidy(() => Array.from(textAttentionBias(3, [[1, 0, 1]]).dataSync()));
    expect(padded).toEqual([0, -Infinity, m, 0, m, m, 0, m, 0]);
  });

  it('clipAttention equals softmax(q kᵀ · d^-½ + bias) v with q, k, v, out projections (plain JS reference)', () => {
    const [b, l, h, c] = [2, 3, 2, 4];
    const d = c / h;
    const rand = (n: number, seed: number) => Array.from({ length: n }, (_, i) => Math.sin(seed * 12.9898 + i * 78.233) * 0.8);
    const w = (s: number) => rand(c * c, s);
    const x = rand(b * l * c, 1);
    const [wq, wk, wv, wo] = [w(2), w(3), w(4), w(5)];
    const bq = rand(c, 6);
    const matvec = (m: number[], v: number[], bias?: number[]) =>
      Array.from({ length: c }, (_, o) => v.reduce((s, vi, i) => s + vi * m[i * c + o]!, bias?.[o] ?? 0));
    const expected: number[] = [];
    for (let bb = 0; bb < b; bb++) {
      const xs = Array.from({ length: l }, (_, i) => x.slice((bb * l + i) * c, (bb * l + i + 1) * c));
      const [q, k, v] = [xs.map((r) => matvec(wq, r, bq)), xs.map((r) => matvec(wk, r)), xs.map((r) => matvec(wv, r))];
      for (let i = 0; i < l; i++) {
        const heads: number[] = [];
        for (let hh = 0; hh < h; hh++) {
          const logits = Array.from({ length: l }, (_, j) =>
            j > i ? -Infinity : q[i]!.slice(hh * d, hh * d + d).reduce((s, qv, e) => s + qv * k[j]![hh * d + e]!, 0) / Math.sqrt(d));
          const mx = Math.max(...logits);
          const p = logits.map((z) => Math.exp(z - mx));
          const z = p.reduce((a, e) => a + e);
          for (let e = 0; e < d; e++) heads.push(p.reduce((s, pj, j) => s + (pj / z) * v[j]![hh * d + e]!, 0));
        }
        expected.push(...matvec(wo, heads));
      }
    }
    const out = tf.tidy(() => {
      const lin = (m: number[], bias?: number[]) => ({ weight: tf.tensor2d(m, [c, c]), ...(bias ? { bias: tf.tensor1d(bias) } : {}) });
      const p = { q_proj: lin(wq, bq), k_proj: lin(wk), v_proj: lin(wv), out_proj: lin(wo) };
      return clipAttention(p, tf.tensor2d(x, [b * l, c]), { batch: b, seqLen: l, heads: h, bias: textAttentionBias(l) }).dataSync();
    });
    close(out, expected, 1e-5);
  });
});
