/**
 * Modulated conv and the reference upfirdn2d: closed forms (identity filter, zero insertion, decimation, impulse
 * response = the filter, constant images stay constant through upsample2d), the demodulation identity (unit
 * output-channel norm of the effective per-sample kernel), and finite-difference gradient checks (style.md 3.8.7)
 * of `modulatedConv2d` with respect to the activations and the styles, for the plain, upsampling and ToRGB
 * variants, on cpu and the default backend.
 */
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../backend/index.js';
import { createGenerator, randn } from '../random.js';
import { demodCoefficients, modulatedConv2d, type ModulatedConvOptions } from './modulated-conv.js';
import { resampleFilter2d } from './params.js';
import { firFilter2d, firUpsample2d, upfirdn2d } from './resample.js';

const fir = () => tf.tensor2d(resampleFilter2d([1, 3, 3, 1]), [4, 4]);

describe.each([
  { label: 'cpu', init: () => initBackend({ backend: 'cpu' }) },
  { label: 'default backend', init: () => initBackend() },
])('upfirdn2d / modulatedConv2d on $label', ({ init }) => {
  beforeAll(async () => {
    await init();
  });

  it('upfirdn2d closed forms', () => {
    tf.tidy(() => {
      const x = tf.tensor4d(Array.from({ length: 16 }, (_, i) => i), [1, 4, 4, 1]);
      const one = tf.tensor2d([[1]]);
      expect(upfirdn2d(x, one).arraySync()).toEqual(x.arraySync());
      expect(upfirdn2d(x, one, { down: 2 }).dataSync()).toEqual(Float32Array.from([0, 2, 8, 10]));
      const up = upfirdn2d(tf.tensor4d([1, 2, 3, 4], [1, 2, 2, 1]), one, { up: 2 });
      expect(up.dataSync()).toEqual(Float32Array.from([1, 0, 2, 0, 0, 0, 0, 0, 3, 0, 4, 0, 0, 0, 0, 0]));
      // impulse response of a convolution is the filter itself; correlation (flipFilter) gives it reversed
      const impulse = tf.tensor4d([1], [1, 1, 1, 1]);
      const f = tf.tensor2d([[1, 2, 3]]);
      expect(upfirdn2d(impulse, f, { padding: [2, 2, 0, 0] }).dataSync()).toEqual(Float32Array.from([1, 2, 3]));
      expect(upfirdn2d(impulse, f, { padding: [2, 2, 0, 0], flipFilter: true }).dataSync()).toEqual(Float32Array.from([3, 2, 1]));
      // cropping with negative padding
      expect(upfirdn2d(x, one, { padding: [-1, 0, -2, -1] }).shape).toEqual([1, 1, 3, 1]);
      // a constant image stays constant through upsample2d (gain up² with a normalized filter)
      const c = firUpsample2d(tf.fill([1, 6, 6, 2], 1.5) as tf.Tensor4D, fir());
      expect(c.shape).toEqual([1, 12, 12, 2]);
      const inner = tf.slice(c, [0, 2, 2, 0], [1, 8, 8, 2]).dataSync();
      for (const v of inner) expect(v).toBeCloseTo(1.5, 5);
      // firFilter2d keeps the size and, with a normalized filter, a constant interior
      const g = firFilter2d(tf.fill([1, 6, 6, 1], 2) as tf.Tensor4D, fir());
      expect(g.shape).toEqual([1, 6, 6, 1]);
      expect(tf.slice(g, [0, 2, 2, 0], [1, 2, 2, 1]).dataSync()).toEqual(Float32Array.from([2, 2, 2, 2]));
    });
  });

  it('demodulation gives every output channel of the per-sample kernel unit norm (up to ε)', () => {
    tf.tidy(() => {
      const gen = createGenerator(11);
      const w = randn([3, 3, 5, 4], gen) as tf.Tensor4D;
      const s = randn([2, 5], gen) as tf.Tensor2D;
      const d = demodCoefficients(w, s).arraySync();
      const wv = w.arraySync();
      const sv = s.arraySync();
      for (let b = 0; b < 2; b++) for (let o = 0; o < 4; o++) {
        let sum = 0;
        for (let kh = 0; kh < 3; kh++) for (let kw = 0; kw < 3; kw++) for (let i = 0; i < 5; i++) sum += (wv[kh]![kw]![i]![o]! * sv[b]![i]! * d[b]![o]!) ** 2;
        expect(sum).toBeCloseTo(1, 5);
      }
    });
  });

  const variants: [string, ModulatedConvOptions, number][] = [
    ['3x3 demodulated', {}, 3],
    ['3x3 upsampling x2', { up: 2 }, 3],
    ['1x1 ToRGB (no demodulation)', { demodulate: false }, 1],
  ];
  it.each(variants)('finite-difference gradient check: %s', (_name, opts, k) => {
    const before = tf.memory().numTensors;
    tf.tidy(() => {
      const gen = createGenerator(5);
      const x = randn([2, 5, 5, 3], gen) as tf.Tensor4D;
      const w = randn([k, k, 3, 4], gen) as tf.Tensor4D;
      const s = tf.add(randn([2, 3], gen), 1) as tf.Tensor2D;
      const o = { ...opts, resampleFilter: opts.up ? fir() : undefined };
      const outShape = modulatedConv2d(x, w, s, o).shape;
      const r = randn(outShape, gen);
      const loss = (xx: tf.Tensor, ss: tf.Tensor) => tf.sum(tf.mul(modulatedConv2d(xx as tf.Tensor4D, w, ss as tf.Tensor2D, o), r));
      const [gx, gs] = tf.grads(loss)([x, s]);
      // directional derivatives along random directions, central differences (float32: ε = 1e-2)
      for (let trial = 0; trial < 3; trial++) {
        const vx = randn(x.shape, gen);
        const vs = randn(s.shape, gen);
        const eps = 1e-2;
        const fd = (loss(tf.add(x, tf.mul(vx, eps)), tf.add(s, tf.mul(vs, eps))).dataSync()[0]!
          - loss(tf.sub(x, tf.mul(vx, eps)), tf.sub(s, tf.mul(vs, eps))).dataSync()[0]!) / (2 * eps);
        const analytic = tf.add(tf.sum(tf.mul(gx!, vx)), tf.sum(tf.mul(gs!, vs))).dataSync()[0]!;
        expect(Math.abs(fd - analytic), `fd ${fd} vs analytic ${analytic}`).toBeLessThan(2e-3 * Math.max(1, Math.abs(analytic)));
      }
    });
    expect(tf.memory().numTensors).toBe(before);
  });
});
