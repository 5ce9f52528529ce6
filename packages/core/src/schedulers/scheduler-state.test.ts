/**
 * The explicit-state API: tensor ownership over whole loops (no leaks, also inside a caller's tf.tidy), consumed and
 * out-of-order states, typed errors for bad shapes and options, and the closed forms of addNoise, scaleModelInput,
 * DDIM's eta noise and dynamic thresholding.
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { beforeAll, describe, expect, it } from 'vitest';
import { OptionError, ShapeMismatchError } from '../errors.js';
import { createGenerator, randn } from '../random.js';
import { compareArrays } from '../fixtures/compare.js';
import { SCHEDULER_CLASS_NAMES, type SchedulerClassName } from './config.js';
import { SchedulerStateError } from './errors.js';
import { dynamicThreshold } from './prediction.js';
import { createScheduler } from './registry.js';
import type { Scheduler } from './types.js';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

const sd = { beta_schedule: 'scaled_linear', beta_start: 0.00085, beta_end: 0.012, steps_offset: 1, clip_sample: false } as const;
const shape: [number, number, number, number] = [2, 4, 4, 3];
const make = (cls: SchedulerClassName, extra: Record<string, unknown> = {}): Scheduler =>
  createScheduler({ _class_name: cls, ...sd, ...(cls === 'PNDMScheduler' ? { skip_prk_steps: true } : {}), ...extra });
const noise = (seed: number, s: number[] = shape) => randn(s, createGenerator(seed)) as tf.Tensor4D;
/** Step options that let a stochastic scheduler draw its noise (a seeded generator); none for the others. */
const drawOpts = (s: Scheduler, seed: number) => (s.stochastic ? { generator: createGenerator(seed) } : {});

function expectClose(actual: tf.Tensor | Float32Array, expected: ArrayLike<number>, atol: number, name: string): void {
  const a = actual instanceof tf.Tensor ? (actual.dataSync() as Float32Array) : actual;
  const r = compareArrays(a, Array.from(expected), { atol, rtol: 1e-6, name });
  expect(r.ok, r.message).toBe(true);
}

function thrown(fn: () => unknown): Error {
  try {
    fn();
  } catch (e) {
    return e as Error;
  }
  throw new Error('expected a throw');
}

/** A whole loop with random model outputs; `wrap` runs each step (e.g. inside the caller's tf.tidy). */
function loop(s: Scheduler, n: number, wrap: (f: () => tf.Tensor4D) => tf.Tensor4D = (f) => f()): void {
  const plan = s.setTimesteps(n);
  let x = tf.tidy(() => tf.mul(noise(1), plan.initNoiseSigma) as tf.Tensor4D);
  let state = s.initState(plan);
  for (let i = 0; i < plan.timesteps.length; i++) {
    const next = wrap(() => {
      const input = s.scaleModelInput(x, i, plan);
      const eps = tf.add(tf.mul(noise(100 + i), 0.5), tf.mul(input, 0.1)) as tf.Tensor4D;
      const out = s.step(eps, i, x, state, drawOpts(s, 200 + i));
      state = out.state;
      return out.prevSample;
    });
    x.dispose();
    x = next;
  }
  s.disposeState(state);
  x.dispose();
}

describe('tensor ownership over whole loops', () => {
  for (const cls of SCHEDULER_CLASS_NAMES) {
    it(`${cls}: a 12-step loop leaves tf.memory().numTensors unchanged, also with each step inside tf.tidy`, () => {
      const s = make(cls);
      const before = tf.memory().numTensors;
      // Without tidy every returned tensor is the caller's: dispose them all.
      const plan = s.setTimesteps(12);
      let x = noise(1);
      let state = s.initState(plan);
      for (let i = 0; i < plan.timesteps.length; i++) {
        const input = s.scaleModelInput(x, i, plan);
        const out = s.step(input, i, x, state, drawOpts(s, 300 + i));
        tf.dispose([input, x, out.predOriginalSample]);
        x = out.prevSample;
        state = out.state;
      }
      s.disposeState(state);
      x.dispose();
      expect(tf.memory().numTensors).toBe(before);
      // Inside tidy the state's tensors must survive the scope (they are kept) and still be freed at the end.
      loop(s, 12, (f) => tf.tidy(f));
      expect(tf.memory().numTensors).toBe(before);
    });
  }

  it('keepState leaves the input state live; both states are then disposed by the caller', () => {
    const s = make('DPMSolverMultistepScheduler');
    const before = tf.memory().numTensors;
    const plan = s.setTimesteps(10);
    const x = noise(2);
    const s0 = s.initState(plan);
    const a = s.step(x, 0, x, s0);
    const b1 = s.step(x, 1, x, a.state, { keepState: true });
    const half = tf.mul(x, 0.5) as tf.Tensor4D;
    const b2 = s.step(half, 1, x, a.state); // retry of step 1 from the same state
    expect(thrown(() => s.step(x, 1, x, a.state))).toBeInstanceOf(SchedulerStateError);
    s.disposeState(b1.state);
    s.disposeState(b2.state);
    s.disposeState(a.state); // consumed by b2: no-op
    tf.dispose([a.prevSample, a.predOriginalSample, b1.prevSample, b1.predOriginalSample, b2.prevSample, b2.predOriginalSample, x, half]);
    expect(tf.memory().numTensors).toBe(before);
  });
});

describe('state misuse is a SchedulerStateError', () => {
  it('reusing a consumed state, or one that was disposed', () => {
    for (const cls of SCHEDULER_CLASS_NAMES) {
      const s = make(cls);
      const plan = s.setTimesteps(5);
      const x = noise(3);
      const state = s.initState(plan);
      const out = s.step(x, 0, x, state, drawOpts(s, 5));
      const e = thrown(() => s.step(x, 1, x, state, drawOpts(s, 6)));
      expect(e, cls).toBeInstanceOf(SchedulerStateError);
      expect(e.message).toMatch(/consumed by step 0/);
      s.disposeState(out.state);
      expect(thrown(() => s.step(x, 1, x, out.state, drawOpts(s, 7))).message).toMatch(/disposed/);
      tf.dispose([x, out.prevSample, out.predOriginalSample]);
    }
  });

  it('multistep schedulers refuse steps out of order; DDIM and Euler take any step', () => {
    const x = noise(4);
    for (const cls of ['PNDMScheduler', 'LMSDiscreteScheduler', 'DPMSolverMultistepScheduler'] as const) {
      const s = make(cls);
      const state = s.initState(s.setTimesteps(5));
      expect(thrown(() => s.step(x, 2, x, state)).message, cls).toMatch(/ready for step 0, got stepIndex 2/);
      s.disposeState(state);
    }
    const ddim = make('DDIMScheduler');
    const out = ddim.step(x, 3, x, ddim.initState(ddim.setTimesteps(5)));
    tf.dispose([out.prevSample, out.predOriginalSample, x]);
  });

  it('a plan or state of another class, and img2img start indices', () => {
    const ddim = make('DDIMScheduler');
    const euler = make('EulerDiscreteScheduler');
    const x = noise(5);
    expect(thrown(() => euler.initState(ddim.setTimesteps(5)))).toBeInstanceOf(SchedulerStateError);
    expect(thrown(() => euler.scaleModelInput(x, 0, ddim.setTimesteps(5)))).toBeInstanceOf(SchedulerStateError);
    const ddimState = ddim.initState(ddim.setTimesteps(5));
    expect(thrown(() => euler.step(x, 0, x, ddimState as never))).toBeInstanceOf(SchedulerStateError);
    const lms = make('LMSDiscreteScheduler');
    const st = lms.initState(lms.setTimesteps(10), { startIndex: 4 });
    expect(st.nextStepIndex).toBe(4);
    const out = lms.step(x, 4, x, st);
    tf.dispose([out.prevSample, out.predOriginalSample, x]);
    lms.disposeState(out.state);
    expect(() => lms.initState(lms.setTimesteps(10), { startIndex: 10 })).toThrow(OptionError);
  });
});

describe('typed errors for bad inputs', () => {
  it('wrong sample ranks and shapes are ShapeMismatchErrors; bad dtypes, indices and options are OptionErrors', () => {
    const s = make('DDIMScheduler');
    const plan = s.setTimesteps(5);
    const x = noise(6);
    const rank3 = tf.zeros([4, 4, 3]);
    const other = tf.zeros([2, 4, 4, 4]) as tf.Tensor4D;
    const ints = tf.zeros(shape, 'int32') as tf.Tensor4D;
    const st = () => s.initState(plan);
    expect(thrown(() => s.step(x, 0, rank3 as tf.Tensor4D, st()))).toBeInstanceOf(ShapeMismatchError);
    expect(thrown(() => s.scaleModelInput(rank3 as tf.Tensor4D, 0, plan))).toBeInstanceOf(ShapeMismatchError);
    const e = thrown(() => s.step(other, 0, x, st()));
    expect(e).toBeInstanceOf(ShapeMismatchError);
    expect(e.message).toContain('modelOutput');
    expect(thrown(() => s.step(x, 0, x, st(), { eta: 1, noise: other }))).toBeInstanceOf(ShapeMismatchError);
    expect(thrown(() => s.step(ints, 0, ints, st()))).toBeInstanceOf(OptionError);
    expect(thrown(() => s.step(x, 5, x, st()))).toBeInstanceOf(OptionError);
    expect((thrown(() => s.step(x, 0, x, st(), { eta: 0.5 })) as OptionError).option).toBe('noise');
    expect((thrown(() => s.step(x, 0, x, st(), { noise: x })) as OptionError).option).toBe('noise');
    expect((thrown(() => s.step(x, 0, x, st(), { eta: -1 })) as OptionError).option).toBe('eta');
    const euler = make('EulerDiscreteScheduler');
    const ep = euler.setTimesteps(5);
    expect((thrown(() => euler.step(x, 0, x, euler.initState(ep), { eta: 0.5 })) as OptionError).option).toBe('eta');
    expect((thrown(() => euler.step(x, 0, x, euler.initState(ep), { sChurn: 1 })) as OptionError).option).toBe('noise');
    tf.dispose([x, rank3, other, ints]);
  });

  it('a multistep history of another latent size is a ShapeMismatchError', () => {
    const s = make('PNDMScheduler');
    const x = noise(7);
    const big = noise(8, [2, 8, 8, 3]);
    const out = s.step(x, 0, x, s.initState(s.setTimesteps(5)));
    expect(thrown(() => s.step(big, 1, big, out.state))).toBeInstanceOf(ShapeMismatchError);
    s.disposeState(out.state);
    tf.dispose([x, big, out.prevSample]);
  });
});

describe('closed forms', () => {
  it('addNoise: sqrt(ac) x0 + sqrt(1 - ac) eps per row (VP), x0 + sigma eps (Euler/LMS), alpha x0 + sigma_t eps (DPM)', () => {
    const x0 = noise(9);
    const eps = noise(10);
    const [xd, ed] = [x0.dataSync(), eps.dataSync()];
    const per = xd.length / shape[0];
    const expectRows = (t: tf.Tensor, coef: [number, number][], name: string) => {
      const want = Array.from(xd, (v, k) => coef[Math.floor(k / per)]![0] * v + coef[Math.floor(k / per)]![1] * ed[k]!);
      expectClose(t, want, 1e-5, name);
      t.dispose();
    };
    for (const cls of ['DDIMScheduler', 'DDIMInverseScheduler', 'PNDMScheduler'] as const) {
      const s = make(cls);
      const ac = s.schedule.alphasCumprod;
      expectRows(s.addNoise(x0, eps, [10, 700]), [[Math.sqrt(ac[10]!), Math.sqrt(1 - ac[10]!)], [Math.sqrt(ac[700]!), Math.sqrt(1 - ac[700]!)]], cls);
      expect(thrown(() => s.addNoise(x0, eps, 1000))).toBeInstanceOf(OptionError);
      expect(thrown(() => s.addNoise(x0, eps, [1, 2, 3]))).toBeInstanceOf(OptionError);
    }
    for (const cls of ['EulerDiscreteScheduler', 'LMSDiscreteScheduler'] as const) {
      const s = make(cls);
      const plan = s.setTimesteps(10);
      const [t3, t7] = [plan.timesteps[3]!, plan.timesteps[7]!];
      expectRows(s.addNoise(x0, eps, [t3, t7], plan), [[1, plan.sigmas![3]!], [1, plan.sigmas![7]!]], cls);
      expect((thrown(() => s.addNoise(x0, eps, t3)) as OptionError).option).toBe('plan');
      expect((thrown(() => s.addNoise(x0, eps, 123.5, plan)) as OptionError).option).toBe('timesteps');
    }
    const dpm = make('DPMSolverMultistepScheduler');
    const plan = dpm.setTimesteps(10);
    const vpOf = (sigma: number): [number, number] => [1 / Math.sqrt(sigma ** 2 + 1), sigma / Math.sqrt(sigma ** 2 + 1)];
    // A timestep not in the plan takes the last step's sigma (diffusers).
    expectRows(dpm.addNoise(x0, eps, [plan.timesteps[2]!, 12345], plan), [vpOf(plan.sigmas![2]!), vpOf(plan.sigmas![9]!)], 'DPM');
    tf.dispose([x0, eps]);
  });

  it('scaleModelInput: x / sqrt(sigma^2 + 1) for Euler/Euler-a/Heun/LMS, a new tensor equal to x otherwise', () => {
    const x = noise(11);
    for (const cls of SCHEDULER_CLASS_NAMES) {
      const s = make(cls);
      const plan = s.setTimesteps(10);
      const y = s.scaleModelInput(x, 2, plan);
      expect(y).not.toBe(x);
      // The k-diffusion-style samplers take x / sqrt(sigma^2 + 1); the VP ones (DPM-Solver and UniPC have sigmas too) take x.
      const kSamplers: readonly string[] = ['EulerDiscreteScheduler', 'EulerAncestralDiscreteScheduler', 'HeunDiscreteScheduler', 'LMSDiscreteScheduler'];
      const c = kSamplers.includes(cls) ? 1 / Math.sqrt(plan.sigmas![2]! ** 2 + 1) : 1;
      expectClose(y, Array.from(x.dataSync(), (v) => v * c), 1e-6, cls);
      y.dispose();
    }
    x.dispose();
  });

  it('DDIM with eta > 0 adds sigma_t(eta) times the supplied noise (DDIM eq. 12, 16)', () => {
    const s = make('DDIMScheduler', { set_alpha_to_one: false });
    const plan = s.setTimesteps(10);
    const [x, mo, z] = [noise(12), noise(13), noise(14)];
    const eta = 0.7;
    const out = s.step(mo, 4, x, s.initState(plan), { eta, noise: z });
    const t = plan.timesteps[4]!;
    const [a, ap] = [s.schedule.alphasCumprod[t]!, s.schedule.alphasCumprod[t - 100]!];
    const std = eta * Math.sqrt(((1 - ap) / (1 - a)) * (1 - a / ap));
    const [xd, md, zd] = [x.dataSync(), mo.dataSync(), z.dataSync()];
    const want = Array.from(xd, (v, k) => {
      const x0 = (v - Math.sqrt(1 - a) * md[k]!) / Math.sqrt(a);
      return Math.sqrt(ap) * x0 + Math.sqrt(1 - ap - std * std) * md[k]! + std * zd[k]!;
    });
    expectClose(out.prevSample, want, 2e-5, 'DDIM eta');
    tf.dispose([x, mo, z, out.prevSample, out.predOriginalSample]);
  });

  it('Euler churn: x^ = x + sqrt(sigma_hat^2 - sigma^2) s_noise z, then an Euler step from sigma_hat (Karras Alg. 2)', () => {
    const s = make('EulerDiscreteScheduler');
    const plan = s.setTimesteps(10);
    const [x, mo, z] = [noise(17), noise(18), noise(19)];
    const [sChurn, sNoise, i] = [3, 0.9, 2];
    const sigma = plan.sigmas![i]!;
    const gamma = Math.min(sChurn / (plan.sigmas!.length - 1), Math.SQRT2 - 1);
    const sigmaHat = sigma * (gamma + 1);
    const out = s.step(mo, i, x, s.initState(plan), { sChurn, sNoise, noise: z });
    const [xd, md, zd] = [x.dataSync(), mo.dataSync(), z.dataSync()];
    const xHat = Array.from(xd, (v, k) => v + Math.sqrt(sigmaHat ** 2 - sigma ** 2) * sNoise * zd[k]!);
    expectClose(out.predOriginalSample!, xHat.map((v, k) => v - sigmaHat * md[k]!), 2e-5, 'churn x0');
    expectClose(out.prevSample, xHat.map((v, k) => v + (plan.sigmas![i + 1]! - sigmaHat) * md[k]!), 2e-5, 'churn step');
    tf.dispose([x, mo, z, out.prevSample, out.predOriginalSample]);
  });

  it('PNDM v_prediction: the first step with the true v lands on the (x0, eps) line at t - T/N', () => {
    const s = make('PNDMScheduler', { prediction_type: 'v_prediction' });
    const plan = s.setTimesteps(10);
    const [x0, eps] = [noise(20), noise(21)];
    const ac = s.schedule.alphasCumprod;
    const [a, ap] = [ac[plan.timesteps[0]!]!, ac[plan.timesteps[0]! - 100]!];
    const [x0d, ed] = [x0.dataSync(), eps.dataSync()];
    const x = tf.tensor4d(Array.from(x0d, (v, k) => Math.sqrt(a) * v + Math.sqrt(1 - a) * ed[k]!), shape);
    const v = tf.tensor4d(Array.from(x0d, (v, k) => Math.sqrt(a) * ed[k]! - Math.sqrt(1 - a) * v), shape);
    const out = s.step(v, 0, x, s.initState(plan));
    expectClose(out.prevSample, Array.from(x0d, (v, k) => Math.sqrt(ap) * v + Math.sqrt(1 - ap) * ed[k]!), 2e-5, 'PNDM v');
    s.disposeState(out.state);
    tf.dispose([x0, eps, x, v, out.prevSample]);
  });

  it('dynamic thresholding clamps to the per-row quantile s (1 <= s <= sample_max_value) and divides by s', () => {
    // Row 0: |x| = 0, 0.1, ..., 10 (101 values): the 0.9 quantile is 9. Row 1: all |x| <= 0.5, so s = 1.
    const row0 = Array.from({ length: 101 }, (_, k) => (k % 2 ? -1 : 1) * k / 10);
    const row1 = Array.from({ length: 101 }, (_, k) => (k / 101) * 0.5);
    const x = tf.tensor4d([...row0, ...row1], [2, 1, 1, 101]);
    const check = (maxValue: number, s0: number) => {
      const y = tf.tidy(() => dynamicThreshold(x, 0.9, maxValue));
      expectClose(y, [...row0.map((v) => Math.max(-s0, Math.min(s0, v)) / s0), ...row1], 1e-6, `threshold max ${maxValue}`);
      y.dispose();
    };
    check(20, 9);
    check(5, 5);
    x.dispose();
  });

  it('clip_sample clamps the predicted x0 to +-clip_sample_range', () => {
    const s = make('DDIMScheduler', { clip_sample: true, clip_sample_range: 0.5, prediction_type: 'sample' });
    const x = noise(15);
    const mo = tf.mul(noise(16), 3) as tf.Tensor4D;
    const out = s.step(mo, 0, x, s.initState(s.setTimesteps(5)));
    expectClose(out.predOriginalSample!, Array.from(mo.dataSync(), (v) => Math.max(-0.5, Math.min(0.5, v))), 0, 'clip');
    tf.dispose([x, mo, out.prevSample, out.predOriginalSample]);
  });
});
