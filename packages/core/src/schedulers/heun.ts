/**
 * Heun's second-order sampler (Karras et al. 2022, arXiv:2206.00364, Algorithm 1 with γ = 0), as diffusers'
 * `HeunDiscreteScheduler`: one `step` call per model evaluation. For N steps the plan has 2N − 1 calls with
 * timesteps [t₀, t₁, t₁, ..., t_{N−1}, t_{N−1}] and 2N sigmas [σ₀, σ₁, σ₁, ..., σ_{N−1}, σ_{N−1}, 0].
 *
 * Even calls are Euler predictors from σ to σ' (d = (x − x̂₀)/σ, x' = x + d (σ' − σ)); they keep d, dt = σ' − σ and
 * x. Odd calls correct with the model output at the predicted x' (at σ'): d' = (x' − x̂₀')/σ',
 * x' = x_kept + (d + d')/2 · dt. The last call (σ' = 0) is a plain Euler step. Call i belongs to step ⌊i/2⌋.
 * @module
 */
import * as tf from '@tensorflow/tfjs-core';
import { OptionError } from '../errors.js';
import type { ResolvedSchedulerConfig } from './config.js';
import { scaleBySigma, sigmaPredX0 } from './euler.js';
import { SchedulerStateError } from './errors.js';
import { defineScheduler } from './scaffold.js';
import { sigmaAddNoise, sigmaPlan, sigmaSchedule } from './sigmas.js';
import { own } from './state.js';
import type { Scheduler, SchedulerPlan, SchedulerState } from './types.js';

/**
 * Heun's state between a predictor call and its corrector: the predictor's derivative, step size and input sample.
 *
 * @example
 * ```ts
 * const state: HeunState = heun.initState(plan); // derivative null: ready for a predictor call
 * ```
 */
export interface HeunState extends SchedulerState {
  readonly className: 'HeunDiscreteScheduler';
  /** d of the last predictor `[B, H, W, C]`, null before a predictor call. */
  readonly derivative: tf.Tensor4D | null;
  /** The predictor's input sample `[B, H, W, C]`, null before a predictor call. */
  readonly kept: tf.Tensor4D | null;
  /** dt = σ' − σ of the last predictor. */
  readonly dt: number;
}

/**
 * Interleaves an N-step σ plan into Heun's 2N − 1 calls (timesteps) and 2N sigmas.
 *
 * @param timesteps N timesteps
 * @param sigmas    N + 1 sigmas (trailing 0)
 * @example
 * ```ts
 * heunInterleave([999, 500, 0], Float32Array.of(14.6, 0.9, 0.03, 0)); // timesteps [999, 500, 500, 0, 0]
 * ```
 */
export function heunInterleave(timesteps: readonly number[], sigmas: Float32Array): { timesteps: number[]; sigmas: Float32Array } {
  const twice = <T>(xs: readonly T[]) => xs.flatMap((x) => [x, x]);
  const s = Array.from(sigmas);
  return {
    timesteps: [timesteps[0]!, ...twice(timesteps.slice(1))],
    sigmas: Float32Array.of(s[0]!, ...twice(s.slice(1, -1)), s[s.length - 1]!),
  };
}

/**
 * Creates a Heun scheduler (`HeunDiscreteScheduler`; linear sigma interpolation, or Karras sigmas).
 *
 * @param config a resolved config of class `HeunDiscreteScheduler`
 * @example
 * ```ts
 * const heun = createHeunScheduler(resolveSchedulerConfig({ ...sdJson, _class_name: 'HeunDiscreteScheduler' }));
 * heun.setTimesteps(10).timesteps.length; // 19 model calls; plan.numSteps 10
 * ```
 */
export function createHeunScheduler(config: ResolvedSchedulerConfig): Scheduler<HeunState> {
  const className = 'HeunDiscreteScheduler';
  const { schedule, sigmaTable } = sigmaSchedule(config);
  const x0At = (modelOutput: tf.Tensor4D, sample: tf.Tensor4D, sigma: number) => {
    const x0 = sigmaPredX0(modelOutput, sample, sigma, sigma, config.predictionType);
    return config.clipSample ? tf.clipByValue(x0, -config.clipSampleRange, config.clipSampleRange) as tf.Tensor4D : x0;
  };
  return defineScheduler<HeunState>({
    className, config, schedule, sequential: true, options: [],
    plan(n) {
      const p = sigmaPlan(config, sigmaTable, n, 'float64');
      const { timesteps, sigmas } = heunInterleave(p.timesteps, p.sigmas);
      return { timesteps, sigmas, initNoiseSigma: p.initNoiseSigma, callStep: timesteps.map((_, i) => Math.floor(i / 2)), numSteps: n };
    },
    initial(_plan: SchedulerPlan, startIndex: number) {
      if (startIndex % 2 !== 0) throw new OptionError('startIndex', `must be a predictor call (even) of ${className}, got ${startIndex}`);
      return { derivative: null, kept: null, dt: 0 };
    },
    held: (s) => (s.derivative && s.kept ? [s.derivative, s.kept] : []),
    scale: (sample, i, plan) => scaleBySigma(sample, plan.sigmas![i]!),
    update({ modelOutput, stepIndex, sample, state, plan }) {
      const sigmas = plan.sigmas!;
      if (stepIndex % 2 === 0) {
        // Predictor: an Euler step from σ_i to σ_{i+1}; keep d, dt and x for the corrector.
        const sigma = sigmas[stepIndex]!;
        const derivative = tf.div(tf.sub(sample, x0At(modelOutput, sample, sigma)), sigma) as tf.Tensor4D;
        const dt = sigmas[stepIndex + 1]! - sigma;
        const prevSample = tf.add(sample, tf.mul(derivative, dt)) as tf.Tensor4D;
        return { prevSample, state: { derivative: own(derivative), kept: own(sample), dt } };
      }
      if (!state.derivative || !state.kept) throw new SchedulerStateError(`${className} corrector call ${stepIndex} without its predictor`);
      // Corrector: d' at the predicted sample (σ' = sigmas[i]), then x_kept + (d + d')/2 · dt.
      const sigmaNext = sigmas[stepIndex]!;
      const d2 = tf.div(tf.sub(sample, x0At(modelOutput, sample, sigmaNext)), sigmaNext);
      const derivative = tf.div(tf.add(state.derivative, d2), 2);
      const prevSample = tf.add(state.kept, tf.mul(derivative, state.dt)) as tf.Tensor4D;
      return { prevSample, state: { derivative: null, kept: null, dt: 0 } };
    },
    addNoise: (original, noise, timesteps, plan) => sigmaAddNoise(className, original, noise, timesteps, plan, (p, t) => {
      // diffusers' index_for_timestep: the second occurrence of a repeated timestep.
      const hits = p.timesteps.flatMap((v, i) => (v === t ? [i] : []));
      if (hits.length === 0) throw new OptionError('timesteps', `${t} is not a timestep of the plan`);
      return hits[hits.length > 1 ? 1 : 0]!;
    }),
  });
}
