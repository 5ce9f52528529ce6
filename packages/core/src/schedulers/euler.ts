/**
 * Euler discrete sampler (Karras, Aittala, Aila & Laine 2022, "Elucidating the Design Space of Diffusion-Based
 * Generative Models", arXiv:2206.00364, Algorithm 2 with optional churn), as diffusers' `EulerDiscreteScheduler`.
 *
 * It works in the variance-exploding scale x = x₀ + σ ε with σ = √((1 − ᾱ)/ᾱ); the model sees
 * x / √(σ² + 1) (the variance-preserving sample). Symbols: σ_i = `plan.sigmas[i]`, γ = churn factor,
 * σ̂ = σ_i (γ + 1), x̂₀ = `predOriginalSample`, d = (x − x̂₀)/σ̂ the ODE derivative (Karras eq. 3 for σ(t) = t).
 * @module
 */
import * as tf from '@tensorflow/tfjs-core';
import { OptionError } from '../errors.js';
import type { ResolvedSchedulerConfig } from './config.js';
import { defineScheduler } from './scaffold.js';
import { sigmaAddNoise, sigmaPlan, sigmaSchedule } from './sigmas.js';
import type { Scheduler, SchedulerState } from './types.js';

const f32 = Math.fround;

/**
 * Euler's state: no history, just the plan.
 *
 * @example
 * ```ts
 * const state: EulerState = euler.initState(plan);
 * ```
 */
export interface EulerState extends SchedulerState {
  readonly className: 'EulerDiscreteScheduler';
}

/**
 * The model-input scale 1 / √(σ² + 1) in float32 steps, shared by Euler and LMS.
 *
 * @param sample x at σ `[B, H, W, C]`
 * @param sigma  σ of the step
 * @example
 * ```ts
 * const input = scaleBySigma(x, plan.sigmas[i]!); // x / √(σ² + 1)
 * ```
 */
export function scaleBySigma(sample: tf.Tensor4D, sigma: number): tf.Tensor4D {
  return tf.div(sample, f32(Math.sqrt(f32(f32(sigma * sigma) + 1))));
}

/**
 * x̂₀ from a model output in the σ scale: ε → x − σ ε; v → v·(−σ/√(σ² + 1)) + x/(σ² + 1); sample → itself.
 * Call inside `tf.tidy`.
 *
 * @param modelOutput    model output `[B, H, W, C]`
 * @param sample         x at σ `[B, H, W, C]`
 * @param sigma          σ for the ε branch (σ̂ in Euler with churn)
 * @param sigmaV         σ for the v branch (diffusers uses the un-churned σ there)
 * @param predictionType the config's prediction type
 * @example
 * ```ts
 * const x0 = tf.tidy(() => sigmaPredX0(eps, x, 14.6, 14.6, 'epsilon'));
 * ```
 */
export function sigmaPredX0(
  modelOutput: tf.Tensor4D, sample: tf.Tensor4D, sigma: number, sigmaV: number, predictionType: ResolvedSchedulerConfig['predictionType'],
): tf.Tensor4D {
  switch (predictionType) {
    case 'epsilon':
      return tf.sub(sample, tf.mul(modelOutput, sigma));
    case 'v_prediction':
      return tf.add(tf.mul(modelOutput, -sigmaV / Math.sqrt(sigmaV * sigmaV + 1)), tf.div(sample, sigmaV * sigmaV + 1));
    case 'sample':
      return tf.clone(modelOutput);
  }
}

/**
 * Creates an Euler discrete scheduler (`EulerDiscreteScheduler`; linear sigma interpolation, or Karras sigmas with
 * `use_karras_sigmas`).
 *
 * @param config a resolved config of class `EulerDiscreteScheduler`
 * @example
 * ```ts
 * const euler = createEulerScheduler(resolveSchedulerConfig({ ...sdJson, _class_name: 'EulerDiscreteScheduler' }));
 * const plan = euler.setTimesteps(10); // timesteps [999, 888, ..., 0], sigmas [14.61, ..., 0.029, 0]
 * ```
 */
export function createEulerScheduler(config: ResolvedSchedulerConfig): Scheduler<EulerState> {
  const className = 'EulerDiscreteScheduler';
  const { schedule, sigmaTable } = sigmaSchedule(config);
  return defineScheduler<EulerState>({
    className, config, schedule, sequential: false, options: ['sChurn', 'sTmin', 'sTmax', 'sNoise', 'noise'],
    plan(n) {
      const p = sigmaPlan(config, sigmaTable, n, 'float32');
      if (config.timestepType === 'continuous' && config.predictionType === 'v_prediction') {
        p.timesteps = Array.from(p.sigmas.subarray(0, -1), (s) => f32(0.25 * f32(Math.log(s)))); // c_noise of Karras Table 1
      }
      return p;
    },
    initial: () => ({}),
    scale: (sample, i, plan) => scaleBySigma(sample, plan.sigmas![i]!),
    update({ modelOutput, stepIndex, sample, plan, opts }) {
      const { sChurn = 0, sTmin = 0, sTmax = Infinity, sNoise = 1 } = opts;
      if (!(sChurn >= 0)) throw new OptionError('sChurn', `must be >= 0, got ${sChurn}`);
      if (sChurn > 0 && !opts.noise) throw new OptionError('noise', 'Euler with sChurn > 0 needs the churn noise (pass opts.noise)');
      if (sChurn === 0 && opts.noise) throw new OptionError('noise', 'is only used by Euler when sChurn > 0');
      const sigmas = plan.sigmas!;
      // 1. σ_i and the churned σ̂ = σ_i (γ + 1), γ = min(S_churn / N, √2 − 1) inside [S_tmin, S_tmax].
      const sigma = sigmas[stepIndex]!;
      const gamma = sTmin <= sigma && sigma <= sTmax ? Math.min(sChurn / (sigmas.length - 1), Math.SQRT2 - 1) : 0;
      const sigmaHat = sigma * (gamma + 1);
      // 2. Churn: x̂ = x + √(σ̂² − σ²) S_noise z.
      const x = gamma > 0 ? tf.add(sample, tf.mul(opts.noise!, sNoise * Math.sqrt(sigmaHat ** 2 - sigma ** 2))) as tf.Tensor4D : sample;
      // 3. x̂₀, 4. d = (x̂ − x̂₀)/σ̂, 5. Euler step x_{i+1} = x̂ + (σ_{i+1} − σ̂) d.
      const predOriginalSample = sigmaPredX0(modelOutput, x, sigmaHat, sigma, config.predictionType);
      const derivative = tf.div(tf.sub(x, predOriginalSample), sigmaHat);
      const dt = sigmas[stepIndex + 1]! - sigmaHat;
      const prevSample = tf.add(x, tf.mul(derivative, dt)) as tf.Tensor4D;
      return { prevSample, predOriginalSample, state: {} };
    },
    addNoise: (original, noise, timesteps, plan) => sigmaAddNoise(className, original, noise, timesteps, plan),
  });
}
