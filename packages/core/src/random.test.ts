import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { beforeAll, describe, expect, it } from 'vitest';
import { OptionError } from './errors.js';
import { createGenerator, RandomGenerator, philox4x32, randn, randu } from './random.js';
import type { RandomGeneratorState } from './random.js';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

const hex = (a: Uint32Array | number[]) => Array.from(a, (x) => x.toString(16).padStart(8, '0'));

describe('Philox4x32-10 core', () => {
  // Random123 tests/kat_vectors, "philox4x32 10" lines: counter (4 words), key (2 words) -> expected (4 words).
  it.each([
    [[0, 0, 0, 0], [0, 0], ['6627e8d5', 'e169c58d', 'bc57ac4c', '9b00dbd8']],
    [[0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff], [0xffffffff, 0xffffffff], ['408f276d', '41c83b0e', 'a20bc7c6', '6d5451fd']],
    [[0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344], [0xa4093822, 0x299f31d0], ['d16cfe09', '94fdcceb', '5001e420', '24126ea1']],
  ])('matches the Random123 known-answer vector for counter %j key %j', (ctr, key, want) => {
    expect(hex(philox4x32(ctr, key))).toEqual(want);
  });

  it('draws block b = philox([b mod 2^32, b / 2^32, 0, 0], seed key) in order', () => {
    const gen = createGenerator(0);
    const first8 = Array.from({ length: 8 }, () => gen.nextUint32());
    expect(hex(first8.slice(0, 4))).toEqual(['6627e8d5', 'e169c58d', 'bc57ac4c', '9b00dbd8']);
    expect(first8.slice(4)).toEqual(Array.from(philox4x32([1, 0, 0, 0], [0, 0])));
    const big = createGenerator(5n * 2n ** 32n + 7n);
    expect(big.nextUint32()).toBe(philox4x32([0, 0, 0, 0], [7, 5])[0]);
    expect(createGenerator(5 * 2 ** 32 + 7).nextUint32()).toBe(philox4x32([0, 0, 0, 0], [7, 5])[0]);
  });

  it('rejects seeds that are not integers in range', () => {
    for (const bad of [-1, 1.5, NaN, 2 ** 53, -1n, 2n ** 64n]) expect(() => createGenerator(bad), String(bad)).toThrow(OptionError);
  });
});

describe('RandomGenerator streams', () => {
  it('gives the same numbers for the same seed and different ones for different seeds', () => {
    expect(createGenerator(42).normal(64)).toEqual(createGenerator(42).normal(64));
    expect(createGenerator(42).normal(64)).toEqual(createGenerator(42n).normal(64));
    const a = createGenerator(42).uniform(64);
    const b = createGenerator(43).uniform(64);
    expect(a.filter((v, i) => v === b[i]).length).toBeLessThan(2);
  });

  it('does not depend on how draws are split', () => {
    const g = createGenerator(9);
    const split = [...g.normal(3), ...g.normal(5), ...g.normal(1)];
    expect(split).toEqual(Array.from(createGenerator(9).normal(9)));
  });

  it('makes uniforms from the top 24 bits of each uint32: exact float32 values in [0, 1)', () => {
    const words = Array.from({ length: 1000 }, ((g) => () => g.nextUint32())(createGenerator(3)));
    const u = createGenerator(3).uniform(1000);
    expect(Array.from(u)).toEqual(words.map((w) => (w >>> 8) / 2 ** 24));
    expect(u.every((v) => v >= 0 && v < 1 && Number.isInteger(v * 2 ** 24))).toBe(true);
  });

  it('restores a saved state (mid-block and with a pending Box-Muller value), also through JSON', () => {
    const g = createGenerator(77);
    g.nextUint32();
    g.normal(3); // leaves a spare normal and a position that is not a multiple of 4
    const state = g.getState();
    expect(state.position % 4).not.toBe(0);
    expect(state.spareNormal).not.toBeNull();
    const cont = [...g.normal(7), ...g.uniform(5)];
    const h = createGenerator(0);
    h.setState(JSON.parse(JSON.stringify(state)) as RandomGeneratorState);
    expect([...h.normal(7), ...h.uniform(5)]).toEqual(cont);
    g.setState(state);
    expect([...g.normal(7), ...g.uniform(5)]).toEqual(cont);
  });

  it('rejects malformed states', () => {
    const g = createGenerator(1);
    const good = g.getState();
    for (const bad of [{ ...good, algorithm: 'mt19937' }, { ...good, key: [1] }, { ...good, position: -4 }, { ...good, spareNormal: NaN }, null]) {
      expect(() => g.setState(bad as unknown as RandomGeneratorState)).toThrow(OptionError);
    }
  });

  it('forks a generator keyed by the next two uint32, advancing the parent by two', () => {
    const parent = createGenerator(5);
    const twin = createGenerator(5);
    const child = parent.fork();
    const k0 = twin.nextUint32();
    const k1 = twin.nextUint32();
    expect(child.getState().key).toEqual([k0, k1]);
    expect(child.uniform(8)).toEqual(new RandomGenerator([k0, k1]).uniform(8));
    expect(parent.uniform(8)).toEqual(twin.uniform(8));
    expect(parent.fork().uniform(8)).not.toEqual(createGenerator(5).fork().uniform(8));
  });
});

describe('statistics (bounds from theory, fixed seeds)', () => {
  const N = 100_000;

  it('normals: mean within 5 standard errors of 0, variance within 5 standard errors of 1', () => {
    const z = createGenerator(2024).normal(N);
    let sum = 0;
    for (const v of z) sum += v;
    const mean = sum / N;
    let ss = 0;
    for (const v of z) ss += (v - mean) ** 2;
    const variance = ss / (N - 1);
    expect(Math.abs(mean)).toBeLessThan(5 / Math.sqrt(N)); // SE(mean) = sigma / sqrt(N)
    expect(Math.abs(variance - 1)).toBeLessThan(5 * Math.sqrt(2 / (N - 1))); // SE(s^2) = sigma^2 sqrt(2 / (N - 1))
  });

  /** Kolmogorov-Smirnov statistic of a sample against a continuous CDF. */
  function ksStatistic(sample: Float32Array, cdf: (x: number) => number): number {
    const s = Float64Array.from(sample).sort();
    let d = 0;
    s.forEach((x, i) => {
      const f = cdf(x);
      d = Math.max(d, (i + 1) / s.length - f, f - i / s.length);
    });
    return d;
  }
  // Asymptotic KS critical value at significance alpha: sqrt(-ln(alpha / 2) / 2) / sqrt(N).
  const ksCritical = (alpha: number) => Math.sqrt(-Math.log(alpha / 2) / 2) / Math.sqrt(N);

  it('uniforms: Kolmogorov-Smirnov statistic below the alpha = 0.001 critical value', () => {
    const d = ksStatistic(createGenerator(11).uniform(N), (x) => Math.min(Math.max(x, 0), 1));
    expect(d).toBeLessThan(ksCritical(0.001));
  });

  it('normals: Kolmogorov-Smirnov statistic against Phi below the alpha = 0.001 critical value', () => {
    // Phi through erf, Abramowitz & Stegun 7.1.26 (|error| < 1.5e-7, far below the critical value ~0.006).
    const erf = (x: number) => {
      const t = 1 / (1 + 0.3275911 * Math.abs(x));
      const y = 1 - ((((1.061405429 * t - 1.453152027) * t + 1.421413741) * t - 0.284496736) * t + 0.254829592) * t * Math.exp(-x * x);
      return x >= 0 ? y : -y;
    };
    const d = ksStatistic(createGenerator(12).normal(N), (x) => 0.5 * (1 + erf(x / Math.SQRT2)));
    expect(d).toBeLessThan(ksCritical(0.001));
  });

  it('uniforms: chi-square over 16 equal bins below the alpha = 0.001 critical value (15 dof)', () => {
    const bins = new Array<number>(16).fill(0);
    for (const u of createGenerator(13).uniform(N)) bins[Math.floor(u * 16)]!++;
    const expected = N / 16;
    const chi2 = bins.reduce((acc, o) => acc + (o - expected) ** 2 / expected, 0);
    // Wilson-Hilferty: chi2_{k, 1-alpha} ~ k (1 - 2/(9k) + z sqrt(2/(9k)))^3, z_{0.999} = 3.0902 (tables: 37.70).
    const k = 15;
    const critical = k * (1 - 2 / (9 * k) + 3.0902 * Math.sqrt(2 / (9 * k))) ** 3;
    expect(critical).toBeCloseTo(37.7, 0);
    expect(chi2).toBeLessThan(critical);
  });
});

describe('tensor helpers', () => {
  it('randn fills a tensor with the generator stream, scaled by mean and std', () => {
    const before = tf.memory().numTensors;
    const t = randn([2, 3, 4], createGenerator(8), { mean: 1, std: 2 });
    expect(tf.memory().numTensors).toBe(before + 1);
    expect(t.shape).toEqual([2, 3, 4]);
    expect(t.dtype).toBe('float32');
    const ref = Array.from(createGenerator(8).normal(24), (z) => Math.fround(1 + 2 * z));
    expect(Array.from(t.dataSync())).toEqual(ref);
    t.dispose();
  });

  it('randu stays within [min, max) and rejects an empty range or a bad shape', () => {
    const t = randu([1000], createGenerator(4), { min: -3, max: 5 });
    const v = t.dataSync();
    expect(v.every((x) => x >= -3 && x < 5)).toBe(true);
    expect(Array.from(v)).toEqual(Array.from(createGenerator(4).uniform(1000), (u) => Math.fround(-3 + 8 * u)));
    t.dispose();
    expect(() => randu([2], createGenerator(1), { min: 1, max: 1 })).toThrow(OptionError);
    expect(() => randn([2, -1], createGenerator(1))).toThrow(OptionError);
  });
});
