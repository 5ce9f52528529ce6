import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { AssertionError } from 'node:assert';
import { beforeAll, describe, expect, it } from 'vitest';
import { OptionError, ShapeMismatchError } from '../errors.js';
import { compareArrays, expectClose, nchwToNhwc, nhwcToNchw } from './compare.js';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

/** Catches what `fn` throws. */
function thrown(fn: () => unknown): Error {
  try {
    fn();
  } catch (e) {
    return e as Error;
  }
  throw new Error('expected a throw');
}

describe('compareArrays (numpy allclose rule)', () => {
  it('applies |a - e| <= atol + rtol * |e| element-wise, with the tolerance scaled by expected', () => {
    // e = 100, rtol = 0.01: tolerance 1 (+atol 0). a = 101 passes (diff 1), 101.5 fails.
    expect(compareArrays([101], [100], { atol: 0, rtol: 0.01 }).ok).toBe(true);
    expect(compareArrays([101.5], [100], { atol: 0, rtol: 0.01 }).ok).toBe(false);
    // The rule is asymmetric: with e = 101 the tolerance is 1.01, so a = 100 passes.
    expect(compareArrays([100], [101], { atol: 0, rtol: 0.01 }).ok).toBe(true);
    expect(compareArrays([0.5], [0], { atol: 0.5, rtol: 1 }).ok).toBe(true);
    expect(compareArrays([0.5000001], [0], { atol: 0.5, rtol: 1 }).ok).toBe(false);
  });

  it('uses numpy defaults atol = 1e-8, rtol = 1e-5', () => {
    expect(compareArrays([1 + 0.9e-5], [1]).ok).toBe(true);
    expect(compareArrays([1 + 1.1e-5], [1]).ok).toBe(false);
    expect(compareArrays([0.9e-8], [0]).ok).toBe(true);
    expect(compareArrays([1.1e-8], [0]).ok).toBe(false);
  });

  it('reports max abs/rel differences, the worst element, mismatch count and the first mismatches', () => {
    const actual = new Float32Array([1, 2.5, 3, 4.02, 10]);
    const expected = new Float32Array([1, 2, 3, 4, 5]);
    const r = compareArrays(actual, expected, { atol: 0.01, rtol: 0, name: 'x', show: 2 });
    expect(r.ok).toBe(false);
    expect(r.count).toBe(5);
    expect(r.mismatches).toBe(3);
    expect(r.maxAbs).toBe(5);
    expect(r.maxAbsIndex).toBe(4);
    expect(r.maxRel).toBe(1);
    expect(r.worstIndex).toBe(4); // diff 5 / tol 0.01 is the largest excess
    expect(r.firstMismatches.map((m) => m.index)).toEqual([1, 3]);
    expect(r.message).toContain('3 of 5 elements not close');
    expect(r.message).toContain('... 1 more');
  });

  it('treats NaN as equal only to NaN, and infinities only to the same infinity', () => {
    expect(compareArrays([NaN, Infinity, -Infinity], [NaN, Infinity, -Infinity]).ok).toBe(true);
    const r = compareArrays([NaN, 1, Infinity, -Infinity], [1, NaN, -Infinity, 5]);
    expect(r.mismatches).toBe(4);
    expect(r.maxAbs).toBe(0); // no pair of finite values
    expect(r.maxAbsIndex).toBe(-1);
  });

  it('prints indices as coordinates when given a shape, and checks lengths', () => {
    const e = new Float32Array(24);
    const a = e.slice();
    a[1 * 12 + 2 * 4 + 3] = 1; // [1, 2, 3] in shape [2, 3, 4]
    const r = compareArrays(a, e, { shape: [2, 3, 4], name: 'latents' });
    expect(r.worstIndex).toBe(23);
    expect(r.message).toContain('latents shape [2, 3, 4]');
    expect(r.message).toContain('23 [1, 2, 3]');
    expect(() => compareArrays([1, 2], [1])).toThrow(ShapeMismatchError);
    expect(() => compareArrays([1, 2], [1, 2], { shape: [3] })).toThrow(ShapeMismatchError);
    expect(() => compareArrays([1], [1], { atol: -1 })).toThrow(OptionError);
  });

  it('passes on identical data and says so', () => {
    const r = compareArrays(Int32Array.of(1, 2, 3), [1, 2, 3], { atol: 0, rtol: 0 });
    expect([r.ok, r.mismatches, r.worstIndex, r.maxAbs]).toEqual([true, 0, -1, 0]);
    expect(r.message).toMatch(/all 3 close/);
  });
});

describe('expectClose', () => {
  it('accepts close tensors and typed arrays silently, without leaking tensors', () => {
    const a = tf.tensor2d([1, 2, 3, 4], [2, 2]);
    const before = tf.memory().numTensors;
    expect(() => expectClose(a, new Float32Array([1, 2, 3, 4 + 1e-7]), { atol: 1e-6 })).not.toThrow();
    expect(() => expectClose(a, { shape: [2, 2], data: [1, 2, 3, 4] })).not.toThrow();
    expect(tf.memory().numTensors).toBe(before);
    a.dispose();
  });

  it('throws an AssertionError naming the quantity, shape, largest difference and first mismatches', () => {
    const a = tf.tensor4d([0, 0, 0, 0.5, 0, 0], [1, 1, 2, 3]);
    const err = thrown(() => expectClose(a, new Float32Array(6), { atol: 1e-3, rtol: 0, name: 'vae-tiny sample', shape: [1, 1, 2, 3] }));
    a.dispose();
    expect(err).toBeInstanceOf(AssertionError);
    expect(err.message).toContain('vae-tiny sample shape [1, 1, 2, 3]');
    expect(err.message).toContain('max |a-e| = 0.5000 at 3 [0, 0, 1, 0]');
    expect(err.message).toContain('1 of 6 elements not close');
  });

  it('fails on a shape mismatch even when the element counts agree', () => {
    const a = tf.zeros([2, 3]);
    const b = tf.zeros([3, 2]);
    expect(thrown(() => expectClose(a, b)).message).toMatch(/shape mismatch: actual \[2, 3\], expected \[3, 2\]/);
    expect(thrown(() => expectClose(a, new Float32Array(6), { shape: [6] })).message).toMatch(/shape mismatch/);
    expect(thrown(() => expectClose(new Float32Array(5), new Float32Array(6))).message).toMatch(/5 values, expected 6/);
    tf.dispose([a, b]);
  });

  it('refuses float16/bfloat16 raw bits', () => {
    const raw = { shape: [1], data: Uint16Array.of(0x3c00), dtype: 'float16' };
    expect(() => expectClose([1], raw)).toThrow(OptionError);
  });
});

describe('NCHW <-> NHWC', () => {
  // x[n, c, h, w] = 1000 n + 100 c + 10 h + w: the value names its own NCHW coordinates.
  const [N, C, H, W] = [2, 3, 2, 4];
  const nchw = new Float32Array(N * C * H * W);
  for (let n = 0; n < N; n++) for (let c = 0; c < C; c++) for (let h = 0; h < H; h++) for (let w = 0; w < W; w++) {
    nchw[((n * C + c) * H + h) * W + w] = 1000 * n + 100 * c + 10 * h + w;
  }

  it('moves element [n, c, h, w] to [n, h, w, c]', () => {
    const nhwc = nchwToNhwc(nchw, [N, C, H, W]);
    expect(nhwc).toBeInstanceOf(Float32Array);
    for (let n = 0; n < N; n++) for (let h = 0; h < H; h++) for (let w = 0; w < W; w++) for (let c = 0; c < C; c++) {
      expect(nhwc[((n * H + h) * W + w) * C + c]).toBe(1000 * n + 100 * c + 10 * h + w);
    }
  });

  it('agrees with tf.transpose(perm [0, 2, 3, 1]) and inverts with nhwcToNchw', () => {
    const t = tf.tensor4d(nchw, [N, C, H, W]);
    const ref = tf.transpose(t, [0, 2, 3, 1]);
    expect(Array.from(nchwToNhwc(nchw, [N, C, H, W]))).toEqual(Array.from(ref.dataSync()));
    tf.dispose([t, ref]);
    expect(nhwcToNchw(nchwToNhwc(nchw, [N, C, H, W]), [N, H, W, C])).toEqual(nchw);
  });

  it('handles 3-D CHW/HWC, keeps the array type, and checks the shape', () => {
    expect(Array.from(nchwToNhwc(Int32Array.of(1, 2, 3, 4, 5, 6), [2, 1, 3]))).toEqual([1, 4, 2, 5, 3, 6]);
    expect(nhwcToNchw(Uint8Array.of(1, 4, 2, 5, 3, 6), [1, 3, 2])).toEqual(Uint8Array.of(1, 2, 3, 4, 5, 6));
    expect(() => nchwToNhwc(new Float32Array(5), [1, 2, 2, 2])).toThrow(ShapeMismatchError);
    expect(() => nchwToNhwc(new Float32Array(4), [4])).toThrow(ShapeMismatchError);
  });
});
