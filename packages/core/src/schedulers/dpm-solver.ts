/**
 * Multistep DPM-Solver++ (Lu, Zhou, Bao, Chen, Li & Zhu 2022, "DPM-Solver++: Fast Solver for Guided Sampling of
 * Diffusion Probabilistic Models", arXiv:2211.01095, Algorithm 2 and §4) and multistep DPM-Solver (arXiv:2206.00927),
 * orders 1–3, as diffusers' `DPMSolverMultistepScheduler` (`dpmsolver++` / `dpmsolver`, `midpoint` / `heun`).
 *
 * Symbols: σ_i = `plan.sigmas[i]` (σ scale); α_t = 1/√(σ² + 1) and σ_t = σ α_t (VP scale, diffusers
 * `_sigma_to_alpha_sigma_t`); λ = log α_t − log σ_t (half log-SNR); h = λ_{t} − λ_{s0} the step in λ;
 * m_k = converted model outputs (x̂₀ for ++, ε̂ for DPM-Solver), newest m0; r0 = h_0/h; D0 = m0,
 * D1 = (m0 − m1)/r0 (first divided difference).
 *
 * `lower_order_final`: with fewer than 15 steps the last step is first order and the one before at most second
 * order (`euler_at_final` makes the last step first order always). The plan's last sigma is σ of timestep 0, not 0.
 * @module
 */
import * as tf from '@tensorflow/tfjs-core';
import { noiseSchedule, trainSigmas } from './betas.js';
import type { ResolvedSchedulerConfig } from './config.js';
import { requirePlan, rowTimesteps, sigmaIndexOf } from './noising.js';
import { dynamicThreshold, rowScale } from './prediction.js';
import { assertSample, checkHistory, checkInit, checkPlanStep, checkStep, oneCallPerStep, own, releaseState, retireState } from './state.js';
import { checkStepCount, dpmTimesteps, sigmasAtTimesteps } from './timesteps.js';
import type { Scheduler, SchedulerPlan, SchedulerState, StepOptions, StepResult } from './types.js';

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

/** α_t, σ_t and λ of a σ-scale noise level. */
function vpLevel(sigma: number): { alpha: number; sigmaT: number; lambda: number } {
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
  if (cfg.algorithmType === 'dpmsolver++') {
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
 * Call inside `tf.tidy`.
 *
 * @param history converted outputs, oldest first; the last `order` are used (m0 = last)
 * @param sample  x at σ_{s0} `[B, H, W, C]`
 * @param sigmas  [σ_t, σ_{s0}, σ_{s1}, σ_{s2}] (the ones the order needs)
 * @param order   1, 2 or 3
 * @param cfg     algorithm and solver type
 * @example
 * ```ts
 * const x = tf.tidy(() => dpmSolverUpdate([m1, m0], xs, [s_t, s_0, s_1], 2, cfg));
 * ```
 */
export function dpmSolverUpdate(
  history: readonly tf.Tensor4D[], sample: tf.Tensor4D, sigmas: readonly number[], order: 1 | 2 | 3, cfg: ResolvedSchedulerConfig,
): tf.Tensor4D {
  const [t, s0, s1, s2] = sigmas.map(vpLevel);
  const m = (k: number) => history[history.length - 1 - k]!;
  const plus = cfg.algorithmType === 'dpmsolver++';
  const h = t!.lambda - s0!.lambda;
  // 1. The exponential-integrator base x_t = (σ_t/σ_s0) x − α_t (e^{−h} − 1) D0   (++, eq. 9 of 2211.01095)
  //    or x_t = (α_t/α_s0) x − σ_t (e^{h} − 1) D0                                  (DPM-Solver, eq. 3.7 of 2206.00927).
  const phi1 = plus ? -t!.alpha * Math.expm1(-h) : -t!.sigmaT * Math.expm1(h);
  const terms: tf.Tensor[] = [tf.mul(sample, plus ? t!.sigmaT / s0!.sigmaT : t!.alpha / s0!.alpha), tf.mul(m(0), phi1)];
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
    const phi2 = plus ? t!.alpha * (Math.expm1(-h) / h + 1) : -t!.sigmaT * (Math.expm1(h) / h - 1);
    terms.push(tf.mul(d1, order === 2 && cfg.solverType === 'midpoint' ? 0.5 * phi1 : phi2));
    if (d2) {
      const phi3 = plus ? -t!.alpha * ((Math.expm1(-h) + h) / (h * h) - 0.5) : -t!.sigmaT * ((Math.expm1(h) - h) / (h * h) - 0.5);
      terms.push(tf.mul(d2, phi3));
    }
  }
  return tf.addN(terms) as tf.Tensor4D;
}

/**
 * Creates a multistep DPM-Solver scheduler (`DPMSolverMultistepScheduler`; no Karras/Lu sigmas, no SDE variants).
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
  const held = (s: DpmSolverState) => s.modelOutputs;

  return {
    className,
    config,
    schedule,
    setTimesteps(n: number): SchedulerPlan {
      checkStepCount(n, T);
      const timesteps = dpmTimesteps(config.timestepSpacing, T, lastTimestep, n, config.stepsOffset);
      // σ per step, then σ of timestep 0 (diffusers 0.25 `sigma_last`), float32.
      const sigmas = Float32Array.of(...sigmasAtTimesteps(timesteps, sigmaTable), sigmaTable[0]!);
      return Object.freeze({
        className, numInferenceSteps: n, timesteps: Object.freeze(timesteps), sigmas, initNoiseSigma: 1, ...oneCallPerStep(timesteps.length),
      });
    },
    initState(plan, opts) {
      const nextStepIndex = checkInit(className, plan, opts?.startIndex);
      return Object.freeze({ className, plan, nextStepIndex, modelOutputs: Object.freeze([]), lowerOrderNums: 0 });
    },
    scaleModelInput(sample, stepIndex, plan) {
      assertSample('sample', sample);
      checkPlanStep(className, plan, stepIndex);
      return tf.clone(sample);
    },
    step(modelOutput, stepIndex, sample, state, opts: StepOptions = {}): StepResult<DpmSolverState> {
      checkStep(className, { modelOutput, stepIndex, sample, state, opts }, true, []);
      checkHistory(held(state), sample);
      const { plan } = state;
      const sigmas = plan.sigmas!;
      const n = plan.timesteps.length;
      const i = stepIndex;
      // 1. Final-step order reduction (numerical stability with few steps).
      const lowerOrderFinal = i === n - 1 && (config.eulerAtFinal || (config.lowerOrderFinal && n < 15));
      const lowerOrderSecond = i === n - 2 && config.lowerOrderFinal && n < 15;
      const so = config.solverOrder;
      const order: 1 | 2 | 3 = so === 1 || state.lowerOrderNums < 1 || lowerOrderFinal ? 1
        : so === 2 || state.lowerOrderNums < 2 || lowerOrderSecond ? 2 : 3;
      const out = tf.tidy(() => {
        // 2. Convert the model output and push it on the history; 3. the update of the chosen order.
        const converted = dpmConvertModelOutput(modelOutput, sample, sigmas[i]!, config);
        const history = [...state.modelOutputs, converted].slice(-so);
        const prevSample = dpmSolverUpdate(history, sample, [sigmas[i + 1]!, sigmas[i]!, sigmas[i - 1] ?? 0, sigmas[i - 2] ?? 0], order, config);
        const { alpha, sigmaT } = vpLevel(sigmas[i]!);
        const predOriginalSample = config.algorithmType === 'dpmsolver++'
          ? tf.clone(converted) : tf.div(tf.sub(sample, tf.mul(converted, sigmaT)), alpha) as tf.Tensor4D;
        return { prevSample, predOriginalSample, modelOutputs: history.map(own) };
      });
      retireState(state, held(state), stepIndex, opts.keepState);
      const next: DpmSolverState = Object.freeze({
        className, plan, nextStepIndex: i + 1, modelOutputs: Object.freeze(out.modelOutputs),
        lowerOrderNums: Math.min(state.lowerOrderNums + 1, so),
      });
      return { prevSample: out.prevSample, predOriginalSample: out.predOriginalSample, state: next };
    },
    addNoise(original, noise, timesteps, plan) {
      // x = α x₀ + σ_t ε at the plan's σ of each timestep (the last step when a timestep is not in the plan).
      const p = requirePlan(plan, className);
      const levels = rowTimesteps(original, noise, timesteps).map((t) => vpLevel(p.sigmas[sigmaIndexOf(p, t, 'last')]!));
      return tf.tidy(() => tf.add(tf.mul(original, rowScale(levels.map((l) => l.alpha))), tf.mul(noise, rowScale(levels.map((l) => l.sigmaT)))));
    },
    disposeState(state) {
      releaseState(state, held(state));
    },
  };
}
