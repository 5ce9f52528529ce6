/**
 * Ancestral Euler sampling (Karras et al. 2022, arXiv:2206.00364; k-diffusion's `sample_euler_ancestral`), as
 * diffusers' `EulerAncestralDiscreteScheduler`: each step splits the move from σ to σ' into a deterministic Euler
 * step down to σ_down and fresh noise of scale σ_up, with σ_up² + σ_down² = σ'² and σ_up² = σ'² (σ² − σ'²)/σ²
 * (the DDPM ancestral step in the σ scale). Same plan, model-input scale and x̂₀ as Euler.
 *
 * Symbols: σ = `plan.sigmas[i]`, σ' = `plan.sigmas[i + 1]`, x̂₀ = `predOriginalSample`, d = (x − x̂₀)/σ, z = the
 * step's noise (`opts.noise`, or drawn from `opts.generator`).
 * @module
 */
import * as tf from '@tensorflow/tfjs-core';
import type { ResolvedSchedulerConfig } from './config.js';
import { scaleBySigma, sigmaPredX0 } from './euler.js';
import { defineScheduler } from './scaffold.js';
import { sigmaAddNoise, sigmaPlan, sigmaSchedule } from './sigmas.js';
import type { Scheduler, SchedulerState } from './types.js';

const f32 = Math.fround;

/**
 * Ancestral Euler's state: no history, just the plan.
 *
 * @example
 * ```ts
 * const state: EulerAncestralState = sampler.initState(plan);
 * ```
 */
export interface EulerAncestralState extends SchedulerState {
  readonly className: 'EulerAncestralDiscreteScheduler';
}

/**
 * σ_up and σ_down of an ancestral step from σ to σ' (float32 steps, as diffusers computes them on 0-d tensors).
 *
 * @param sigmaFrom σ
 * @param sigmaTo   σ' (0 at the last step: σ_up = σ_down = 0)
 * @example
 * ```ts
 * const { up, down } = ancestralSigmas(14.61, 9.72);
 * ```
 */
export function ancestralSigmas(sigmaFrom: number, sigmaTo: number): { up: number; down: number } {
  const from2 = f32(sigmaFrom * sigmaFrom);
  const to2 = f32(sigmaTo * sigmaTo);
  const up = f32(Math.sqrt(f32(f32(to2 * f32(from2 - to2)) / from2)));
  const down = f32(Math.sqrt(f32(to2 - f32(up * up))));
  return { up, down };
}

/**
 * Creates an ancestral Euler scheduler (`EulerAncestralDiscreteScheduler`). Stochastic: each step takes `noise` or
 * draws it from `generator`.
 *
 * @param config a resolved config of class `EulerAncestralDiscreteScheduler`
 * @example
 * ```ts
 * const s = createEulerAncestralScheduler(resolveSchedulerConfig({ ...sdJson, _class_name: 'EulerAncestralDiscreteScheduler' }));
 * const out = s.step(eps, 0, x, s.initState(plan), { generator: createGenerator(1) });
 * ```
 */
export function createEulerAncestralScheduler(config: ResolvedSchedulerConfig): Scheduler<EulerAncestralState> {
  const className = 'EulerAncestralDiscreteScheduler';
  const { schedule, sigmaTable } = sigmaSchedule(config);
  return defineScheduler<EulerAncestralState>({
    className, config, schedule, sequential: false, options: [], stochastic: true,
    plan: (n) => sigmaPlan(config, sigmaTable, n, 'float32'),
    initial: () => ({}),
    scale: (sample, i, plan) => scaleBySigma(sample, plan.sigmas![i]!),
    update({ modelOutput, stepIndex, sample, plan, noise }) {
      const sigma = plan.sigmas![stepIndex]!;
      const { up, down } = ancestralSigmas(sigma, plan.sigmas![stepIndex + 1]!);
      // 1. x̂₀, 2. d = (x − x̂₀)/σ, 3. x' = x + d (σ_down − σ) + σ_up z.
      const predOriginalSample = sigmaPredX0(modelOutput, sample, sigma, sigma, config.predictionType);
      const derivative = tf.div(tf.sub(sample, predOriginalSample), sigma);
      const prevSample = tf.addN([sample, tf.mul(derivative, f32(down - sigma)), tf.mul(noise(), up)]) as tf.Tensor4D;
      return { prevSample, predOriginalSample, state: {} };
    },
    addNoise: (original, noise, timesteps, plan) => sigmaAddNoise(className, original, noise, timesteps, plan),
  });
}
