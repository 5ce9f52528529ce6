/**
 * Ranger's math, on cpu, against its definition: the RAdam schedule (closed forms and properties over random
 * betas), gradient centralisation (zero-mean output rows, idempotent, the removed part constant per row), whole
 * steps against an independent float64 re-derivation over random shapes, gradients and hyper-parameters (through
 * the un-rectified steps, the switch to rectified ones and several Lookahead syncs), Lookahead syncing every k
 * steps, zero gradients leaving parameters bit-identical, snapshot/restore resuming exactly, typed option errors
 * and no tensor leaks; plus Adam's weight decay and options.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { createGenerator, OptionError } from '@semedit/core';
import { initBackend } from '@semedit/core/backend';
import { Adam } from './adam.js';
import { centralizeGradient, Ranger, rangerSchedule, type RangerOptions } from './ranger.js';

beforeAll(async () => {
  await initBackend({ backend: 'cpu' });
});

const close = (a: number, b: number, tol: number) => Math.abs(a - b) <= tol * (1 + Math.abs(b));

/**
 * Independent float64 Ranger over flat arrays: a matrix `rows × cols` in PyTorch layout (row r = elements
 * [r·cols, (r+1)·cols)) when `rows` is given, else a vector.
 */
function referenceRanger(p0: number[], rows: number | undefined, gradsPerStep: number[][], lr: number, o: Required<Omit<RangerOptions, 'outputAxis'>>) {
  const p = [...p0];
  const slow = [...p0];
  const m = p0.map(() => 0);
  const v = p0.map(() => 0);
  const cols = p0.length / (rows ?? 1);
  gradsPerStep.forEach((raw, i) => {
    const t = i + 1;
    let g = [...raw];
    if (o.useGc && rows !== undefined && !o.gcConvOnly) {
      g = g.map((x, j) => {
        const r = Math.floor(j / cols);
        let s = 0;
        for (let c = 0; c < cols; c++) s += raw[r * cols + c]!;
        return x - s / cols;
      });
    }
    const rhoInf = 2 / (1 - o.beta2) - 1;
    const rho = rhoInf - (2 * t * o.beta2 ** t) / (1 - o.beta2 ** t);
    for (let j = 0; j < p.length; j++) {
      v[j] = o.beta2 * v[j]! + (1 - o.beta2) * g[j]! * g[j]!;
      m[j] = o.beta1 * m[j]! + (1 - o.beta1) * g[j]!;
      p[j] = p[j]! - lr * o.weightDecay * p[j]!;
      if (rho > o.nSmaThreshold) {
        const r = Math.sqrt(((1 - o.beta2 ** t) * (rho - 4) * (rho - 2) * rhoInf) / ((rhoInf - 4) * (rhoInf - 2) * rho));
        p[j] = p[j]! - (lr * r) / (1 - o.beta1 ** t) * (m[j]! / (Math.sqrt(v[j]!) + o.eps));
      } else {
        p[j] = p[j]! - (lr / (1 - o.beta1 ** t)) * m[j]!;
      }
      if (t % o.k === 0) {
        slow[j] = slow[j]! + o.alpha * (p[j]! - slow[j]!);
        p[j] = slow[j]!;
      }
    }
  });
  return { p, m, v, slow };
}

describe('rangerSchedule (RAdam rectification)', () => {
  it('closed forms: step 1 is momentum SGD with 1/(1-beta1); rho_1 = 1; rho tends to rho_inf', () => {
    const g = createGenerator(1);
    for (let trial = 0; trial < 50; trial++) {
      const [u1, u2] = g.uniform(2);
      const beta1 = 0.5 + 0.49 * u1!;
      const beta2 = 0.9 + 0.0999 * u2!;
      const s1 = rangerSchedule(1, { beta1, beta2 });
      expect(close(s1.nSma, 1, 1e-9)).toBe(true);
      expect(s1.rectified).toBe(false);
      expect(close(s1.stepSize, 1 / (1 - beta1), 1e-12)).toBe(true);
      const rhoInf = 2 / (1 - beta2) - 1;
      expect(rangerSchedule(100_000, { beta1, beta2 }).nSma).toBeCloseTo(rhoInf, 6);
    }
  });

  it('property: rho increases with t, and the branch is rectified exactly when rho exceeds the threshold', () => {
    const g = createGenerator(2);
    for (let trial = 0; trial < 30; trial++) {
      const [u1, u2, u3] = g.uniform(3);
      const opts = { beta1: 0.8 + 0.19 * u1!, beta2: 0.99 + 0.0099 * u2!, nSmaThreshold: 4 + 4 * u3! };
      let prev = -Infinity;
      for (let t = 1; t <= 40; t++) {
        const s = rangerSchedule(t, opts);
        expect(s.nSma).toBeGreaterThan(prev);
        expect(s.rectified).toBe(s.nSma > opts.nSmaThreshold);
        expect(s.stepSize).toBeGreaterThan(0);
        prev = s.nSma;
      }
    }
  });

  it('property: Lookahead syncs exactly at the multiples of k', () => {
    for (let k = 1; k <= 9; k++) {
      for (let t = 1; t <= 30; t++) expect(rangerSchedule(t, { k }).lookahead).toBe(t % k === 0);
    }
  });

  it('refuses a step count that is not a positive integer and bad hyper-parameters with OptionError', () => {
    for (const t of [0, -1, 1.5, NaN]) expect(() => rangerSchedule(t)).toThrow(OptionError);
    for (const o of [{ beta1: 1 }, { beta2: -0.1 }, { k: 0 }, { k: 2.5 }, { alpha: 2 }, { eps: -1 }, { weightDecay: -1 }, { nSmaThreshold: NaN }] as RangerOptions[]) {
      expect(() => rangerSchedule(1, o)).toThrow(OptionError);
    }
  });
});

describe('centralizeGradient', () => {
  it('property: every output row has zero mean, centralising twice changes nothing, and the removed part is constant per row', () => {
    const g = createGenerator(3);
    for (let trial = 0; trial < 25; trial++) {
      const [u1, u2, u3] = g.uniform(3);
      const shape = [1 + Math.floor(6 * u1!), 1 + Math.floor(6 * u2!), 1 + Math.floor(3 * u3!)];
      const axis = trial % shape.length;
      const x = tf.tensor(g.normal(shape.reduce((a, b) => a * b, 1)).map((v) => 5 * v + 3), shape);
      const c = centralizeGradient(x, axis);
      const others = shape.map((_, i) => i).filter((i) => i !== axis);
      const rowMeans = tf.tidy(() => tf.mean(c, others).dataSync());
      for (const v of rowMeans) expect(Math.abs(v)).toBeLessThan(1e-5);
      const twice = centralizeGradient(c, axis);
      const diff = tf.tidy(() => tf.max(tf.abs(tf.sub(twice, c))).dataSync()[0]!);
      expect(diff).toBeLessThan(1e-5);
      const spread = tf.tidy(() => {
        const removed = tf.sub(x, c);
        return tf.max(tf.sub(tf.max(removed, others), tf.min(removed, others))).dataSync()[0]!;
      });
      expect(spread).toBeLessThan(1e-5);
      tf.dispose([x, c, twice]);
    }
  });

  it('leaves rank-1 gradients unchanged and refuses an axis the gradient does not have', () => {
    const b = tf.tensor1d([1, 2, 3]);
    const c = centralizeGradient(b, 0);
    expect(Array.from(c.dataSync())).toEqual([1, 2, 3]);
    const w = tf.zeros([2, 2]);
    expect(() => centralizeGradient(w, 2)).toThrow(OptionError);
    tf.dispose([b, c, w]);
  });
});

describe('Ranger steps', () => {
  it('property: random shapes, gradients and hyper-parameters match a float64 re-derivation over 14 steps', () => {
    const g = createGenerator(4);
    for (let trial = 0; trial < 12; trial++) {
      const [u1, u2, u3, u4, u5, u6] = g.uniform(6);
      const rows = 1 + Math.floor(5 * u1!);
      const cols = 1 + Math.floor(5 * u2!);
      const o = {
        beta1: 0.8 + 0.15 * u3!, beta2: 0.99 + 0.009 * u4!, eps: 1e-5, alpha: 0.3 + 0.5 * u5!, k: 2 + Math.floor(5 * u6!),
        nSmaThreshold: 5, useGc: trial % 3 !== 0, gcConvOnly: false, weightDecay: trial % 4 === 1 ? 0.01 : 0,
      };
      const lr = 0.05;
      const w0 = g.normal(rows * cols);
      const b0 = g.normal(cols);
      const w = tf.variable(tf.tensor2d(w0, [rows, cols]));
      const b = tf.variable(tf.tensor1d(b0));
      const opt = new Ranger(new Map<string, tf.Variable>([['w', w], ['b', b]]), o);
      const gw: number[][] = [];
      const gb: number[][] = [];
      const before = tf.memory().numTensors;
      for (let t = 0; t < 14; t++) {
        gw.push(Array.from(g.normal(rows * cols)));
        gb.push(Array.from(g.normal(cols)));
        const grads = new Map<string, tf.Tensor>([['w', tf.tensor2d(gw[t]!, [rows, cols])], ['b', tf.tensor1d(gb[t]!)]]);
        opt.step(grads, lr);
        tf.dispose([...grads.values()]);
      }
      expect(tf.memory().numTensors).toBe(before);
      const ew = referenceRanger(Array.from(w0), rows, gw, lr, o);
      const eb = referenceRanger(Array.from(b0), undefined, gb, lr, o);
      const check = (actual: tf.Tensor, expected: number[], tol: number) =>
        Array.from(actual.dataSync()).forEach((a, i) => expect(close(a, expected[i]!, tol), `${a} vs ${expected[i]}`).toBe(true));
      check(w, ew.p, 1e-4);
      check(b, eb.p, 1e-4);
      check(opt.stateTensors('w')['exp_avg']!, ew.m, 1e-4);
      check(opt.stateTensors('w')['exp_avg_sq']!, ew.v, 1e-4);
      check(opt.stateTensors('w')['slow_buffer']!, ew.slow, 1e-4);
      opt.dispose();
      tf.dispose([w, b]);
    }
  });

  it('property: Lookahead — after a step that is a multiple of k the parameter equals the slow buffer, which stays put in between', () => {
    const g = createGenerator(5);
    const k = 4;
    const p = tf.variable(tf.tensor2d(g.normal(12), [3, 4]));
    const opt = new Ranger(new Map([['p', p]]), { k });
    let slowAtSync = Array.from(p.dataSync());
    for (let t = 1; t <= 3 * k; t++) {
      const grad = tf.tensor2d(g.normal(12), [3, 4]);
      opt.step(new Map([['p', grad]]), 0.1);
      grad.dispose();
      const slow = Array.from(opt.stateTensors('p')['slow_buffer']!.dataSync());
      if (t % k === 0) {
        expect(Array.from(p.dataSync())).toEqual(slow);
        slowAtSync = slow;
      } else {
        expect(slow).toEqual(slowAtSync);
        expect(Array.from(p.dataSync())).not.toEqual(slow);
      }
    }
    opt.dispose();
    p.dispose();
  });

  it('property: with centralisation the first moment of a weight has zero-mean rows (PyTorch layout and [in, out] layout)', () => {
    const g = createGenerator(6);
    for (const layout of ['torch', 'inOut'] as const) {
      const p = tf.variable(tf.tensor2d(g.normal(20), [4, 5]));
      const opt = new Ranger(new Map([['p', p]]), layout === 'torch' ? {} : { outputAxis: () => 1 });
      for (let t = 0; t < 3; t++) {
        const grad = tf.tensor2d(g.normal(20).map((v) => v + 2), [4, 5]);
        opt.step(new Map([['p', grad]]), 0.1);
        grad.dispose();
      }
      const means = tf.tidy(() => tf.mean(opt.stateTensors('p')['exp_avg']!, layout === 'torch' ? 1 : 0).dataSync());
      for (const v of means) expect(Math.abs(v)).toBeLessThan(1e-6);
      opt.dispose();
      p.dispose();
    }
  });

  it('zero gradients leave parameters bit-identical through every branch and sync', () => {
    const init = createGenerator(7).normal(6).map((v) => 300 * v);
    const p = tf.variable(tf.tensor2d(init, [2, 3]));
    const opt = new Ranger(new Map([['p', p]]));
    const zero = tf.zeros([2, 3]);
    for (let t = 0; t < 13; t++) opt.step(new Map([['p', zero]]), 0.5);
    expect(Array.from(p.dataSync())).toEqual(Array.from(init));
    opt.dispose();
    tf.dispose([p, zero]);
  });

  it('snapshot/restore resumes exactly (Lookahead phase included); typed errors for a missing gradient or a bad snapshot', () => {
    const g = createGenerator(8);
    const init = g.normal(8);
    const grads = Array.from({ length: 9 }, () => tf.tensor2d(g.normal(8), [2, 4]));
    const a = tf.variable(tf.tensor2d(init, [2, 4]));
    const full = new Ranger(new Map([['p', a]]), { k: 3 });
    grads.forEach((x) => full.step(new Map([['p', x]]), 0.2));
    const b = tf.variable(tf.tensor2d(init, [2, 4]));
    const first = new Ranger(new Map([['p', b]]), { k: 3 });
    grads.slice(0, 4).forEach((x) => first.step(new Map([['p', x]]), 0.2));
    const saved = first.snapshot();
    first.dispose();
    const second = new Ranger(new Map([['p', b]]), { k: 3 });
    second.restore(saved);
    expect(second.stepCount).toBe(4);
    grads.slice(4).forEach((x) => second.step(new Map([['p', x]]), 0.2));
    expect(Array.from(b.dataSync())).toEqual(Array.from(a.dataSync()));
    expect(() => second.step(new Map(), 0.2)).toThrow(OptionError);
    expect(() => second.step(new Map([['p', grads[0]!]]), NaN)).toThrow(OptionError);
    expect(() => second.restore({ step: 1, buffers: { m: saved.buffers['m']!, v: saved.buffers['v']! } })).toThrow(/slow/);
    expect(() => second.stateTensors('q')).toThrow(OptionError);
    full.dispose();
    second.dispose();
    tf.dispose([a, b, ...grads]);
  });
});

describe('Adam options', () => {
  it('weight decay adds wd·p to the gradient (PyTorch L2); amsgrad and bad betas are refused', () => {
    const p = tf.variable(tf.tensor1d([2, -1]));
    const q = tf.variable(tf.tensor1d([2, -1]));
    const g = tf.tensor1d([0.5, 0.25]);
    const decayed = new Adam(new Map([['p', p]]), { weightDecay: 0.1 });
    const plain = new Adam(new Map([['p', q]]));
    const gPlusDecay = tf.tensor1d([0.5 + 0.2, 0.25 - 0.1]);
    decayed.step(new Map([['p', g]]), 0.1);
    plain.step(new Map([['p', gPlusDecay]]), 0.1);
    Array.from(p.dataSync()).forEach((v, i) => expect(v).toBeCloseTo(q.dataSync()[i]!, 6));
    expect(Array.from(decayed.stateTensors('p')['exp_avg']!.dataSync())).toEqual(Array.from(plain.stateTensors('p')['exp_avg']!.dataSync()));
    expect(() => new Adam(new Map([['p', p]]), { amsgrad: true })).toThrow(OptionError);
    expect(() => new Adam(new Map([['p', p]]), { beta1: 1 })).toThrow(OptionError);
    const s = decayed.snapshot();
    plain.restore(s);
    expect(plain.stepCount).toBe(1);
    decayed.dispose();
    plain.dispose();
    tf.dispose([p, q, g, gPlusDecay]);
  });
});
