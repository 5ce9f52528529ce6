import { describe, expect, it } from 'vitest';
import { OptionError } from '../errors.js';
import { betasForAlphaBar, cumprod, noiseSchedule, rescaleZeroTerminalSnr, trainingBetas, trainSigmas } from './betas.js';
import { resolveSchedulerConfig, SCHEDULER_CLASS_NAMES, type TimestepSpacing } from './config.js';
import { arange, interp, linspace, roundHalfEven } from './numpy-compat.js';
import { createScheduler } from './registry.js';
import type { SchedulerPlan } from './types.js';

const sdSchedule = { beta_schedule: 'scaled_linear', beta_start: 0.00085, beta_end: 0.012 } as const;

describe('numpy-compatible helpers', () => {
  it('roundHalfEven rounds halves to the even neighbour (np.round)', () => {
    expect([0.5, 1.5, 2.5, 3.5, -1.5, -2.5, 2.4999, 2.5001].map(roundHalfEven)).toEqual([0, 2, 2, 4, -2, -2, 2, 3]);
  });

  it('linspace includes both ends; arange has ceil((stop - start) / step) values', () => {
    expect(Array.from(linspace(0, 1, 5))).toEqual([0, 0.25, 0.5, 0.75, 1]);
    expect(Array.from(linspace(3, 7, 1))).toEqual([3]);
    expect(Array.from(arange(10, 0, -2.5))).toEqual([10, 7.5, 5, 2.5]);
    expect(arange(0, 1, 0.3).length).toBe(4);
  });

  it('interp is piecewise linear and clamps outside the grid', () => {
    const xp = [0, 1, 2];
    const fp = [10, 20, 40];
    expect([-1, 0, 0.5, 1, 1.75, 2, 3].map((x) => interp(x, xp, fp))).toEqual([10, 10, 15, 20, 35, 40, 40]);
  });
});

describe('noise schedule', () => {
  it('alphas_cumprod is the running product of (1 - beta) for every beta schedule', () => {
    for (const beta_schedule of ['linear', 'scaled_linear', 'squaredcos_cap_v2']) {
      const s = noiseSchedule(resolveSchedulerConfig({ _class_name: 'DDIMScheduler', ...sdSchedule, beta_schedule }));
      let prod = 1;
      let prodF32 = 1;
      s.betas.forEach((b, t) => {
        prod *= 1 - b;
        prodF32 *= Math.fround(1 - b); // the reference stores each (1 - beta) as float32
        const where = `${beta_schedule} t=${t}`;
        expect(Math.abs(s.alphasCumprod[t]! - prod), where).toBeLessThanOrEqual(2e-5 * prod + 1e-12);
        expect(Math.abs(s.alphasCumprod[t]! - prodF32), where).toBeLessThanOrEqual(6e-8 * prodF32 + 1e-12);
        expect(s.alphas[t]).toBe(Math.fround(1 - b));
      });
    }
  });

  it('linear and scaled_linear betas run from beta_start to beta_end (closed form of torch.linspace)', () => {
    const lin = trainingBetas({ numTrainTimesteps: 5, betaStart: 0.1, betaEnd: 0.5, betaSchedule: 'linear', trainedBetas: null });
    expect(Array.from(lin)).toEqual([0.1, 0.2, 0.3, 0.4, 0.5].map(Math.fround));
    const sq = trainingBetas({ numTrainTimesteps: 3, betaStart: 0.04, betaEnd: 0.16, betaSchedule: 'scaled_linear', trainedBetas: null });
    // √β evenly spaced: 0.2, 0.3, 0.4 → β = 0.04, 0.09, 0.16.
    Array.from(sq).forEach((b, i) => expect(b).toBeCloseTo([0.04, 0.09, 0.16][i]!, 7));
    expect(Array.from(trainingBetas({ numTrainTimesteps: 2, betaStart: 0, betaEnd: 0, betaSchedule: 'linear', trainedBetas: [0.25, 0.5] }))).toEqual([0.25, 0.5]);
  });

  it('squaredcos_cap_v2 follows the cosine alpha-bar of Nichol & Dhariwal, capped at 0.999', () => {
    const T = 1000;
    const b = betasForAlphaBar(T);
    const alphaBar = (t: number) => Math.cos(((t + 0.008) / 1.008) * Math.PI / 2) ** 2;
    for (const t of [0, 1, 500, 998]) expect(b[t]).toBeCloseTo(1 - alphaBar((t + 1) / T) / alphaBar(t / T), 6);
    expect(b[T - 1]).toBe(Math.fround(0.999));
  });

  it('rescale_betas_zero_snr gives zero terminal SNR and keeps alphas_cumprod[0]', () => {
    const betas = trainingBetas({ numTrainTimesteps: 1000, betaStart: 0.00085, betaEnd: 0.012, betaSchedule: 'scaled_linear', trainedBetas: null });
    const ac = cumprod(betas.map((x) => 1 - x));
    const rescaled = cumprod(rescaleZeroTerminalSnr(betas).map((x) => 1 - x));
    expect(rescaled[999]).toBe(0);
    expect(rescaled[0]).toBeCloseTo(ac[0]!, 6);
    // The Euler scheduler replaces the terminal 0 by 2^-24 so that sigma stays finite.
    const euler = createScheduler({ _class_name: 'EulerDiscreteScheduler', ...sdSchedule, rescale_betas_zero_snr: true });
    expect(euler.schedule.alphasCumprod[999]).toBe(2 ** -24);
  });

  it('trainSigmas is sqrt((1 - ac) / ac)', () => {
    const ac = Float32Array.of(0.99, 0.5, 0.01);
    Array.from(trainSigmas(ac)).forEach((s, i) => expect(s).toBeCloseTo(Math.sqrt((1 - ac[i]!) / ac[i]!), 5));
  });
});

/**
 * `callStep`/`numSteps`: one entry per call, starting at step 0, advancing by 0 or 1, ending at numSteps − 1; the
 * PLMS warm-up (diffusers `step_plms` counter 1 redoes step 0) is the only call that shares its step, and N sampler
 * steps are N steps whatever the number of calls.
 */
function checkCallSteps(cls: string, n: number, plan: SchedulerPlan, where: string): void {
  const { callStep, numSteps, timesteps } = plan;
  expect(callStep.length, where).toBe(timesteps.length);
  expect(callStep[0], where).toBe(0);
  expect(callStep[callStep.length - 1]! + 1, where).toBe(numSteps);
  const advances = callStep.slice(1).map((c, i) => c - callStep[i]!);
  expect(advances.every((d) => d === 0 || d === 1), where).toBe(true);
  if (cls === 'PNDMScheduler') {
    expect(numSteps, where).toBe(n);
    if (n > 1) expect(callStep.slice(0, 3), where).toEqual([0, 0, 1]);
    expect(advances.filter((d) => d === 0).length, where).toBe(timesteps.length - n);
  } else if (cls === 'HeunDiscreteScheduler') {
    // Predictor and corrector share a step; the last step is a lone Euler call.
    expect(numSteps, where).toBe(n);
    expect(callStep, where).toEqual(timesteps.map((_, i) => Math.floor(i / 2)));
  } else expect(callStep, where).toEqual(timesteps.map((_, i) => i));
}

describe('timesteps (properties over classes, spacings and step counts)', () => {
  const spacings: TimestepSpacing[] = ['linspace', 'leading', 'trailing'];
  const counts = [1, 2, 3, 7, 10, 25, 50, 333, 500];
  for (const cls of SCHEDULER_CLASS_NAMES) {
    for (const spacing of spacings) {
      if (cls === 'DDIMInverseScheduler' && spacing === 'linspace') continue;
      it(`${cls} ${spacing}: monotone, inside [0, T), one per step`, () => {
        const extra = cls === 'PNDMScheduler' ? { skip_prk_steps: true } : {};
        const s = createScheduler({ _class_name: cls, ...sdSchedule, steps_offset: 1, timestep_spacing: spacing, ...extra });
        // LCM distils a fixed original schedule: N is at most its original_inference_steps.
        const maxN = cls === 'LCMScheduler' ? s.config.originalInferenceSteps : Infinity;
        for (const n of counts.filter((c) => c <= maxN)) {
          const { timesteps, sigmas } = s.setTimesteps(n);
          const where = `${cls} ${spacing} N=${n}`;
          for (const t of timesteps) {
            expect(t, where).toBeGreaterThanOrEqual(0);
            expect(t, where).toBeLessThan(1000);
          }
          const diffs = timesteps.slice(1).map((t, i) => t - timesteps[i]!);
          if (cls === 'DDIMInverseScheduler') expect(diffs.every((d) => d > 0), where).toBe(true);
          else if (cls === 'PNDMScheduler' && n > 1) {
            // PLMS repeats the second timestep once (the warm-up step), otherwise strictly decreasing.
            expect(timesteps.length, where).toBe(n + 1);
            expect(diffs[1], where).toBe(0);
            expect(diffs.filter((_, i) => i !== 1).every((d) => d < 0), where).toBe(true);
          } else if (cls === 'HeunDiscreteScheduler') {
            // [t0, t1, t1, ..., t(N-1), t(N-1)]: every timestep after the first is repeated once (the corrector).
            expect(timesteps.length, where).toBe(2 * n - 1);
            expect(diffs.every((d, i) => (i % 2 === 1 ? d === 0 : d < 0)), where).toBe(true);
          } else expect(diffs.every((d) => d < 0), where).toBe(true);
          if (cls !== 'PNDMScheduler' && cls !== 'HeunDiscreteScheduler' && !(cls === 'DPMSolverMultistepScheduler' && spacing === 'trailing')) {
            expect(timesteps.length, where).toBe(n);
          }
          checkCallSteps(cls, n, s.setTimesteps(n), where);
          if (sigmas) {
            expect(sigmas.length, where).toBe(timesteps.length + 1);
            const strict = cls !== 'HeunDiscreteScheduler'; // Heun repeats each inner sigma once
            expect(Array.from(sigmas).slice(1).every((v, i) => (strict ? v < sigmas[i]! : v <= sigmas[i]!)), `${where} sigmas decreasing`).toBe(true);
          }
        }
      });
    }
  }

  it('rejects step counts whose timesteps leave [0, T) (leading spacing + steps_offset near N = T)', () => {
    const ddim = createScheduler({ _class_name: 'DDIMScheduler', steps_offset: 1 });
    expect(ddim.setTimesteps(999).timesteps[0]).toBe(999);
    expect(() => ddim.setTimesteps(1000)).toThrow(/timestep 1000, outside \[0, 1000\)/);
    expect(() => createScheduler({ _class_name: 'DPMSolverMultistepScheduler', timestep_spacing: 'leading', steps_offset: 1 }).setTimesteps(999)).toThrow(OptionError);
  });

  it('Euler with timestep_type continuous and v_prediction uses 0.25 ln(sigma) as timesteps (Karras c_noise)', () => {
    const base = { _class_name: 'EulerDiscreteScheduler', ...sdSchedule, prediction_type: 'v_prediction' };
    const discrete = createScheduler(base).setTimesteps(10);
    const continuous = createScheduler({ ...base, timestep_type: 'continuous' }).setTimesteps(10);
    expect(Array.from(continuous.sigmas!)).toEqual(Array.from(discrete.sigmas!));
    continuous.timesteps.forEach((t, i) => expect(t).toBeCloseTo(0.25 * Math.log(discrete.sigmas![i]!), 6));
  });

  it('DPM-Solver lambda_min_clipped drops the timesteps whose half-log-SNR is below the bound', () => {
    const cfg = { _class_name: 'DPMSolverMultistepScheduler', beta_schedule: 'squaredcos_cap_v2', lambda_min_clipped: -5.1 };
    const s = createScheduler(cfg);
    const lambda = Array.from(s.schedule.alphasCumprod, (a) => 0.5 * Math.log(a / (1 - a)));
    const last = 1000 - lambda.filter((l) => l < -5.1).length;
    expect(last).toBeLessThan(1000);
    expect(s.setTimesteps(10).timesteps[0]).toBe(last - 1); // linspace(0, last − 1, N + 1) reversed
    expect(createScheduler({ ...cfg, lambda_min_clipped: -Infinity }).setTimesteps(10).timesteps[0]).toBe(999);
  });

  it('rejects step counts outside [1, num_train_timesteps] with an OptionError', () => {
    const s = createScheduler({ _class_name: 'DDIMScheduler' });
    for (const n of [0, -1, 2.5, 1001, NaN]) expect(() => s.setTimesteps(n)).toThrow(OptionError);
  });
});
