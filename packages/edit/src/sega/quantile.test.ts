import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { beforeAll, describe, expect, it } from 'vitest';
import { OptionError, createGenerator } from '@semedit/core';
import { lerpF32, quantile, quantileRank } from './quantile.js';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

/** The sort-based definition (torch `quantile`, interpolation 'linear') on one row, in float32 arithmetic. */
function sortQuantile(row: readonly number[], q: number): number {
  const v = [...row].map(Math.fround).sort((a, b) => a - b);
  const rank = Math.fround(Math.fround(q) * (v.length - 1));
  const lo = Math.floor(rank);
  const hi = Math.ceil(rank);
  return lerpF32(v[lo]!, v[hi]!, Math.fround(rank - lo));
}

describe('quantile (torch linear)', () => {
  it('matches closed forms', () => {
    const x = tf.tensor2d([[1, 2, 3, 4], [4, 3, 2, 1]]);
    expect(Array.from(quantile(x, 0.5, 1).dataSync())).toEqual([2.5, 2.5]);
    expect(Array.from(quantile(x, 0, 1).dataSync())).toEqual([1, 1]);
    expect(Array.from(quantile(x, 1, 1).dataSync())).toEqual([4, 4]);
    expect(quantile(x, 0.25, 1).dataSync()[0]).toBeCloseTo(1.75, 6); // rank 0.75
    expect(quantile(tf.tensor1d([7]), 0.9).dataSync()[0]).toBe(7);
    x.dispose();
  });

  it('uses float32 rank arithmetic (N = 4096, q = 0.9 -> rank 3685.5)', () => {
    expect(quantileRank(4096, 0.9)).toEqual({ lo: 3685, hi: 3686, weight: 0.5 });
    const r = quantileRank(1024, 0.9);
    expect([r.lo, r.hi]).toEqual([920, 921]);
    expect(r.weight).toBe(Math.fround(Math.fround(Math.fround(0.9) * 1023) - 920));
  });

  it('property: equals the sort-based definition exactly, over random shapes, levels, axes and ties', () => {
    const gen = createGenerator(123);
    for (let trial = 0; trial < 60; trial++) {
      const shape = [1 + (gen.nextUint32() % 3), 1 + (gen.nextUint32() % 7), 1 + (gen.nextUint32() % 9), 1 + (gen.nextUint32() % 4)];
      const n = shape.reduce((a, b) => a * b, 1);
      const ties = trial % 3 === 0;
      const data = Array.from(gen.normal(n), (v) => (ties ? Math.round(v * 2) / 2 : v));
      const q = trial % 5 === 0 ? [0, 1, 0.5, 0.9, 0.99][trial % 5]! : gen.nextDouble();
      const axes = trial % 2 === 0 ? [1, 2] : [3];
      const x = tf.tensor4d(data, shape as [number, number, number, number]);
      const got = quantile(x, q, axes, true);
      const outShape = shape.map((s, i) => (axes.includes(i) ? 1 : s));
      expect(got.shape).toEqual(outShape);
      const vals = got.dataSync();
      const strides = [shape[1]! * shape[2]! * shape[3]!, shape[2]! * shape[3]!, shape[3]!, 1];
      let k = 0;
      for (let a = 0; a < outShape[0]!; a++) for (let b = 0; b < outShape[1]!; b++) for (let c = 0; c < outShape[2]!; c++) for (let d = 0; d < outShape[3]!; d++) {
        const row: number[] = [];
        for (let i1 = 0; i1 < shape[1]!; i1++) for (let i2 = 0; i2 < shape[2]!; i2++) for (let i3 = 0; i3 < shape[3]!; i3++) {
          const idx = [a, axes.includes(1) ? i1 : b, axes.includes(2) ? i2 : c, axes.includes(3) ? i3 : d];
          if ((!axes.includes(1) && i1 > 0) || (!axes.includes(2) && i2 > 0) || (!axes.includes(3) && i3 > 0)) continue;
          row.push(data[idx.reduce((s, v, j) => s + v * strides[j]!, 0)]!);
        }
        expect(vals[k++], `trial ${trial} q=${q} row ${k}`).toBe(sortQuantile(row, q));
      }
      tf.dispose([x, got]);
    }
  });

  it('defaults to all axes, supports negative axes, and leaves no tensors', () => {
    const before = tf.memory().numTensors;
    const x = tf.tensor2d([[5, 1], [3, 2]]);
    const all = quantile(x, 0.5);
    const last = quantile(x, 1, -1);
    expect(all.shape).toEqual([]);
    expect(all.dataSync()[0]).toBe(2.5);
    expect(Array.from(last.dataSync())).toEqual([5, 3]);
    tf.dispose([x, all, last]);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('rejects bad levels and axes with OptionError', () => {
    const x = tf.zeros([2, 3]);
    expect(() => quantile(x, 1.5, 1)).toThrow(OptionError);
    expect(() => quantile(x, Number.NaN, 1)).toThrow(/level/);
    expect(() => quantile(x, 0.5, 2)).toThrow(/axis 2/);
    expect(() => quantile(x, 0.5, [1, -1])).toThrow(/repeats/);
    x.dispose();
  });
});
