/**
 * Latent Consistency Model sampling (Luo, Tan, Huang, Li & Zhao 2023, "Latent Consistency Models", arXiv:2310.04378,
 * Algorithm 1 "multistep latent consistency sampling"), as diffusers' `LCMScheduler`.
 *
 * Timesteps: the distillation grid t_k = k·⌊T/K⌋ − 1 (k = 1..K, K = `original_inference_steps`), descending, sampled
 * at ⌊linspace(0, K, N, endpoint=False)⌋ (N ≤ K). Each step: x̂₀ from the model output (as DDIM), the consistency
 * function f(x, t) = c_skip(t) x + c_out(t) x̂₀ with c_skip = σ_d²/((s t)² + σ_d²), c_out = s t/√((s t)² + σ_d²)
 * (σ_d = 0.5, s = `timestep_scaling`), then re-noising to the next timestep: x' = √ᾱ' f + √(1 − ᾱ') z. The last
 * step returns f (no noise). `predOriginalSample` is f (diffusers' `denoised`).
 * @module
 */
import * as tf from '@tensorflow/tfjs-core';
import { OptionError } from '../errors.js';
import { noiseSchedule } from './betas.js';
import type { ResolvedSchedulerConfig } from './config.js';
import { addNoiseVp } from './noising.js';
import { clipPredOriginal, predictX0AndEps } from './prediction.js';
import { defineScheduler } from './scaffold.js';
import type { Scheduler, SchedulerState } from './types.js';

const SIGMA_DATA = 0.5;

/**
 * LCM's state: no history, just the plan.
 *
 * @example
 * ```ts
 * const state: LcmState = lcm.initState(plan);
 * ```
 */
export interface LcmState extends SchedulerState {
  readonly className: 'LCMScheduler';
}

/**
 * LCM timesteps for N steps: a subset of the K-step distillation grid, descending (diffusers `set_timesteps`).
 *
 * @param T             `num_train_timesteps`
 * @param originalSteps K = `original_inference_steps`
 * @param n             N (1 ≤ N ≤ K)
 * @throws OptionError when N > K
 * @example
 * ```ts
 * lcmTimesteps(1000, 50, 4); // [999, 759, 499, 259]
 * ```
 */
export function lcmTimesteps(T: number, originalSteps: number, n: number): number[] {
  if (originalSteps > T) throw new OptionError('original_inference_steps', `must be <= num_train_timesteps (${T}), got ${originalSteps}`);
  if (n > originalSteps) {
    throw new OptionError('numInferenceSteps', `must be <= original_inference_steps (${originalSteps}) for LCMScheduler, got ${n}`);
  }
  const k = Math.floor(T / originalSteps);
  const grid = Array.from({ length: originalSteps }, (_, i) => (originalSteps - i) * k - 1);
  // np.floor(np.linspace(0, K, N, endpoint=False)): i·K/N in float64.
  const step = originalSteps / n;
  return Array.from({ length: n }, (_, i) => grid[Math.floor(i * step)]!);
}

/**
 * The boundary-condition coefficients of the consistency function at timestep t (float64).
 *
 * @param t       the timestep
 * @param scaling `timestep_scaling`
 * @example
 * ```ts
 * lcmScalings(999, 10); // { cSkip: 2.5e-8, cOut: 1 }
 * ```
 */
export function lcmScalings(t: number, scaling: number): { cSkip: number; cOut: number } {
  const st = t * scaling;
  const d = st * st + SIGMA_DATA * SIGMA_DATA;
  return { cSkip: (SIGMA_DATA * SIGMA_DATA) / d, cOut: st / Math.sqrt(d) };
}

/**
 * Creates an LCM scheduler (`LCMScheduler`). Stochastic: every step but the last takes `noise` or draws it from
 * `generator` (the last step ignores a given `noise`).
 *
 * @param config a resolved config of class `LCMScheduler`
 * @example
 * ```ts
 * const lcm = createLcmScheduler(resolveSchedulerConfig({ _class_name: 'LCMScheduler' }));
 * lcm.setTimesteps(4).timesteps; // [999, 759, 499, 259]
 * ```
 */
export function createLcmScheduler(config: ResolvedSchedulerConfig): Scheduler<LcmState> {
  const schedule = noiseSchedule(config);
  const ac = schedule.alphasCumprod;
  const finalAlphaCumprod = config.setAlphaToOne ? 1 : ac[0]!;
  return defineScheduler<LcmState>({
    className: 'LCMScheduler', config, schedule, sequential: false, options: [], stochastic: true,
    plan: (n) => ({ timesteps: lcmTimesteps(config.numTrainTimesteps, config.originalInferenceSteps, n) }),
    initial: () => ({}),
    update({ modelOutput, stepIndex, sample, plan, noise }) {
      const t = plan.timesteps[stepIndex]!;
      const last = stepIndex === plan.timesteps.length - 1;
      const prevT = last ? t : plan.timesteps[stepIndex + 1]!;
      const alphaProdTPrev = prevT >= 0 ? ac[prevT]! : finalAlphaCumprod;
      // 1. x̂₀ (clipped or thresholded as configured), 2. f = c_out x̂₀ + c_skip x.
      const { x0 } = predictX0AndEps(modelOutput, sample, ac[t]!, config.predictionType);
      const { cSkip, cOut } = lcmScalings(t, config.timestepScaling);
      const denoised = tf.add(tf.mul(clipPredOriginal(x0, config), cOut), tf.mul(sample, cSkip)) as tf.Tensor4D;
      // 3. Re-noise to the next timestep (not after the last step).
      const prevSample = last ? tf.clone(denoised)
        : tf.add(tf.mul(denoised, Math.sqrt(alphaProdTPrev)), tf.mul(noise(), Math.sqrt(1 - alphaProdTPrev))) as tf.Tensor4D;
      return { prevSample, predOriginalSample: denoised, state: {} };
    },
    addNoise: (original, noise, timesteps) => addNoiseVp(ac, original, noise, timesteps),
  });
}
