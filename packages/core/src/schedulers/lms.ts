/**
 * Linear multistep (LMS) sampler in the σ scale (Karras et al. 2022, arXiv:2206.00364; k-diffusion
 * `sample_lms`), as diffusers' `LMSDiscreteScheduler`.
 *
 * With d_j = (x_j − x̂₀_j)/σ_j the ODE derivative at step j, step i is the Adams–Bashforth rule with
 * non-uniform nodes: x_{i+1} = x_i + Σ_{c<o} C_c d_{i−c}, where o = min(i + 1, order) and
 * C_c = ∫_{σ_i}^{σ_{i+1}} ℓ_c(τ) dτ, ℓ_c(τ) = Π_{k<o, k≠c} (τ − σ_{i−k}) / (σ_{i−c} − σ_{i−k}) the Lagrange basis
 * polynomial through the last o sigmas.
 *
 * The reference integrates ℓ_c with `scipy.integrate.quad`; ℓ_c is a polynomial of degree o − 1, so here it is
 * integrated in closed form instead (expanded around σ_i and integrated term by term in float64), which is exact up
 * to rounding. Model input scaling, x̂₀ and the sigma table are the same as Euler's.
 * @module
 */
import * as tf from '@tensorflow/tfjs-core';
import { OptionError } from '../errors.js';
import type { ResolvedSchedulerConfig } from './config.js';
import { scaleBySigma, sigmaPredX0 } from './euler.js';
import { defineScheduler } from './scaffold.js';
import { sigmaAddNoise, sigmaPlan, sigmaSchedule } from './sigmas.js';
import { own } from './state.js';
import type { Scheduler, SchedulerState } from './types.js';

/**
 * LMS's state: the ODE derivatives of the last steps, oldest first.
 *
 * @example
 * ```ts
 * const state: LmsState = lms.initState(plan); // derivatives []
 * ```
 */
export interface LmsState extends SchedulerState {
  readonly className: 'LMSDiscreteScheduler';
  /** d_j `[B, H, W, C]` of the last (at most `order`) steps, oldest first. */
  readonly derivatives: readonly tf.Tensor4D[];
}

/**
 * The LMS coefficient C_c = ∫_{σ_i}^{σ_{i+1}} ℓ_c(τ) dτ in closed form (see the module notes).
 *
 * @param sigmas       the plan's sigmas (σ_i, with σ_N = 0)
 * @param order        o, the number of nodes σ_i, σ_{i−1}, …, σ_{i−o+1}
 * @param t            the step i (needs i − o + 1 >= 0 and i + 1 < sigmas.length)
 * @param currentOrder c in [0, o): which derivative (0 = the newest) the coefficient weighs
 * @example
 * ```ts
 * lmsCoefficient(Float32Array.of(3, 2, 0), 1, 0, 0); // -1 (σ₁ − σ₀, an Euler step)
 * ```
 */
export function lmsCoefficient(sigmas: ArrayLike<number>, order: number, t: number, currentOrder: number): number {
  const a = sigmas[t]!;
  const b = sigmas[t + 1]!;
  // ℓ_c(a + u) as ascending coefficients in u = τ − a.
  let poly = [1];
  let denom = 1;
  for (let k = 0; k < order; k++) {
    if (k === currentOrder) continue;
    const node = sigmas[t - k]! - a;
    const next = new Array<number>(poly.length + 1).fill(0);
    poly.forEach((c, p) => {
      next[p + 1]! += c;
      next[p]! -= node * c;
    });
    poly = next;
    denom *= sigmas[t - currentOrder]! - sigmas[t - k]!;
  }
  // ∫_0^{b−a} Σ_p c_p u^p du = Σ_p c_p (b − a)^{p+1} / (p + 1).
  const h = b - a;
  return poly.reduce((sum, c, p) => sum + (c * h ** (p + 1)) / (p + 1), 0) / denom;
}

/**
 * Creates an LMS scheduler (`LMSDiscreteScheduler`; linear sigma interpolation, or Karras sigmas).
 *
 * @param config a resolved config of class `LMSDiscreteScheduler`
 * @example
 * ```ts
 * const lms = createLmsScheduler(resolveSchedulerConfig({ ...sdJson, _class_name: 'LMSDiscreteScheduler' }));
 * lms.setTimesteps(10).sigmas; // Float32Array(11) [14.61, ..., 0.029, 0]
 * ```
 */
export function createLmsScheduler(config: ResolvedSchedulerConfig): Scheduler<LmsState> {
  const className = 'LMSDiscreteScheduler';
  const { schedule, sigmaTable } = sigmaSchedule(config);
  return defineScheduler<LmsState>({
    className, config, schedule, sequential: true, options: ['order'],
    plan: (n) => sigmaPlan(config, sigmaTable, n, 'float64'),
    initial: () => ({ derivatives: Object.freeze([]) }),
    held: (s) => s.derivatives,
    scale: (sample, i, plan) => scaleBySigma(sample, plan.sigmas![i]!),
    update({ modelOutput, stepIndex, sample, state, plan, opts }) {
      const order = opts.order ?? 4;
      if (!Number.isInteger(order) || order < 1) throw new OptionError('order', `must be an integer >= 1, got ${order}`);
      const sigmas = plan.sigmas!;
      const sigma = sigmas[stepIndex]!;
      // 1. Effective order o = min(i + 1, order) and its coefficients C_0..C_{o−1}.
      const o = Math.min(stepIndex + 1, order);
      const coeffs = Array.from({ length: o }, (_, c) => lmsCoefficient(sigmas, o, stepIndex, c));
      // 2. x̂₀ and 3. d_i = (x_i − x̂₀)/σ_i, appended to the history (at most `order` kept).
      const predOriginalSample = sigmaPredX0(modelOutput, sample, sigma, sigma, config.predictionType);
      const derivative = tf.div(tf.sub(sample, predOriginalSample), sigma) as tf.Tensor4D;
      const history = [...state.derivatives, derivative].slice(-order);
      // 4. x_{i+1} = x_i + Σ_c C_c d_{i−c} (newest derivative first; only as many as the history holds).
      const newestFirst = [...history].reverse().slice(0, o);
      const prevSample = tf.add(sample, tf.addN(newestFirst.map((d, c) => tf.mul(d, coeffs[c]!)))) as tf.Tensor4D;
      return { prevSample, predOriginalSample, state: { derivatives: Object.freeze(history.map(own)) } };
    },
    addNoise: (original, noise, timesteps, plan) => sigmaAddNoise(className, original, noise, timesteps, plan),
  });
}
