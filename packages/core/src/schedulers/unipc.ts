/**
 * UniPC (Zhao, Bai, Rao, Zhou & Lu 2023, "UniPC: A Unified Predictor-Corrector Framework for Fast Sampling of
 * Diffusion Models", arXiv:2302.04867, Algorithms 2 and 3, B(h) of §3.3), as diffusers' `UniPCMultistepScheduler`:
 * multistep UniP predictor of order p plus the UniC corrector that refines the incoming sample with the new model
 * output before predicting (the corrected sample is internal; `prevSample` is the predictor's output).
 *
 * Symbols (VP scale, as DPM-Solver): α_t, σ_t, λ = log α_t − log σ_t of `plan.sigmas`; h = λ_t − λ_s0;
 * m_k = converted outputs (x̂₀ with `predict_x0`, else ε̂), newest m0; r_k = (λ_{s_k} − λ_s0)/h;
 * D1_k = (m_k − m0)/r_k; hh = −h (x̂₀) or h (ε̂); B(h) = hh (`bh1`) or e^{hh} − 1 (`bh2`). The weights ρ solve
 * R ρ = b with R_{jk} = r_k^{j−1} and b_j = j! φ_{j+1}(hh) hh / B(h) (ρ_p = ½ at order 2, ρ_c = ½ at order 1).
 * @module
 */
import * as tf from '@tensorflow/tfjs-core';
import { noiseSchedule, trainSigmas } from './betas.js';
import type { ResolvedSchedulerConfig } from './config.js';
import { vpAddNoise, vpLevel, vpPlan } from './dpm-solver.js';
import { dynamicThreshold } from './prediction.js';
import { defineScheduler } from './scaffold.js';
import { own } from './state.js';
import type { Scheduler, SchedulerState } from './types.js';

/**
 * UniPC's state: the converted outputs of the last steps, the sample the last predictor started from (for the
 * corrector), that predictor's order and the warm-up count.
 *
 * @example
 * ```ts
 * const state: UniPcState = unipc.initState(plan); // modelOutputs [], lastSample null
 * ```
 */
export interface UniPcState extends SchedulerState {
  readonly className: 'UniPCMultistepScheduler';
  /** m_k `[B, H, W, C]` of the last (at most `solver_order`) steps, oldest first. */
  readonly modelOutputs: readonly tf.Tensor4D[];
  /** The (corrected) sample the last predictor started from; null before the first step. */
  readonly lastSample: tf.Tensor4D | null;
  /** Order of the last predictor (the next corrector's order). */
  readonly thisOrder: number;
  /** diffusers `lower_order_nums`: steps taken so far, at most `solver_order`. */
  readonly lowerOrderNums: number;
}

/** Solves the small dense system A x = b (Gaussian elimination with partial pivoting). */
function solve(a: number[][], b: number[]): number[] {
  const n = b.length;
  const m = a.map((row, i) => [...row.slice(0, n), b[i]!]);
  for (let c = 0; c < n; c++) {
    let p = c;
    for (let r = c + 1; r < n; r++) if (Math.abs(m[r]![c]!) > Math.abs(m[p]![c]!)) p = r;
    [m[c], m[p]] = [m[p]!, m[c]!];
    for (let r = c + 1; r < n; r++) {
      const f = m[r]![c]! / m[c]![c]!;
      for (let k = c; k <= n; k++) m[r]![k]! -= f * m[c]![k]!;
    }
  }
  const x = new Array<number>(n).fill(0);
  for (let r = n - 1; r >= 0; r--) {
    let v = m[r]![n]!;
    for (let k = r + 1; k < n; k++) v -= m[r]![k]! * x[k]!;
    x[r] = v / m[r]![r]!;
  }
  return x;
}

/**
 * The shared part of UniP and UniC: from level s0 to level t with history m (newest last) and the r_k of the older
 * entries, returns x_t without the higher-order term, the weight α_t B(h) (or σ_t B(h)), R and b.
 */
function uniCoefficients(sigmaT: number, sigmaS0: number, olderSigmas: readonly number[], cfg: ResolvedSchedulerConfig, order: number) {
  const t = vpLevel(sigmaT);
  const s0 = vpLevel(sigmaS0);
  const h = t.lambda - s0.lambda;
  const rks = [...olderSigmas.map((s) => (vpLevel(s).lambda - s0.lambda) / h), 1];
  const hh = cfg.predictX0 ? -h : h;
  const hPhi1 = Math.expm1(hh);
  const bh = cfg.solverType === 'bh1' ? hh : Math.expm1(hh);
  const R: number[][] = [];
  const b: number[] = [];
  let hPhiK = hPhi1 / hh - 1;
  let factorial = 1;
  for (let j = 1; j <= order; j++) {
    R.push(rks.map((r) => r ** (j - 1)));
    b.push((hPhiK * factorial) / bh);
    factorial *= j + 1;
    hPhiK = hPhiK / hh - 1 / factorial;
  }
  // x_t_ = (σ_t/σ_s0) x − α_t hφ₁ m0 (x̂₀) or (α_t/α_s0) x − σ_t hφ₁ m0 (ε̂); the correction is scaled by −α_t B(h) / −σ_t B(h).
  const sampleCoeff = cfg.predictX0 ? t.sigmaT / s0.sigmaT : t.alpha / s0.alpha;
  const m0Coeff = -(cfg.predictX0 ? t.alpha : t.sigmaT) * hPhi1;
  const resCoeff = -(cfg.predictX0 ? t.alpha : t.sigmaT) * bh;
  return { rks, R, b, sampleCoeff, m0Coeff, resCoeff };
}

/** Σ_k ρ_k D1_k with D1_k = (m_k − m0)/r_k for the older history entries m_k (newest first). */
function weightedDifferences(older: readonly tf.Tensor4D[], m0: tf.Tensor4D, rks: readonly number[], rhos: readonly number[]): tf.Tensor[] {
  return older.map((mk, k) => tf.mul(tf.div(tf.sub(mk, m0), rks[k]!), rhos[k]!));
}

/**
 * Creates a UniPC scheduler (`UniPCMultistepScheduler`: `bh1`/`bh2`, x̂₀ or ε̂ form, orders 1–3, interpolated or
 * Karras sigmas; no `solver_p`).
 *
 * @param config a resolved config of class `UniPCMultistepScheduler`
 * @example
 * ```ts
 * const unipc = createUniPcScheduler(resolveSchedulerConfig({ ...sdJson, _class_name: 'UniPCMultistepScheduler' }));
 * unipc.setTimesteps(10).timesteps; // [999, 899, ..., 100]
 * ```
 */
export function createUniPcScheduler(config: ResolvedSchedulerConfig): Scheduler<UniPcState> {
  const className = 'UniPCMultistepScheduler';
  const schedule = noiseSchedule(config);
  const sigmaTable = trainSigmas(schedule.alphasCumprod);
  const so = config.solverOrder;
  // diffusers' convert_model_output: x̂₀ (thresholded when configured) or ε̂.
  const convert = (modelOutput: tf.Tensor4D, sample: tf.Tensor4D, sigma: number): tf.Tensor4D => {
    const { alpha, sigmaT } = vpLevel(sigma);
    const p = config.predictionType;
    if (config.predictX0) {
      const x0 = p === 'epsilon' ? tf.div(tf.sub(sample, tf.mul(modelOutput, sigmaT)), alpha)
        : p === 'sample' ? tf.clone(modelOutput) : tf.sub(tf.mul(sample, alpha), tf.mul(modelOutput, sigmaT));
      return (config.thresholding ? dynamicThreshold(x0 as tf.Tensor4D, config.dynamicThresholdingRatio, config.sampleMaxValue) : x0) as tf.Tensor4D;
    }
    return (p === 'epsilon' ? tf.clone(modelOutput)
      : p === 'sample' ? tf.div(tf.sub(sample, tf.mul(modelOutput, alpha)), sigmaT) : tf.add(tf.mul(modelOutput, alpha), tf.mul(sample, sigmaT))) as tf.Tensor4D;
  };
  return defineScheduler<UniPcState>({
    className, config, schedule, sequential: true, options: [],
    plan: (n) => vpPlan(config, sigmaTable, n, config.numTrainTimesteps),
    initial: () => ({ modelOutputs: Object.freeze([]), lastSample: null, thisOrder: 1, lowerOrderNums: 0 }),
    held: (s) => (s.lastSample ? [...s.modelOutputs, s.lastSample] : s.modelOutputs),
    update({ modelOutput, stepIndex: i, sample, state, plan }) {
      const sigmas = plan.sigmas!;
      const m = convert(modelOutput, sample, sigmas[i]!);
      let x = sample;
      // 1. UniC: correct the incoming sample with this step's output (order of the last predictor).
      if (i > 0 && state.lastSample && !config.disableCorrector.includes(i - 1)) {
        const order = state.thisOrder;
        const hist = state.modelOutputs;
        const m0 = hist[hist.length - 1]!;
        const older = Array.from({ length: order - 1 }, (_, k) => hist[hist.length - 2 - k]!);
        const c = uniCoefficients(sigmas[i]!, sigmas[i - 1]!, older.map((_, k) => sigmas[i - 2 - k]!), config, order);
        const rhos = order === 1 ? [0.5] : solve(c.R, c.b);
        const res = [...weightedDifferences(older, m0, c.rks, rhos), tf.mul(tf.sub(m, m0), rhos[rhos.length - 1]!)];
        x = tf.addN([tf.mul(state.lastSample, c.sampleCoeff), tf.mul(m0, c.m0Coeff), tf.mul(tf.addN(res), c.resCoeff)]) as tf.Tensor4D;
      }
      // 2. Push the output; the predictor's order (warm-up and lower_order_final).
      const history = [...state.modelOutputs, m].slice(-so);
      const order = Math.min(config.lowerOrderFinal ? Math.min(so, plan.timesteps.length - i) : so, state.lowerOrderNums + 1);
      // 3. UniP: x_t = x_t_ − α_t B(h) Σ ρ_p,k D1_k.
      const older = Array.from({ length: order - 1 }, (_, k) => history[history.length - 2 - k]!);
      const c = uniCoefficients(sigmas[i + 1]!, sigmas[i]!, older.map((_, k) => sigmas[i - 1 - k]!), config, order);
      const terms: tf.Tensor[] = [tf.mul(x, c.sampleCoeff), tf.mul(m, c.m0Coeff)];
      if (order > 1) {
        const rhos = order === 2 ? [0.5] : solve(c.R.slice(0, -1).map((row) => row.slice(0, -1)), c.b.slice(0, -1));
        terms.push(tf.mul(tf.addN(weightedDifferences(older, m, c.rks, rhos)), c.resCoeff));
      }
      const prevSample = tf.addN(terms) as tf.Tensor4D;
      return {
        prevSample,
        state: {
          modelOutputs: Object.freeze(history.map(own)), lastSample: own(x), thisOrder: order,
          lowerOrderNums: Math.min(state.lowerOrderNums + 1, so),
        },
      };
    },
    addNoise: (original, noise, timesteps, plan) => vpAddNoise(className, original, noise, timesteps, plan),
  });
}
