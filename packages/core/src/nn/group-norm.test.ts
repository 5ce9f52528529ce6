/**
 * GroupNorm and LayerNorm against the closed form computed in float64 by hand (including one channel per group
 * and one group), errors for bad group counts, and a finite-difference gradient check (style.md 3.8.7).
 */
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../backend/index.js';
import { OptionError } from '../errors.js';
import { expectClose } from '../testing/index.js';
import { groupNorm, layerNorm } from './group-norm.js';

/** GroupNorm of NHWC data in float64, straight from the definition. */
function groupNormRef(x: Float32Array, [b, h, w, c]: readonly [number, number, number, number], groups: number, gamma: Float32Array, beta: Float32Array, eps: number): Float64Array {
  const out = new Float64Array(x.length);
  const cg = c / groups;
  for (let n = 0; n < b; n++) {
    for (let g = 0; g < groups; g++) {
      const idx: number[] = [];
      for (let p = 0; p < h * w; p++) for (let j = 0; j < cg; j++) idx.push((n * h * w + p) * c + g * cg + j);
      const mean = idx.reduce((s, i) => s + x[i]!, 0) / idx.length;
      const variance = idx.reduce((s, i) => s + (x[i]! - mean) ** 2, 0) / idx.length;
      for (const i of idx) out[i] = ((x[i]! - mean) / Math.sqrt(variance + eps)) * gamma[i % c]! + beta[i % c]!;
    }
  }
  return out;
}

describe.each([
  { label: 'default backend', init: () => initBackend() },
  { label: 'cpu', init: () => initBackend({ backend: 'cpu' }) },
])('normalizations on $label', ({ init }) => {
  beforeAll(init);

  it.each([
    [[2, 3, 5, 8], 4],
    [[1, 4, 4, 6], 6],
    [[2, 2, 3, 4], 1],
  ] as const)('groupNorm %o with %i groups matches the definition', (shape, groups) => {
    const x = tf.randomNormal([...shape], 3, 2, 'float32', 5) as tf.Tensor4D;
    const p = { weight: tf.randomNormal([shape[3]], 1, 0.5, 'float32', 6) as tf.Tensor1D, bias: tf.randomNormal([shape[3]], 0, 1, 'float32', 7) as tf.Tensor1D };
    const before = tf.memory().numTensors;
    const y = tf.tidy(() => groupNorm(p, x, { groups, eps: 1e-5 }));
    const ref = groupNormRef(x.dataSync() as Float32Array, shape, groups, p.weight.dataSync() as Float32Array, p.bias.dataSync() as Float32Array, 1e-5);
    expectClose(y, Array.from(ref), { atol: 1e-5, rtol: 1e-5, name: 'groupNorm', shape: [...shape] });
    y.dispose();
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([x, p.weight, p.bias]);
  });

  it('layerNorm normalizes the last axis', () => {
    const x = tf.tensor2d([[1, 3], [2, 2], [-1, 5]]);
    const p = { weight: tf.tensor1d([2, 1]), bias: tf.tensor1d([0, 1]) };
    const y = tf.tidy(() => layerNorm(p, x, 1e-5)); // rows: mean 2 var 1; mean 2 var 0 (eps keeps it finite); mean 2 var 9
    expectClose(y, [-2, 2, 0, 1, -2, 2], { atol: 2e-5, rtol: 0, name: 'layerNorm' });
    tf.dispose([x, y, p.weight, p.bias]);
  });

  it('rejects a group count that does not divide the channels', () => {
    const x = tf.zeros([1, 2, 2, 6]) as tf.Tensor4D;
    expect(() => groupNorm({ weight: tf.ones([6]) as tf.Tensor1D, bias: tf.zeros([6]) as tf.Tensor1D }, x, { groups: 4, eps: 1e-5 })).toThrow(OptionError);
    x.dispose();
  });
});

describe('groupNorm gradient (finite differences, cpu)', () => {
  beforeAll(() => initBackend({ backend: 'cpu' }));

  it('tf.grad matches central differences for the input and the affine parameters', () => {
    const shape = [2, 2, 3, 4] as const;
    const x = tf.randomNormal([...shape], 0, 1, 'float32', 1) as tf.Tensor4D;
    const gamma = tf.randomNormal([4], 1, 0.3, 'float32', 2) as tf.Tensor1D;
    const beta = tf.randomNormal([4], 0, 0.3, 'float32', 3) as tf.Tensor1D;
    const r = tf.randomNormal([...shape], 0, 1, 'float32', 4);
    const loss = (a: tf.Tensor, g: tf.Tensor, b: tf.Tensor) => tf.sum(tf.mul(groupNorm({ weight: g as tf.Tensor1D, bias: b as tf.Tensor1D }, a as tf.Tensor4D, { groups: 2, eps: 1e-5 }), r)) as tf.Scalar;
    const grads = tf.grads(loss)([x, gamma, beta]);
    const h = 1e-2;
    [x, gamma, beta].forEach((t, which) => {
      const base = t.dataSync() as Float32Array;
      const analytic = grads[which]!.dataSync();
      for (let i = 0; i < base.length; i += which === 0 ? 5 : 1) {
        const at = (delta: number) => tf.tidy(() => {
          const d = base.slice();
          d[i]! += delta;
          const args = [x, gamma, beta].map((u, j) => (j === which ? tf.tensor(d, t.shape) : u)) as [tf.Tensor, tf.Tensor, tf.Tensor];
          return loss(...args).dataSync()[0]!;
        });
        const fd = (at(h) - at(-h)) / (2 * h);
        expect(Math.abs(fd - analytic[i]!), `d loss / d ${['x', 'gamma', 'beta'][which]}[${i}]`).toBeLessThan(2e-3 + 1e-2 * Math.abs(fd));
      }
    });
    tf.dispose([x, gamma, beta, r, ...grads]);
  });
});
