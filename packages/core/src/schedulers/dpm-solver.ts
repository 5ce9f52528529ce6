/**
 * Multistep DPM-Solver++ (Lu, Zhou, Bao, Chen, Li & Zhu 2022, "DPM-Solver++: Fast Solver for Guided Sampling of
 * Diffusion Probabilistic Models", arXiv:2211.01095, Algorithm 2 and §4) and multistep DPM-Solver (arXiv:2206.00927),
 * orders 1–3, as diffusers' `DPMSolverMultistepScheduler` (`dpmsolver++` / `dpmsolver`, `midpoint` / `heun`), and
 * its SDE variants `sde-dpmsolver++` / `sde-dpmsolver` (orders 1–2; §4.2 of arXiv:2211.01095, "DPM++ 2M SDE"),
 * which add fresh noise each step. With `use_karras_sigmas` the σ are Karras et al.'s (ρ = 7) between the ends of
 * the training table, the timesteps their rounded `_sigma_to_t`, and the last σ is repeated (the final step is the
 * identity).
 *
 * Symbols: σ_i = `plan.sigmas[i]` (σ scale); α_t = 1/√(σ² + 1) and σ_t = σ α_t (VP scale, diffusers
 * `_sigma_to_alpha_sigma_t`); λ = log α_t − log σ_t (half log-SNR); h = λ_{t} − λ_{s0} the step in λ;
 * m_k = converted model outputs (x̂₀ for ++, ε̂ for DPM-Solver), newest m0; r0 = h_0/h; D0 = m0,
 * D1 = (m0 − m1)/r0 (first divided difference).
 *
 * `lower_order_final`: with fewer than 15 steps the last step is first order and the one before at most second
 * order (`euler_at_final` makes the last step first order always). The plan's last sigma is σ of timestep 0, not 0
 * (without Karras sigmas).
 * @module
 */
import * as tf from '@tensorflow/tfjs-core';
import { noiseSchedule, trainSigmas } from './betas.js';
import type { ResolvedSchedulerConfig } from './config.js';
import { requirePlan, rowTimesteps, sigmaIndexOf } from './noising.js';
import { roundHalfEven } from './numpy-compat.js';
import { dynamicThreshold, rowScale } from './prediction.js';
import { defineScheduler } from './scaffold.js';
import { karrasSchedule } from './sigmas.js';
import { own } from './state.js';
import { dpmTimesteps, sigmasAtTimesteps } from './timesteps.js';
import type { Scheduler, SchedulerPlan, SchedulerState } from './types.js';

/**
 * DPM-Solver's state: the converted model outputs of the last steps and how many steps have been taken (capped at
 * the solver order), which gates the warm-up orders.
 *
 * @example
 * ```ts
 * const state: DpmSolverState = dpm.initState(plan); // modelOutputs [], lowerOrderNums 0
 * ```
 */
export interface DpmSolverState extends SchedulerState {
  readonly className: 'DPMSolverMultistepScheduler';
  /** m_k `[B, H, W, C]` of the last (at most `solver_order`) steps, oldest first. */
  readonly modelOutputs: readonly tf.Tensor4D[];
  /** diffusers `lower_order_nums`: steps taken so far, at most `solver_order`. */
  readonly lowerOrderNums: number;
}

/**
 * α_t = 1/√(σ² + 1), σ_t = σ α_t and λ = log α_t − log σ_t of a σ-scale noise level (diffusers
 * `_sigma_to_alpha_sigma_t`).
 *
 * @param sigma σ
 * @example
 * ```ts
 * vpLevel(1); // { alpha: 0.7071, sigmaT: 0.7071, lambda: 0 }
 * ```
 */
export function vpLevel(sigma: number): { alpha: number; sigmaT: number; lambda: number } {
  const alpha = 1 / Math.sqrt(sigma * sigma + 1);
  const sigmaT = sigma * alpha;
  return { alpha, sigmaT, lambda: Math.log(alpha) - Math.log(sigmaT) };
}

/**
 * diffusers `convert_model_output`: the data prediction x̂₀ (DPM-Solver++) or noise prediction ε̂ (DPM-Solver) from
 * the raw model output, with dynamic thresholding of x̂₀ when configured. Call inside `tf.tidy`.
 *
 * @param modelOutput raw model output `[B, H, W, C]`
 * @param sample      x at σ (VP scale) `[B, H, W, C]`
 * @param sigma       σ of the step
 * @param cfg         the resolved config
 * @example
 * ```ts
 * const m = tf.tidy(() => dpmConvertModelOutput(eps, x, plan.sigmas[i]!, cfg)); // x̂₀ for dpmsolver++
 * ```
 */
export function dpmConvertModelOutput(modelOutput: tf.Tensor4D, sample: tf.Tensor4D, sigma: number, cfg: ResolvedSchedulerConfig): tf.Tensor4D {
  const { alpha, sigmaT } = vpLevel(sigma);
  const thresh = (x0: tf.Tensor4D) => dynamicThreshold(x0, cfg.dynamicThresholdingRatio, cfg.sampleMaxValue);
  if (cfg.algorithmType.endsWith('dpmsolver++')) {
    let x0: tf.Tensor4D;
    if (cfg.predictionType === 'epsilon') x0 = tf.div(tf.sub(sample, tf.mul(modelOutput, sigmaT)), alpha);
    else if (cfg.predictionType === 'sample') x0 = tf.clone(modelOutput);
    else x0 = tf.sub(tf.mul(sample, alpha), tf.mul(modelOutput, sigmaT));
    return cfg.thresholding ? thresh(x0) : x0;
  }
  let eps: tf.Tensor4D;
  if (cfg.predictionType === 'epsilon') eps = tf.clone(modelOutput);
  else if (cfg.predictionType === 'sample') eps = tf.div(tf.sub(sample, tf.mul(modelOutput, alpha)), sigmaT);
  else eps = tf.add(tf.mul(modelOutput, alpha), tf.mul(sample, sigmaT));
  if (!cfg.thresholding) return eps;
  const x0 = thresh(tf.div(tf.sub(sample, tf.mul(eps, sigmaT)), alpha));
  return tf.div(tf.sub(sample, tf.mul(x0, alpha)), sigmaT);
}

/**
 * One multistep DPM-Solver(++) update from σ_{s0} to σ_t of order `history.length` (1, 2 or 3), the math without
 * bookkeeping (diffusers `dpm_solver_first_order_update` / `multistep_dpm_solver_second|third_order_update`).
 * The SDE variants (orders 1–2) need `noise`. A zero step (h = 0, the repeated last Karras σ) returns the sample.
 * Call inside `tf.tidy`.
 *
 * @param history converted outputs, oldest first; the last `order` are used (m0 = last)
 * @param sample  x at σ_{s0} `[B, H, W, C]`
 * @param sigmas  [σ_t, σ_{s0}, σ_{s1}, σ_{s2}] (the ones the order needs)
 * @param order   1, 2 or 3
 * @param cfg     algorithm and solver type
 * @param noise   z `[B, H, W, C]` for the SDE variants
 * @example
 * ```ts
 * const x = tf.tidy(() => dpmSolverUpdate([m1, m0], xs, [s_t, s_0, s_1], 2, cfg));
 * ```
 */
export function dpmSolverUpdate(
  history: readonly tf.Tensor4D[], sample: tf.Tensor4D, sigmas: readonly number[], order: 1 | 2 | 3, cfg: ResolvedSchedulerConfig,
  noise?: tf.Tensor4D,
): tf.Tensor4D {
  const [t, s0, s1, s2] = sigmas.map(vpLevel);
  const m = (k: number) => history[history.length - 1 - k]!;
  const plus = cfg.algorithmType.endsWith('dpmsolver++');
  const sde = cfg.algorithmType.startsWith('sde-');
  if (sde && !noise) throw new TypeError(`dpmSolverUpdate: ${cfg.algorithmType} needs noise`);
  const h = t!.lambda - s0!.lambda;
  if (h === 0) return tf.clone(sample);
  // 1. The exponential-integrator base x_t = (σ_t/σ_s0) x − α_t (e^{−h} − 1) D0   (++, eq. 9 of 2211.01095)
  //    or x_t = (α_t/α_s0) x − σ_t (e^{h} − 1) D0                                  (DPM-Solver, eq. 3.7 of 2206.00927);
  //    SDE-DPM-Solver++: (σ_t/σ_s0) e^{−h} x + α_t (1 − e^{−2h}) D0 + σ_t √(1 − e^{−2h}) z;
  //    SDE-DPM-Solver:   (α_t/α_s0) x − 2 σ_t (e^{h} − 1) D0 + σ_t √(e^{2h} − 1) z.
  let phi1: number;
  let sampleCoeff: number;
  if (plus) {
    phi1 = sde ? -t!.alpha * Math.expm1(-2 * h) : -t!.alpha * Math.expm1(-h);
    sampleCoeff = (t!.sigmaT / s0!.sigmaT) * (sde ? Math.exp(-h) : 1);
  } else {
    phi1 = -t!.sigmaT * Math.expm1(h) * (sde ? 2 : 1);
    sampleCoeff = t!.alpha / s0!.alpha;
  }
  const terms: tf.Tensor[] = [tf.mul(sample, sampleCoeff), tf.mul(m(0), phi1)];
  if (sde) terms.push(tf.mul(noise!, t!.sigmaT * Math.sqrt(plus ? -Math.expm1(-2 * h) : Math.expm1(2 * h))));
  if (order >= 2) {
    // 2. Second order: D1 = (m0 − m1)/r0, weighted ½ φ₁ (midpoint) or by the Heun coefficient.
    const r0 = (s0!.lambda - s1!.lambda) / h;
    const d10 = tf.div(tf.sub(m(0), m(1)), r0);
    let d1 = d10;
    let d2: tf.Tensor | undefined;
    if (order === 3) {
      // 3. Third order: D1 = D1_0 + r0/(r0 + r1) (D1_0 − D1_1), D2 = (D1_0 − D1_1)/(r0 + r1).
      const r1 = (s1!.lambda - s2!.lambda) / h;
      const d11 = tf.div(tf.sub(m(1), m(2)), r1);
      d1 = tf.add(d10, tf.mul(tf.sub(d10, d11), r0 / (r0 + r1)));
      d2 = tf.div(tf.sub(d10, d11), r0 + r1);
    }
    let phi2: number;
    if (plus) phi2 = sde ? t!.alpha * (Math.expm1(-2 * h) / (2 * h) + 1) : t!.alpha * (Math.expm1(-h) / h + 1);
    else phi2 = -t!.sigmaT * (Math.expm1(h) / h - 1) * (sde ? 2 : 1);
    terms.push(tf.mul(d1, order === 2 && cfg.solverType === 'midpoint' ? 0.5 * phi1 : phi2));
    if (d2) {
      const phi3 = plus ? -t!.alpha * ((Math.expm1(-h) + h) / (h * h) - 0.5) : -t!.sigmaT * ((Math.expm1(h) - h) / (h * h) - 0.5);
      terms.push(tf.mul(d2, phi3));
    }
  }
  return tf.addN(terms) as tf.Tensor4D;
}

/**
 * The σ of a DPM-Solver / UniPC plan: interpolated at the timesteps plus σ of timestep 0 (diffusers 0.25
 * `sigma_last`), or Karras sigmas between the ends of the training table with their rounded timesteps and the last σ
 * repeated. Float32.
 *
 * @param config       the resolved config (`use_karras_sigmas`, spacing)
 * @param sigmaTable   σ_t for t = 0..T−1
 * @param n            number of inference steps
 * @param lastTimestep T minus the timesteps `lambda_min_clipped` cuts off
 * @example
 * ```ts
 * const { timesteps, sigmas } = vpPlan(config, trainSigmas(ac), 10, 1000);
 * ```
 */
export function vpPlan(config: ResolvedSchedulerConfig, sigmaTable: Float32Array, n: number, lastTimestep: number): { timesteps: number[]; sigmas: Float32Array } {
  if (config.useKarrasSigmas) {
    const k = karrasSchedule(sigmaTable[0]!, sigmaTable[sigmaTable.length - 1]!, n, sigmaTable);
    return { timesteps: k.timesteps.map(roundHalfEven), sigmas: Float32Array.of(...k.sigmas, k.sigmas[k.sigmas.length - 1]!) };
  }
  const timesteps = dpmTimesteps(config.timestepSpacing, config.numTrainTimesteps, lastTimestep, n, config.stepsOffset);
  return { timesteps, sigmas: Float32Array.of(...sigmasAtTimesteps(timesteps, sigmaTable), sigmaTable[0]!) };
}

/**
 * x = α x₀ + σ_t ε at the plan's σ of each timestep (the last step when a timestep is not in the plan), the
 * `add_noise` of DPM-Solver and UniPC.
 *
 * @param className the scheduler class (for errors)
 * @param original  clean samples `[B, H, W, C]`
 * @param noise     ε `[B, H, W, C]`
 * @param timesteps one timestep, or one per row
 * @param plan      the plan whose σ are used
 * @example
 * ```ts
 * const noisy = vpAddNoise('UniPCMultistepScheduler', x0, eps, plan.timesteps[2]!, plan);
 * ```
 */
export function vpAddNoise(className: string, original: tf.Tensor4D, noise: tf.Tensor4D, timesteps: number | readonly number[], plan?: SchedulerPlan): tf.Tensor4D {
  const p = requirePlan(plan, className);
  const levels = rowTimesteps(original, noise, timesteps).map((t) => vpLevel(p.sigmas[sigmaIndexOf(p, t, 'last')]!));
  return tf.tidy(() => tf.add(tf.mul(original, rowScale(levels.map((l) => l.alpha))), tf.mul(noise, rowScale(levels.map((l) => l.sigmaT)))));
}

/**
 * Creates a multistep DPM-Solver scheduler (`DPMSolverMultistepScheduler`; interpolated or Karras sigmas, ODE or
 * SDE algorithms; no Lu lambdas). Stochastic for the `sde-` algorithm types.
 *
 * @param config a resolved config of class `DPMSolverMultistepScheduler`
 * @example
 * ```ts
 * const dpm = createDpmSolverScheduler(resolveSchedulerConfig({ ...sdJson, _class_name: 'DPMSolverMultistepScheduler' }));
 * dpm.setTimesteps(10).timesteps; // [999, 899, 799, 699, 599, 500, 400, 300, 200, 100]
 * ```
 */
export function createDpmSolverScheduler(config: ResolvedSchedulerConfig): Scheduler<DpmSolverState> {
  const className = 'DPMSolverMultistepScheduler';
  const schedule = noiseSchedule(config);
  const ac = schedule.alphasCumprod;
  const sigmaTable = trainSigmas(ac);
  const T = config.numTrainTimesteps;
  // lambda_min_clipped: drop the noisiest timesteps whose λ_t is below the bound (searchsorted on ascending λ).
  const lambdas = Array.from(ac, (a) => Math.log(Math.sqrt(a)) - Math.log(Math.sqrt(1 - a)));
  const lastTimestep = T - lambdas.filter((l) => l < config.lambdaMinClipped).length;
  const sde = config.algorithmType.startsWith('sde-');
  return defineScheduler<DpmSolverState>({
    className, config, schedule, sequential: true, options: [], stochastic: sde,
    plan: (n) => vpPlan(config, sigmaTable, n, lastTimestep),
    initial: () => ({ modelOutputs: Object.freeze([]), lowerOrderNums: 0 }),
    held: (s) => s.modelOutputs,
    update({ modelOutput, stepIndex: i, sample, state, plan, noise }) {
      const sigmas = plan.sigmas!;
      const n = plan.timesteps.length;
      // 1. Final-step order reduction (numerical stability with few steps).
      const lowerOrderFinal = i === n - 1 && (config.eulerAtFinal || (config.lowerOrderFinal && n < 15));
      const lowerOrderSecond = i === n - 2 && config.lowerOrderFinal && n < 15;
      const so = config.solverOrder;
      const order: 1 | 2 | 3 = so === 1 || state.lowerOrderNums < 1 || lowerOrderFinal ? 1
        : so === 2 || state.lowerOrderNums < 2 || lowerOrderSecond ? 2 : 3;
      // 2. Convert the model output and push it on the history; 3. the update of the chosen order.
      const converted = dpmConvertModelOutput(modelOutput, sample, sigmas[i]!, config);
      const history = [...state.modelOutputs, converted].slice(-so);
      const z = sde ? noise() : undefined;
      const prevSample = dpmSolverUpdate(history, sample, [sigmas[i + 1]!, sigmas[i]!, sigmas[i - 1] ?? 0, sigmas[i - 2] ?? 0], order, config, z);
      const { alpha, sigmaT } = vpLevel(sigmas[i]!);
      const predOriginalSample = config.algorithmType.endsWith('dpmsolver++')
        ? tf.clone(converted) : tf.div(tf.sub(sample, tf.mul(converted, sigmaT)), alpha) as tf.Tensor4D;
      return {
        prevSample, predOriginalSample,
        state: { modelOutputs: Object.freeze(history.map(own)), lowerOrderNums: Math.min(state.lowerOrderNums + 1, so) },
      };
    },
    addNoise: (original, noise, timesteps, plan) => vpAddNoise(className, original, noise, timesteps, plan),
  });
}
