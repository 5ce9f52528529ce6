/**
 * Closed-form properties of the samplers, with toy denoisers instead of a UNet:
 * - a denoiser that returns the true noise (or true v, or true x₀) of a known (x₀, ε) keeps every sampler exactly on
 *   the line x = √ᾱ x₀ + √(1 − ᾱ) ε (VP) or x = x₀ + σ ε (σ scale), so each step lands on a known point and the loop
 *   recovers x₀;
 * - DDIM inversion followed by DDIM sampling with the same exact denoiser returns the start;
 * - DPM-Solver++ of order 1 is DDIM with η = 0 (Lu et al. 2022);
 * - LMS coefficients integrate the Lagrange basis: they sum to σ_{i+1} − σ_i and order 1 is the Euler step.
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { beforeAll, describe, expect, it } from 'vitest';
import { createGenerator, randn } from '../random.js';
import { compareArrays } from '../fixtures/compare.js';
import { resolveSchedulerConfig, type SchedulerConfig } from './config.js';
import { ddimStep } from './ddim.js';
import { lmsCoefficient } from './lms.js';
import { createScheduler } from './registry.js';
import type { Scheduler, SchedulerPlan } from './types.js';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

const sd = { beta_schedule: 'scaled_linear', beta_start: 0.00085, beta_end: 0.012, steps_offset: 1 } as const;
const shape: [number, number, number, number] = [2, 5, 3, 4];

function noise(seed: number): tf.Tensor4D {
  return randn(shape, createGenerator(seed)) as tf.Tensor4D;
}

/** x = a·x₀ + b·ε. */
function line(x0: tf.Tensor4D, eps: tf.Tensor4D, a: number, b: number): tf.Tensor4D {
  return tf.tidy(() => tf.add(tf.mul(x0, a), tf.mul(eps, b)));
}

function expectTensorClose(actual: tf.Tensor, expected: tf.Tensor, atol: number, name: string): void {
  const r = compareArrays(actual.dataSync() as Float32Array, expected.dataSync() as Float32Array, { atol, rtol: 1e-5, name });
  expect(r.ok, r.message).toBe(true);
}

/** How a scheduler family places its samples: VP level ᾱ or σ scale, at the model call and after each step. */
interface Geometry {
  /** ᾱ of the sample the model sees at step i. */
  alphaAt(s: Scheduler, plan: SchedulerPlan, i: number): number;
  /** Coefficients (a, b) of x = a x₀ + b ε after step i. */
  after(s: Scheduler, plan: SchedulerPlan, i: number): [number, number];
  /** Coefficients of the initial sample. */
  start(s: Scheduler, plan: SchedulerPlan): [number, number];
}

const vp = (a: number): [number, number] => [Math.sqrt(a), Math.sqrt(1 - a)];
const ddimFinal = (s: Scheduler) => (s.config.setAlphaToOne ? 1 : s.schedule.alphasCumprod[0]!);
const delta = (s: Scheduler, plan: SchedulerPlan) => Math.floor(s.config.numTrainTimesteps / plan.numInferenceSteps);
const acOr = (s: Scheduler, t: number) => (t >= 0 ? s.schedule.alphasCumprod[t]! : ddimFinal(s));

const DDIM_GEOMETRY: Geometry = {
  alphaAt: (s, p, i) => s.schedule.alphasCumprod[p.timesteps[i]!]!,
  after: (s, p, i) => vp(acOr(s, p.timesteps[i]! - delta(s, p))),
  start: (s, p) => vp(s.schedule.alphasCumprod[p.timesteps[0]!]!),
};
const PNDM_GEOMETRY: Geometry = {
  ...DDIM_GEOMETRY,
  // Step 1 redoes t₀ → t₀ − δ = t₁; every other step goes t_i → t_i − δ.
  after: (s, p, i) => vp(acOr(s, i === 1 ? p.timesteps[1]! : p.timesteps[i]! - delta(s, p))),
};
const SIGMA_GEOMETRY: Geometry = {
  alphaAt: (_s, p, i) => 1 / (p.sigmas![i]! ** 2 + 1),
  after: (_s, p, i) => [1, p.sigmas![i + 1]!],
  start: (_s, p) => [1, p.sigmas![0]!],
};
const DPM_GEOMETRY: Geometry = {
  alphaAt: SIGMA_GEOMETRY.alphaAt,
  after: (_s, p, i) => vp(1 / (p.sigmas![i + 1]! ** 2 + 1)),
  start: (_s, p) => vp(1 / (p.sigmas![0]! ** 2 + 1)),
};

/** The exact model output at level ᾱ for a sample on the (x₀, ε) line. */
function trueOutput(kind: string, x0: tf.Tensor4D, eps: tf.Tensor4D, alphaBar: number): tf.Tensor4D {
  if (kind === 'epsilon') return tf.clone(eps);
  if (kind === 'sample') return tf.clone(x0);
  const [a, b] = vp(alphaBar);
  return line(x0, eps, -b, a); // v = √ᾱ ε − √(1 − ᾱ) x₀
}

const cases: [string, SchedulerConfig, Geometry][] = [
  ['DDIM epsilon, set_alpha_to_one', { _class_name: 'DDIMScheduler', ...sd, clip_sample: false, set_alpha_to_one: true }, DDIM_GEOMETRY],
  ['DDIM epsilon, alphas_cumprod[0] final', { _class_name: 'DDIMScheduler', ...sd, clip_sample: false, set_alpha_to_one: false }, DDIM_GEOMETRY],
  // (With trailing/linspace spacing DDIM still steps to t − ⌊T/N⌋ as diffusers does, which is not the next timestep
  // when T/N is fractional; the sample's level then differs from the model's, so the toy is not exact there.)
  ['DDIM epsilon trailing, T/N integral', { _class_name: 'DDIMScheduler', ...sd, clip_sample: false, timestep_spacing: 'trailing' }, DDIM_GEOMETRY],
  ['DDIM v_prediction', { _class_name: 'DDIMScheduler', ...sd, clip_sample: false, prediction_type: 'v_prediction' }, DDIM_GEOMETRY],
  ['DDIM sample', { _class_name: 'DDIMScheduler', ...sd, clip_sample: false, prediction_type: 'sample' }, DDIM_GEOMETRY],
  ['PNDM (PLMS)', { _class_name: 'PNDMScheduler', ...sd, skip_prk_steps: true }, PNDM_GEOMETRY],
  ['Euler epsilon', { _class_name: 'EulerDiscreteScheduler', ...sd }, SIGMA_GEOMETRY],
  ['Euler v_prediction leading', { _class_name: 'EulerDiscreteScheduler', ...sd, prediction_type: 'v_prediction', timestep_spacing: 'leading' }, SIGMA_GEOMETRY],
  ['LMS epsilon', { _class_name: 'LMSDiscreteScheduler', ...sd }, SIGMA_GEOMETRY],
  ['LMS sample', { _class_name: 'LMSDiscreteScheduler', ...sd, prediction_type: 'sample' }, SIGMA_GEOMETRY],
  ['DPM-Solver++ 2M', { _class_name: 'DPMSolverMultistepScheduler', ...sd }, DPM_GEOMETRY],
  ['DPM-Solver++ 3M heun v', { _class_name: 'DPMSolverMultistepScheduler', ...sd, solver_order: 3, solver_type: 'heun', prediction_type: 'v_prediction' }, DPM_GEOMETRY],
  ['DPM-Solver 2M (noise form)', { _class_name: 'DPMSolverMultistepScheduler', ...sd, algorithm_type: 'dpmsolver' }, DPM_GEOMETRY],
  ['DPM-Solver 3M (noise form), sample', { _class_name: 'DPMSolverMultistepScheduler', ...sd, algorithm_type: 'dpmsolver', solver_order: 3, prediction_type: 'sample' }, DPM_GEOMETRY],
];

describe('exact toy denoiser: every step lands on the (x0, eps) line and the loop recovers x0', () => {
  for (const [name, cfg, geo] of cases) {
    for (const n of name.includes('T/N integral') ? [20, 50] : [7, 20]) {
      it(`${name}, N=${n}`, () => {
        const s = createScheduler(cfg);
        const kind = s.config.predictionType;
        const plan = s.setTimesteps(n);
        const x0 = noise(1);
        const eps = noise(2);
        const before = tf.memory().numTensors;
        let x = line(x0, eps, ...geo.start(s, plan));
        let state = s.initState(plan);
        // Magnitudes reach |x0| + 14.6 |eps| in the sigma scale: float32 rounding of a few 1e-6 per step.
        const atol = geo === SIGMA_GEOMETRY ? 2e-4 : 3e-5;
        for (let i = 0; i < plan.timesteps.length; i++) {
          const out = trueOutput(kind, x0, eps, geo.alphaAt(s, plan, i));
          const step = s.step(out, i, x, state);
          const want = line(x0, eps, ...geo.after(s, plan, i));
          expectTensorClose(step.prevSample, want, atol, `${name} step ${i} prevSample`);
          if (step.predOriginalSample) expectTensorClose(step.predOriginalSample, x0, atol, `${name} step ${i} x0`);
          tf.dispose([out, want, x, step.predOriginalSample]);
          x = step.prevSample;
          state = step.state;
        }
        s.disposeState(state);
        if (geo === SIGMA_GEOMETRY) expectTensorClose(x, x0, atol, `${name} final sample = x0`);
        if (cfg['set_alpha_to_one'] === true) expectTensorClose(x, x0, atol, `${name} final sample = x0`);
        x.dispose();
        expect(tf.memory().numTensors).toBe(before);
        tf.dispose([x0, eps]);
      });
    }
  }
});

describe('DDIM inversion', () => {
  it.each(['leading', 'trailing'])('inverting then sampling with the same exact denoiser returns the start (%s)', (spacing) => {
    const base = { ...sd, clip_sample: false, set_alpha_to_one: false, timestep_spacing: spacing };
    const inv = createScheduler({ _class_name: 'DDIMInverseScheduler', ...base });
    const ddim = createScheduler({ _class_name: 'DDIMScheduler', ...base });
    const start = noise(3);
    const eps = noise(4);
    const before = tf.memory().numTensors;
    const run = (s: Scheduler, x: tf.Tensor4D): tf.Tensor4D => {
      const plan = s.setTimesteps(10);
      let state = s.initState(plan);
      for (let i = 0; i < plan.timesteps.length; i++) {
        const step = s.step(eps, i, x, state);
        if (x !== start) x.dispose();
        step.predOriginalSample?.dispose();
        x = step.prevSample;
        state = step.state;
      }
      s.disposeState(state);
      return x;
    };
    const inverted = run(inv, start);
    // The inverted latent sits at the noisiest level of the sampling plan: x = √ᾱ x̂₀ + √(1 − ᾱ) ε.
    expect(inv.setTimesteps(10).timesteps.at(-1)).toBe(ddim.setTimesteps(10).timesteps[0]);
    const back = run(ddim, inverted);
    inverted.dispose();
    expectTensorClose(back, start, 2e-5, `inversion round trip (${spacing})`);
    back.dispose();
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([start, eps]);
  });
});

describe('DPM-Solver++ order 1 is DDIM (eta = 0)', () => {
  it('gives the same step between the same noise levels for any model output', () => {
    const cfg = { _class_name: 'DPMSolverMultistepScheduler', ...sd, solver_order: 1 };
    const dpm = createScheduler(cfg);
    const plan = dpm.setTimesteps(12);
    const x = noise(5);
    const mo = noise(6);
    let state = dpm.initState(plan);
    for (const i of [0, 1, 2]) {
      const out = dpm.step(mo, i, x, state);
      state = out.state;
      const aS = 1 / (plan.sigmas![i]! ** 2 + 1);
      const aT = 1 / (plan.sigmas![i + 1]! ** 2 + 1);
      const ref = tf.tidy(() => ddimStep(mo, x, aS, aT, resolveSchedulerConfig({ _class_name: 'DDIMScheduler', clip_sample: false }), { eta: 0, useClippedModelOutput: false }).prevSample);
      expectTensorClose(out.prevSample, ref, 2e-5, `DPM-1 vs DDIM step ${i}`);
      tf.dispose([out.prevSample, out.predOriginalSample, ref]);
    }
    dpm.disposeState(state);
    tf.dispose([x, mo]);
  });
});

describe('LMS coefficients (closed-form integrals of the Lagrange basis)', () => {
  const plan = createScheduler({ _class_name: 'LMSDiscreteScheduler', ...sd }).setTimesteps(10);
  const sig = plan.sigmas!;
  it('sum to sigma_{i+1} - sigma_i for every order (the basis sums to 1)', () => {
    for (let i = 0; i < 10; i++) {
      for (let o = 1; o <= Math.min(i + 1, 4); o++) {
        const sum = Array.from({ length: o }, (_, c) => lmsCoefficient(sig, o, i, c)).reduce((a, b) => a + b, 0);
        expect(sum).toBeCloseTo(sig[i + 1]! - sig[i]!, 10);
      }
    }
  });

  it('order 1 is the Euler step and order 2 matches the trapezoid-like closed form', () => {
    for (let i = 1; i < 10; i++) {
      const [a, b, p] = [sig[i]!, sig[i + 1]!, sig[i - 1]!];
      expect(lmsCoefficient(sig, 1, i, 0)).toBeCloseTo(b - a, 12);
      // ℓ_0(τ) = (τ − σ_{i−1})/(σ_i − σ_{i−1}) → ∫_a^b = ((b − p)² − (a − p)²) / (2 (a − p)).
      expect(lmsCoefficient(sig, 2, i, 0)).toBeCloseTo(((b - p) ** 2 - (a - p) ** 2) / (2 * (a - p)), 10);
    }
  });
});
