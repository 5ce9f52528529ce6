/**
 * Image preprocessing against closed forms: PIL's bicubic kernel and resampling coefficients (upscaling by 2 gives
 * the kernel at ±0.25/±0.75/±1.25/±1.75; constants and, away from borders, linear ramps are preserved), the
 * upsample + average-pool matrix (window coverage counts), transformers' resize/crop geometry, normalization of a
 * constant image, StyleCLIP's resize in matrix form against the literal resizeNearestNeighbor + avgPool, and the
 * gradient of the separable map.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { OptionError, ShapeMismatchError } from '../errors.js';
import { createGenerator, randn } from '../random.js';
import { clipPreprocess, clipResizeGeometry, OPENAI_CLIP_MEAN, OPENAI_CLIP_STD, styleClipResize } from './preprocess.js';
import { bicubicKernel, pilBicubicMatrix, upsamplePoolMatrix } from './resample.js';
import { availableBackends, useBackend } from './test-support.js';

describe('PIL bicubic coefficients', () => {
  it('the kernel (a = -0.5) at quarter offsets, by the Keys formula', () => {
    // (a+2)|t|³ - (a+3)|t|² + 1 for |t| < 1; a|t|³ - 5a|t|² + 8a|t| - 4a for 1 <= |t| < 2.
    expect([0.25, 0.75, 1.25, 1.75, 2].map(bicubicKernel)).toEqual([0.8671875, 0.2265625, -0.0703125, -0.0234375, 0]);
    expect(bicubicKernel(-0.75)).toBe(bicubicKernel(0.75));
  });

  it('upscaling by 2: interior rows are the kernel at -1.75, -0.75, 0.25, 1.25 (pixel-center alignment)', () => {
    const m = pilBicubicMatrix(8, 16);
    // Output 6 has center (6 + 0.5) / 2 = 3.25: taps 1..4 at distances (i + 0.5 - 3.25) = -1.75, -0.75, 0.25, 1.25.
    const row = Array.from(m.subarray(6 * 8, 7 * 8));
    expect(row.map((v) => Math.round(v * 1e7) / 1e7)).toEqual([0, -0.0234375, 0.2265625, 0.8671875, -0.0703125, 0, 0, 0]);
  });

  it('every row sums to 1 (taps outside the image renormalized), up and down', () => {
    for (const [i, o] of [[10, 4], [7, 7], [5, 13], [224, 64]] as const) {
      const m = pilBicubicMatrix(i, o);
      for (let r = 0; r < o; r++) expect(m.subarray(r * i, (r + 1) * i).reduce((a, b) => a + b)).toBeCloseTo(1, 6);
    }
  });

  it('downscaling widens the kernel (antialiasing): shrinking by 4 spans 16 input pixels', () => {
    const m = pilBicubicMatrix(64, 16);
    const nonzero = Array.from(m.subarray(8 * 64, 9 * 64)).filter((v) => v !== 0).length;
    expect(nonzero).toBe(16);
  });

  it('upscaling keeps a linear ramp linear away from the borders (Keys kernels reproduce linear functions)', () => {
    const [i, o] = [13, 20];
    const m = pilBicubicMatrix(i, o);
    for (let r = 3; r < o - 3; r++) {
      const value = Array.from({ length: i }, (_, k) => m[r * i + k]! * k).reduce((a, b) => a + b);
      expect(value).toBeCloseTo((r + 0.5) * (i / o) - 0.5, 5);
    }
  });
});

describe('upsamplePoolMatrix', () => {
  it('window o of kernel k over a ×f nearest upsampling covers pixel floor(j / f) for j in [o·k, (o+1)·k)', () => {
    const m = upsamplePoolMatrix(4, 3, 2); // 12 upsampled pixels, 6 windows
    const rows = Array.from({ length: 6 }, (_, o) => Array.from(m.subarray(o * 4, o * 4 + 4)));
    expect(rows).toEqual([[1, 0, 0, 0], [0.5, 0.5, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0.5, 0.5], [0, 0, 0, 1]]);
  });

  it('rejects a kernel larger than the upsampled size and non-integer sizes', () => {
    expect(() => upsamplePoolMatrix(2, 3, 7)).toThrow(OptionError);
    expect(() => upsamplePoolMatrix(2, 1.5, 2)).toThrow(OptionError);
  });
});

describe('clipResizeGeometry', () => {
  it("follows transformers: shortest side to size, long side truncated, crop offsets floored", () => {
    expect(clipResizeGeometry(480, 640, 224, 224)).toEqual({ height: 224, width: 298, top: 0, left: 37 });
    expect(clipResizeGeometry(300, 200, 224, 224)).toEqual({ height: 336, width: 224, top: 56, left: 0 });
    expect(clipResizeGeometry(100, 100, 224, 200)).toEqual({ height: 224, width: 224, top: 12, left: 12 });
  });

  it('rejects a crop larger than the resized image', () => {
    expect(() => clipResizeGeometry(100, 100, 224, 256)).toThrow(OptionError);
  });
});

describe.each(await availableBackends())('preprocessing tensors on %s', (backend) => {
  let before: number;
  beforeAll(async () => {
    await useBackend(backend);
    before = tf.memory().numTensors;
  });
  afterAll(() => expect(tf.memory().numTensors).toBe(before));

  it('clipPreprocess of a constant 0-255 image is (v / 255 - mean) / std everywhere, at the crop size', () => {
    const out = tf.tidy(() => {
      const img = tf.mul(tf.ones([2, 40, 60, 3]), tf.tensor1d([255, 128, 0]));
      const y = clipPreprocess(img, { size: 24, cropSize: 20 });
      expect(y.shape).toEqual([2, 20, 20, 3]);
      return Array.from(y.dataSync());
    });
    const want = [255, 128, 0].map((v, c) => (v / 255 - OPENAI_CLIP_MEAN[c]!) / OPENAI_CLIP_STD[c]!);
    out.forEach((v, i) => expect(v).toBeCloseTo(want[i % 3]!, 5));
  });

  it('clipPreprocess rejects a non-NHWC-RGB input and a non-positive std', () => {
    expect(() => tf.tidy(() => clipPreprocess(tf.zeros([1, 3, 32, 32])))).toThrow(ShapeMismatchError);
    expect(() => tf.tidy(() => clipPreprocess(tf.zeros([1, 32, 32, 3]), { std: [1, 0, 1] }))).toThrow(OptionError);
  });

  it("styleClipResize: the matrix form equals the literal upsample + avgpool, at StyleCLIP's default kernel", () => {
    tf.tidy(() => {
      const img = randn([2, 64, 64, 3], createGenerator(3));
      const a = styleClipResize(img);
      const b = styleClipResize(img, { impl: 'ref' });
      expect(a.shape).toEqual([2, 224, 224, 3]); // kernel 64 // 32 = 2: 64 · 7 / 2 = 224, CLIP's input size
      const diff = tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]!;
      expect(diff).toBeLessThan(1e-6);
    });
  });

  it('the gradient of sum(styleClipResize(x)) at pixel (i, j) is column-sum(H)[i] · column-sum(W)[j]', () => {
    const [h, w, f, k] = [6, 5, 3, 4];
    const got = tf.tidy(() => Array.from(tf.grad((x: tf.Tensor) => tf.sum(styleClipResize(x, { scaleFactor: f, kernel: k })))(tf.zeros([1, h, w, 1])).dataSync()));
    const colSum = (m: Float32Array, n: number) => Array.from({ length: n }, (_, i) => m.filter((_, idx) => idx % n === i).reduce((a, b) => a + b, 0));
    const [ch, cw] = [colSum(upsamplePoolMatrix(h, f, k), h), colSum(upsamplePoolMatrix(w, f, k), w)];
    got.forEach((g, idx) => expect(g).toBeCloseTo(ch[Math.floor(idx / w)]! * cw[idx % w]!, 6));
  });

  it('styleClipResize rejects a bad impl and non-4-D input', () => {
    expect(() => tf.tidy(() => styleClipResize(tf.zeros([8, 8, 3])))).toThrow(ShapeMismatchError);
    expect(() => tf.tidy(() => styleClipResize(tf.zeros([1, 64, 64, 3]), { impl: 'fast' as 'ref' }))).toThrow(OptionError);
  });
});
