/**
 * Forward noising for img2img and inversion, as diffusers' `add_noise`:
 *
 * - variance-preserving (DDIM, DDIM inversion, PNDM; DDPM eq. 4): x_t = √ᾱ_t x₀ + √(1 − ᾱ_t) ε;
 * - sigma scale (Euler, LMS; Karras et al. 2022): x = x₀ + σ ε, σ looked up from the plan by timestep;
 * - DPM-Solver: x = α x₀ + σ_t ε with α = 1/√(σ² + 1), σ_t = σ α.
 *
 * Symbols: x₀ = `original`, ε = `noise`, both `[B, H, W, C]`; one timestep for every row, or one per row.
 * @module
 */
import * as tf from '@tensorflow/tfjs-core';
import { OptionError } from '../errors.js';
import { rowScale } from './prediction.js';
import { assertSameShape, assertSample } from './state.js';
import type { SchedulerPlan } from './types.js';

/**
 * Checks `addNoise`'s tensors and spreads `timesteps` to one per batch row.
 *
 * @param original  x₀ `[B, H, W, C]`
 * @param noise     ε, same shape
 * @param timesteps one timestep, or one per row
 * @example
 * ```ts
 * rowTimesteps(x0, eps, 501); // [501, 501] for B = 2
 * ```
 */
export function rowTimesteps(original: tf.Tensor4D, noise: tf.Tensor4D, timesteps: number | readonly number[]): number[] {
  assertSample('original', original);
  assertSameShape('noise', noise, original);
  const b = original.shape[0];
  const list = typeof timesteps === 'number' ? new Array<number>(b).fill(timesteps) : [...timesteps];
  if (list.length !== b) throw new OptionError('timesteps', `needs one timestep or ${b} (one per batch row), got ${list.length}`);
  return list;
}

/**
 * Variance-preserving noising x_t = √ᾱ_t x₀ + √(1 − ᾱ_t) ε at integer training timesteps.
 *
 * @param alphasCumprod ᾱ (float32 table of the scheduler)
 * @param original      x₀ `[B, H, W, C]`
 * @param noise         ε `[B, H, W, C]`
 * @param timesteps     integer timesteps in [0, T), one or one per row
 * @example
 * ```ts
 * const xt = addNoiseVp(s.schedule.alphasCumprod, x0, eps, 501); // [B, H, W, C]
 * ```
 */
export function addNoiseVp(
  alphasCumprod: Float32Array, original: tf.Tensor4D, noise: tf.Tensor4D, timesteps: number | readonly number[],
): tf.Tensor4D {
  const ts = rowTimesteps(original, noise, timesteps);
  const ac = ts.map((t) => {
    if (!Number.isInteger(t) || t < 0 || t >= alphasCumprod.length) {
      throw new OptionError('timesteps', `must be integers in [0, ${alphasCumprod.length}), got ${t}`);
    }
    return alphasCumprod[t]!;
  });
  return tf.tidy(() => tf.add(tf.mul(original, rowScale(ac.map(Math.sqrt))), tf.mul(noise, rowScale(ac.map((a) => Math.sqrt(1 - a))))));
}

/**
 * Index of timestep `t` in a plan, for the sigma-based `add_noise`. diffusers' Euler/LMS require exactly one match;
 * DPM-Solver takes the last step when none matches and the second match when several do (`onMissing: 'last'`).
 *
 * @param plan      the plan whose sigmas are used
 * @param t         a timestep of the plan
 * @param onMissing `error` (Euler, LMS) or `last` (DPM-Solver)
 * @example
 * ```ts
 * sigmaIndexOf(plan, plan.timesteps[3]!, 'error'); // 3
 * ```
 */
export function sigmaIndexOf(plan: SchedulerPlan, t: number, onMissing: 'error' | 'last'): number {
  const hits = plan.timesteps.flatMap((v, i) => (v === t ? [i] : []));
  if (onMissing === 'last') return hits.length === 0 ? plan.timesteps.length - 1 : hits.length > 1 ? hits[1]! : hits[0]!;
  if (hits.length !== 1) {
    throw new OptionError('timesteps', `${t} must occur exactly once in the plan's timesteps (found ${hits.length} times)`);
  }
  return hits[0]!;
}

/**
 * The plan of a sigma-based scheduler, or an error saying `addNoise` needs it.
 *
 * @param plan      the plan passed to `addNoise`, maybe undefined
 * @param className the scheduler class (for the message)
 * @example
 * ```ts
 * const p = requirePlan(plan, 'EulerDiscreteScheduler');
 * ```
 */
export function requirePlan(plan: SchedulerPlan | undefined, className: string): SchedulerPlan & { sigmas: Float32Array } {
  if (!plan || plan.className !== className || !plan.sigmas) {
    throw new OptionError('plan', `${className}.addNoise needs the plan from its setTimesteps (sigmas are per plan)`);
  }
  return plan as SchedulerPlan & { sigmas: Float32Array };
}
