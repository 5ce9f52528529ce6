/**
 * The training noise schedule: betas, alphas = 1 - betas, and their cumulative product `alphas_cumprod`
 * (ᾱ_t of Ho et al. 2020, "Denoising Diffusion Probabilistic Models", arXiv:2006.11239, eq. 4:
 * q(x_t | x_0) = N(√ᾱ_t x_0, (1 − ᾱ_t) I)).
 *
 * diffusers keeps these as float32 torch tensors, so every table here is a `Float32Array` computed the same way:
 * each float32 operation is a float64 operation followed by `Math.fround`, and the cumulative product accumulates in
 * float64 as torch's CPU `cumprod` does. Symbols: β_t = betas[t], α_t = 1 − β_t, ᾱ_t = Π_{s≤t} α_s,
 * σ_t = √((1 − ᾱ_t) / ᾱ_t) (the "sigma" of the Karras / k-diffusion parameterization).
 * @module
 */
import type { ResolvedSchedulerConfig } from './config.js';
import { linspace } from './numpy-compat.js';

const f32 = Math.fround;

/**
 * The tables every scheduler derives from its config.
 *
 * @example
 * ```ts
 * const s = noiseSchedule(resolveSchedulerConfig({ _class_name: 'DDIMScheduler', beta_schedule: 'scaled_linear',
 *   beta_start: 0.00085, beta_end: 0.012 }));
 * s.alphasCumprod[0]; // 0.99915 (= 1 - 0.00085 in float32)
 * ```
 */
export interface NoiseSchedule {
  /** β_t, `[num_train_timesteps]`. */
  readonly betas: Float32Array;
  /** α_t = 1 − β_t. */
  readonly alphas: Float32Array;
  /** ᾱ_t = Π_{s≤t} α_s. */
  readonly alphasCumprod: Float32Array;
}

/**
 * `betas_for_alpha_bar` (Nichol & Dhariwal 2021, arXiv:2102.09672, eq. 17): β_t = min(1 − ᾱ(t+1)/ᾱ(t), maxBeta)
 * with the cosine ᾱ(t) = cos²(((t/T) + 0.008) / 1.008 · π/2), the `squaredcos_cap_v2` schedule.
 *
 * @param numTrainTimesteps T
 * @param maxBeta           cap on each beta (0.999 in diffusers)
 * @example
 * ```ts
 * betasForAlphaBar(1000)[999]; // 0.999 (capped)
 * ```
 */
export function betasForAlphaBar(numTrainTimesteps: number, maxBeta = 0.999): Float32Array {
  const alphaBar = (t: number) => Math.cos(((t + 0.008) / 1.008) * Math.PI / 2) ** 2;
  const out = new Float32Array(numTrainTimesteps);
  for (let i = 0; i < numTrainTimesteps; i++) {
    out[i] = Math.min(1 - alphaBar((i + 1) / numTrainTimesteps) / alphaBar(i / numTrainTimesteps), maxBeta);
  }
  return out;
}

/**
 * The betas of a config: `trained_betas` when given, else `linear` (torch.linspace(β_start, β_end, T)),
 * `scaled_linear` (torch.linspace(√β_start, √β_end, T)², the latent-diffusion schedule) or `squaredcos_cap_v2`.
 *
 * @param cfg the resolved config (schedule keys)
 * @example
 * ```ts
 * trainingBetas({ numTrainTimesteps: 3, betaStart: 0.1, betaEnd: 0.3, betaSchedule: 'linear', trainedBetas: null });
 * // Float32Array [0.1, 0.2, 0.3]
 * ```
 */
export function trainingBetas(
  cfg: Pick<ResolvedSchedulerConfig, 'numTrainTimesteps' | 'betaStart' | 'betaEnd' | 'betaSchedule' | 'trainedBetas'>,
): Float32Array {
  const T = cfg.numTrainTimesteps;
  if (cfg.trainedBetas) return Float32Array.from(cfg.trainedBetas);
  switch (cfg.betaSchedule) {
    case 'linear':
      // torch casts the endpoints to float32, then spaces them; float64 spacing cast to float32 matches it best.
      return Float32Array.from(linspace(f32(cfg.betaStart), f32(cfg.betaEnd), T));
    case 'scaled_linear': {
      const roots = Float32Array.from(linspace(f32(Math.sqrt(cfg.betaStart)), f32(Math.sqrt(cfg.betaEnd)), T));
      return roots.map((r) => r * r); // float32 square (the float64 product is exact, the store rounds)
    }
    case 'squaredcos_cap_v2':
      return betasForAlphaBar(T);
  }
}

/**
 * `rescale_zero_terminal_snr` (Lin et al. 2023, arXiv:2305.08891, Algorithm 1): shifts and scales √ᾱ so that the
 * last timestep has zero SNR (ᾱ_{T−1} = 0) while ᾱ_0 is unchanged, then converts back to betas.
 *
 * @param betas β_t as float32
 * @example
 * ```ts
 * const b = rescaleZeroTerminalSnr(trainingBetas(cfg));
 * b[b.length - 1]; // 1 (α_{T-1} = 0)
 * ```
 */
export function rescaleZeroTerminalSnr(betas: Float32Array): Float32Array {
  const n = betas.length;
  // 1. √ᾱ from the betas.
  const sqrtAc = cumprod(betas.map((b) => 1 - b)).map((a) => Math.sqrt(a));
  const s0 = sqrtAc[0]!;
  const sT = sqrtAc[n - 1]!;
  // 2. Shift so the last is zero, scale so the first is back to s0.
  const scale = f32(s0 / f32(s0 - sT));
  const shifted = sqrtAc.map((s) => f32(s - sT) * scale);
  // 3. Back to ᾱ, then α_t = ᾱ_t / ᾱ_{t−1} (α_0 = ᾱ_0), then β = 1 − α.
  const ab = shifted.map((s) => s * s);
  const out = new Float32Array(n);
  for (let t = 0; t < n; t++) out[t] = 1 - (t === 0 ? ab[0]! : f32(ab[t]! / ab[t - 1]!));
  return out;
}

/**
 * Cumulative product of float32 factors accumulated in float64 (torch's CPU `cumprod`), each output rounded to float32.
 *
 * @param alphas α_t as float32
 * @example
 * ```ts
 * cumprod(Float32Array.of(0.5, 0.5, 0.5)); // Float32Array [0.5, 0.25, 0.125]
 * ```
 */
export function cumprod(alphas: Float32Array): Float32Array {
  const out = new Float32Array(alphas.length);
  let acc = 1;
  for (let i = 0; i < alphas.length; i++) {
    acc *= alphas[i]!;
    out[i] = acc;
  }
  return out;
}

/**
 * The betas, alphas and ᾱ of a config (with `rescale_betas_zero_snr` applied when set).
 *
 * @param cfg the resolved config
 * @example
 * ```ts
 * const { alphasCumprod } = noiseSchedule(cfg); // Float32Array [num_train_timesteps]
 * ```
 */
export function noiseSchedule(cfg: ResolvedSchedulerConfig): NoiseSchedule {
  let betas = trainingBetas(cfg);
  if (cfg.rescaleBetasZeroSnr) betas = rescaleZeroTerminalSnr(betas);
  const alphas = betas.map((b) => 1 - b);
  return Object.freeze({ betas, alphas, alphasCumprod: cumprod(alphas) });
}

/**
 * σ_t = √((1 − ᾱ_t) / ᾱ_t) for every training timestep, in float32 steps as diffusers computes it.
 *
 * @param alphasCumprod ᾱ_t
 * @example
 * ```ts
 * trainSigmas(schedule.alphasCumprod)[999]; // 14.6146 for the SD schedule
 * ```
 */
export function trainSigmas(alphasCumprod: Float32Array): Float32Array {
  return alphasCumprod.map((a) => Math.sqrt(f32(f32(1 - a) / a)));
}
