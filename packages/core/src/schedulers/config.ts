/**
 * Scheduler configs: {@link SchedulerConfig} is diffusers' `scheduler_config.json` with its keys verbatim, and
 * {@link resolveSchedulerConfig} turns one into the validated camelCase {@link ResolvedSchedulerConfig} that the
 * schedulers read. Defaults are those of each class's `__init__` in diffusers 0.25. Validation is loud: an unknown
 * `_class_name`, an unknown key, a wrong type or a value we do not implement is a typed error naming the key; keys
 * that belong to another diffusers scheduler class are ignored, as `from_config` ignores them.
 * @module
 */
import { UnknownSchedulerError } from './errors.js';
import { SchedulerConfigError } from '../errors.js';

/**
 * The diffusers scheduler classes implemented here.
 *
 * @example
 * ```ts
 * SCHEDULER_CLASS_NAMES.includes('DDIMScheduler'); // true
 * ```
 */
export const SCHEDULER_CLASS_NAMES = [
  'DDIMScheduler', 'DDIMInverseScheduler', 'PNDMScheduler', 'EulerDiscreteScheduler', 'EulerAncestralDiscreteScheduler',
  'HeunDiscreteScheduler', 'LMSDiscreteScheduler', 'DPMSolverMultistepScheduler', 'UniPCMultistepScheduler', 'LCMScheduler',
] as const;

/**
 * One of {@link SCHEDULER_CLASS_NAMES}.
 *
 * @example
 * ```ts
 * const cls: SchedulerClassName = 'EulerDiscreteScheduler';
 * ```
 */
export type SchedulerClassName = (typeof SCHEDULER_CLASS_NAMES)[number];
/**
 * `beta_schedule`: how the training betas are laid out over `num_train_timesteps`.
 *
 * @example
 * ```ts
 * const b: BetaSchedule = 'scaled_linear'; // Stable Diffusion
 * ```
 */
export type BetaSchedule = 'linear' | 'scaled_linear' | 'squaredcos_cap_v2';
/**
 * `prediction_type`: what the model predicts (noise, velocity or the clean sample).
 *
 * @example
 * ```ts
 * const p: PredictionType = 'v_prediction'; // SD 2.x 768
 * ```
 */
export type PredictionType = 'epsilon' | 'v_prediction' | 'sample';
/**
 * `timestep_spacing` (Table 2 of Lin et al. 2023, arXiv:2305.08891).
 *
 * @example
 * ```ts
 * const t: TimestepSpacing = 'trailing';
 * ```
 */
export type TimestepSpacing = 'linspace' | 'leading' | 'trailing';

/**
 * A diffusers `scheduler_config.json`, keys verbatim (snake_case). Every key is optional; absent keys take the
 * class default. Enumerated values are typed `string` so that a parsed hub file type-checks as-is; they are checked
 * by {@link resolveSchedulerConfig}.
 *
 * @example
 * ```ts
 * const cfg: SchedulerConfig = { _class_name: 'DDIMScheduler', beta_schedule: 'scaled_linear', beta_start: 0.00085,
 *   beta_end: 0.012, set_alpha_to_one: false, steps_offset: 1, clip_sample: false };
 * ```
 */
export interface SchedulerConfig {
  _class_name?: string;
  _diffusers_version?: string;
  num_train_timesteps?: number;
  beta_start?: number;
  beta_end?: number;
  beta_schedule?: string;
  trained_betas?: readonly number[] | null;
  prediction_type?: string;
  timestep_spacing?: string;
  steps_offset?: number;
  rescale_betas_zero_snr?: boolean;
  clip_sample?: boolean;
  clip_sample_range?: number;
  set_alpha_to_one?: boolean;
  thresholding?: boolean;
  dynamic_thresholding_ratio?: number;
  sample_max_value?: number;
  skip_prk_steps?: boolean;
  interpolation_type?: string;
  use_karras_sigmas?: boolean | null;
  sigma_min?: number | null;
  sigma_max?: number | null;
  timestep_type?: string;
  solver_order?: number;
  algorithm_type?: string;
  solver_type?: string;
  lower_order_final?: boolean;
  euler_at_final?: boolean;
  use_lu_lambdas?: boolean | null;
  lambda_min_clipped?: number;
  variance_type?: string | null;
  predict_x0?: boolean;
  disable_corrector?: readonly number[];
  solver_p?: null;
  original_inference_steps?: number;
  timestep_scaling?: number;
  [key: string]: unknown;
}

/**
 * A validated config with diffusers' defaults filled in. Fields that the class does not use hold the defaults of the
 * class that does (they are never read).
 *
 * @example
 * ```ts
 * const r = resolveSchedulerConfig({ _class_name: 'EulerDiscreteScheduler' });
 * r.timestepSpacing; // 'linspace'
 * ```
 */
export interface ResolvedSchedulerConfig {
  readonly className: SchedulerClassName;
  readonly numTrainTimesteps: number;
  readonly betaStart: number;
  readonly betaEnd: number;
  readonly betaSchedule: BetaSchedule;
  readonly trainedBetas: readonly number[] | null;
  readonly rescaleBetasZeroSnr: boolean;
  readonly predictionType: PredictionType;
  readonly timestepSpacing: TimestepSpacing;
  readonly stepsOffset: number;
  /** DDIM/PNDM: the "previous" alpha of the last step is 1 (true) or `alphas_cumprod[0]` (false). */
  readonly setAlphaToOne: boolean;
  readonly clipSample: boolean;
  readonly clipSampleRange: number;
  readonly thresholding: boolean;
  readonly dynamicThresholdingRatio: number;
  readonly sampleMaxValue: number;
  readonly skipPrkSteps: boolean;
  /** Euler: `continuous` (with v_prediction) uses `0.25 * ln(sigma)` as the timesteps. */
  readonly timestepType: 'discrete' | 'continuous';
  readonly solverOrder: 1 | 2 | 3;
  /** DPM-Solver: data (`++`) or noise prediction, ODE or SDE (`sde-`, fresh noise each step). */
  readonly algorithmType: 'dpmsolver++' | 'dpmsolver' | 'sde-dpmsolver++' | 'sde-dpmsolver';
  /** DPM-Solver: `midpoint` or `heun`; UniPC: `bh1` or `bh2` (each class maps the other's values, as diffusers). */
  readonly solverType: 'midpoint' | 'heun' | 'bh1' | 'bh2';
  readonly lowerOrderFinal: boolean;
  readonly eulerAtFinal: boolean;
  readonly lambdaMinClipped: number;
  /** Euler, Heun, LMS, DPM-Solver, UniPC: Karras et al. (2022) sigmas (ρ = 7) instead of the interpolated ones. */
  readonly useKarrasSigmas: boolean;
  /** Euler: σ range of the Karras sigmas (null: the ends of the interpolated sigmas). */
  readonly sigmaMin: number | null;
  readonly sigmaMax: number | null;
  /** UniPC: solve for x̂₀ (UniPC-x0, true) or ε. */
  readonly predictX0: boolean;
  /** UniPC: steps whose corrector is skipped. */
  readonly disableCorrector: readonly number[];
  /** LCM: the distillation schedule's step count (timesteps are a subset of its grid). */
  readonly originalInferenceSteps: number;
  /** LCM: scale of t in the boundary-condition coefficients c_skip, c_out. */
  readonly timestepScaling: number;
  /** The config this was resolved from, keys verbatim (for `from_config` into another class). */
  readonly source: Readonly<SchedulerConfig>;
}

/**
 * Options of {@link resolveSchedulerConfig}.
 *
 * @example
 * ```ts
 * const opts: ResolveSchedulerOptions = { className: 'DDIMScheduler', file: 'scheduler/scheduler_config.json' };
 * ```
 */
export interface ResolveSchedulerOptions {
  /** Build this class from the config instead of its `_class_name` (diffusers' `OtherScheduler.from_config(cfg)`). */
  className?: string;
  /** The config file, named in errors. */
  file?: string;
  /** Accept (and ignore) keys no diffusers scheduler class we know has. Default false: they are an error. */
  allowUnknownKeys?: boolean;
}

const COMMON = {
  num_train_timesteps: 1000, beta_start: 0.0001, beta_end: 0.02, beta_schedule: 'linear', trained_betas: null,
  prediction_type: 'epsilon', steps_offset: 0,
};
const THRESHOLD = { thresholding: false, dynamic_thresholding_ratio: 0.995, sample_max_value: 1.0 };
/** Heun and LCM default to the Stable Diffusion betas. */
const SD_BETAS = { beta_start: 0.00085, beta_end: 0.012, beta_schedule: 'scaled_linear' };

/** Each class's `__init__` keys and defaults (diffusers 0.25.0). */
const CLASS_DEFAULTS: Record<SchedulerClassName, Record<string, unknown>> = {
  DDIMScheduler: {
    ...COMMON, ...THRESHOLD, clip_sample: true, set_alpha_to_one: true, clip_sample_range: 1.0,
    timestep_spacing: 'leading', rescale_betas_zero_snr: false,
  },
  DDIMInverseScheduler: {
    ...COMMON, clip_sample: true, set_alpha_to_one: true, clip_sample_range: 1.0, timestep_spacing: 'leading',
    rescale_betas_zero_snr: false, set_alpha_to_zero: null,
  },
  PNDMScheduler: { ...COMMON, skip_prk_steps: false, set_alpha_to_one: false, timestep_spacing: 'leading' },
  EulerDiscreteScheduler: {
    ...COMMON, interpolation_type: 'linear', use_karras_sigmas: false, sigma_min: null, sigma_max: null,
    timestep_spacing: 'linspace', timestep_type: 'discrete', rescale_betas_zero_snr: false,
  },
  EulerAncestralDiscreteScheduler: { ...COMMON, timestep_spacing: 'linspace', rescale_betas_zero_snr: false },
  HeunDiscreteScheduler: {
    ...COMMON, ...SD_BETAS, beta_schedule: 'linear', use_karras_sigmas: false, clip_sample: false, clip_sample_range: 1.0,
    timestep_spacing: 'linspace',
  },
  LMSDiscreteScheduler: { ...COMMON, use_karras_sigmas: false, timestep_spacing: 'linspace' },
  DPMSolverMultistepScheduler: {
    ...COMMON, ...THRESHOLD, solver_order: 2, algorithm_type: 'dpmsolver++', solver_type: 'midpoint',
    lower_order_final: true, euler_at_final: false, use_karras_sigmas: false, use_lu_lambdas: false,
    lambda_min_clipped: -Infinity, variance_type: null, timestep_spacing: 'linspace',
  },
  UniPCMultistepScheduler: {
    ...COMMON, ...THRESHOLD, solver_order: 2, predict_x0: true, solver_type: 'bh2', lower_order_final: true,
    disable_corrector: [], solver_p: null, use_karras_sigmas: false, timestep_spacing: 'linspace',
  },
  LCMScheduler: {
    ...COMMON, ...THRESHOLD, ...SD_BETAS, original_inference_steps: 50, clip_sample: false, clip_sample_range: 1.0,
    set_alpha_to_one: true, timestep_spacing: 'leading', timestep_scaling: 10.0, rescale_betas_zero_snr: false,
  },
};

/** Keys that carry no behaviour (written by `save_config`). */
const INFORMATIONAL = new Set(['_class_name', '_diffusers_version', '_use_default_values']);
/**
 * Keys that only diffusers scheduler classes not implemented here have (DPM-SDE, KDPM2): ignored like the keys of
 * our other classes. Keys of newer diffusers versions of *our* classes are not listed: they may change the
 * algorithm, so they are errors.
 */
const OTHER_CLASS_KEYS = new Set(['noise_sampler_seed']);

const PREDICTION_TYPES: Record<SchedulerClassName, readonly PredictionType[]> = {
  DDIMScheduler: ['epsilon', 'v_prediction', 'sample'],
  DDIMInverseScheduler: ['epsilon', 'v_prediction', 'sample'],
  PNDMScheduler: ['epsilon', 'v_prediction'],
  EulerDiscreteScheduler: ['epsilon', 'v_prediction', 'sample'],
  EulerAncestralDiscreteScheduler: ['epsilon', 'v_prediction'],
  HeunDiscreteScheduler: ['epsilon', 'v_prediction', 'sample'],
  LMSDiscreteScheduler: ['epsilon', 'v_prediction', 'sample'],
  DPMSolverMultistepScheduler: ['epsilon', 'v_prediction', 'sample'],
  UniPCMultistepScheduler: ['epsilon', 'v_prediction', 'sample'],
  LCMScheduler: ['epsilon', 'v_prediction', 'sample'],
};

/** Typed readers that throw a {@link SchedulerConfigError} naming the key. */
class KeyReader {
  constructor(
    private readonly values: Record<string, unknown>,
    private readonly cls: SchedulerClassName,
    private readonly file: string | undefined,
  ) {}

  fail(key: string, detail: string): never {
    throw new SchedulerConfigError(key, `${detail} (${this.cls})`, this.file);
  }

  raw(key: string): unknown {
    return this.values[key];
  }

  bool(key: string, nullMeans?: boolean): boolean {
    const v = this.values[key];
    if (v === null && nullMeans !== undefined) return nullMeans;
    if (typeof v !== 'boolean') this.fail(key, `must be true or false, got ${JSON.stringify(v)}`);
    return v;
  }

  num(key: string, check: (v: number) => boolean, what: string): number {
    const v = this.values[key];
    if (typeof v !== 'number' || Number.isNaN(v) || !check(v)) this.fail(key, `must be ${what}, got ${JSON.stringify(v)}`);
    return v;
  }

  int(key: string, min: number): number {
    return this.num(key, (v) => Number.isInteger(v) && v >= min, `an integer >= ${min}`);
  }

  oneOf<T>(key: string, allowed: readonly T[]): T {
    const v = this.values[key] as T;
    if (!allowed.includes(v)) {
      this.fail(key, `${JSON.stringify(v)} is not supported; supported: ${allowed.map((a) => JSON.stringify(a)).join(', ')}`);
    }
    return v;
  }

  /** A key whose only implemented value is the default (anything else changes the algorithm). */
  only(key: string, allowed: readonly unknown[], why: string): void {
    const v = this.values[key];
    if (!allowed.includes(v)) this.fail(key, `${JSON.stringify(v)} is not supported: ${why}`);
  }
}

function isClassName(name: string): name is SchedulerClassName {
  return (SCHEDULER_CLASS_NAMES as readonly string[]).includes(name);
}

/**
 * Validates a diffusers scheduler config and fills in the class defaults.
 *
 * @param json the parsed `scheduler_config.json` (see {@link parseSchedulerConfigJson} for Python's `-Infinity`)
 * @param opts `className` to build another class from the same config, `file` for errors, `allowUnknownKeys`
 * @throws UnknownSchedulerError for a missing or unimplemented `_class_name`
 * @throws SchedulerConfigError for an unknown key, a wrong type or an unsupported value, naming the key
 * @example
 * ```ts
 * const r = resolveSchedulerConfig({ _class_name: 'DDIMScheduler', beta_schedule: 'scaled_linear', steps_offset: 1 });
 * console.log(r.className, r.betaSchedule, r.timestepSpacing, r.setAlphaToOne); // DDIMScheduler scaled_linear leading true
 * ```
 */
export function resolveSchedulerConfig(json: SchedulerConfig, opts: ResolveSchedulerOptions = {}): ResolvedSchedulerConfig {
  const { file } = opts;
  if (typeof json !== 'object' || json === null || Array.isArray(json)) {
    throw new SchedulerConfigError('<root>', 'must be a JSON object', file);
  }
  const requested = opts.className ?? json._class_name;
  if (typeof requested !== 'string') {
    throw new SchedulerConfigError('_class_name', `must name the scheduler class, got ${JSON.stringify(requested)}`, file);
  }
  if (!isClassName(requested)) throw new UnknownSchedulerError(requested, SCHEDULER_CLASS_NAMES, file);
  const cls = requested;
  const defaults = CLASS_DEFAULTS[cls];
  const known = new Set(Object.values(CLASS_DEFAULTS).flatMap((d) => Object.keys(d)));
  const values: Record<string, unknown> = { ...defaults };
  for (const [key, value] of Object.entries(json)) {
    if (INFORMATIONAL.has(key)) continue;
    if (key in defaults) values[key] = value;
    else if (!known.has(key) && !OTHER_CLASS_KEYS.has(key) && !opts.allowUnknownKeys) {
      throw new SchedulerConfigError(key, `unknown key for ${cls} (pass allowUnknownKeys to ignore it)`, file);
    }
  }
  const r = new KeyReader(values, cls, file);
  const numTrainTimesteps = r.int('num_train_timesteps', 1);
  const trainedBetas = readTrainedBetas(r, numTrainTimesteps);
  const has = (key: string) => key in defaults;
  const spacings: readonly TimestepSpacing[] = cls === 'DDIMInverseScheduler' ? ['leading', 'trailing'] : ['linspace', 'leading', 'trailing'];
  let setAlphaToOne = has('set_alpha_to_one') ? r.bool('set_alpha_to_one') : false;
  if (has('set_alpha_to_zero') && r.raw('set_alpha_to_zero') !== null) {
    setAlphaToOne = r.bool('set_alpha_to_zero'); // diffusers' deprecated alias, which overrides set_alpha_to_one
  }
  if (has('interpolation_type')) r.only('interpolation_type', ['linear'], 'only linear sigma interpolation is implemented');
  if (has('use_lu_lambdas')) r.only('use_lu_lambdas', [false, null], 'Lu lambdas are not implemented');
  if (has('variance_type')) r.only('variance_type', [null], 'learned variance (channel-split model output) is not implemented');
  if (has('solver_p')) r.only('solver_p', [null], 'a separate predictor scheduler is not implemented');
  if (cls === 'DPMSolverMultistepScheduler' && r.raw('solver_order') === 3 && String(r.raw('algorithm_type')).startsWith('sde-')) {
    r.fail('solver_order', 'must be 1 or 2 with an SDE algorithm_type (diffusers has no third-order SDE update)');
  }
  const pick = <T>(key: string, read: () => T, fallback: T): T => (has(key) ? read() : fallback);
  return Object.freeze({
    className: cls,
    numTrainTimesteps,
    betaStart: r.num('beta_start', (v) => v >= 0 && v < 1, 'a number in [0, 1) (a beta is a noise variance)'),
    betaEnd: r.num('beta_end', (v) => v >= 0 && v < 1, 'a number in [0, 1) (a beta is a noise variance)'),
    betaSchedule: r.oneOf<BetaSchedule>('beta_schedule', ['linear', 'scaled_linear', 'squaredcos_cap_v2']),
    trainedBetas,
    rescaleBetasZeroSnr: pick('rescale_betas_zero_snr', () => r.bool('rescale_betas_zero_snr'), false),
    predictionType: r.oneOf<PredictionType>('prediction_type', PREDICTION_TYPES[cls]),
    timestepSpacing: r.oneOf<TimestepSpacing>('timestep_spacing', spacings),
    stepsOffset: r.int('steps_offset', 0),
    setAlphaToOne,
    clipSample: pick('clip_sample', () => r.bool('clip_sample'), false),
    clipSampleRange: pick('clip_sample_range', () => r.num('clip_sample_range', (v) => v > 0, 'a positive number'), 1),
    thresholding: pick('thresholding', () => r.bool('thresholding'), false),
    dynamicThresholdingRatio: pick('dynamic_thresholding_ratio',
      () => r.num('dynamic_thresholding_ratio', (v) => v > 0 && v <= 1, 'in (0, 1]'), 0.995),
    sampleMaxValue: pick('sample_max_value', () => r.num('sample_max_value', (v) => v >= 1, 'a number >= 1'), 1),
    skipPrkSteps: pick('skip_prk_steps', () => r.bool('skip_prk_steps'), true),
    timestepType: pick('timestep_type', () => r.oneOf<'discrete' | 'continuous'>('timestep_type', ['discrete', 'continuous']), 'discrete'),
    solverOrder: pick('solver_order', () => r.oneOf<1 | 2 | 3>('solver_order', [1, 2, 3]), 2),
    algorithmType: pick('algorithm_type', () => readAlgorithmType(r), 'dpmsolver++'),
    solverType: pick('solver_type', () => readSolverType(r, cls), 'midpoint'),
    lowerOrderFinal: pick('lower_order_final', () => r.bool('lower_order_final'), true),
    eulerAtFinal: pick('euler_at_final', () => r.bool('euler_at_final'), false),
    lambdaMinClipped: pick('lambda_min_clipped', () => r.num('lambda_min_clipped', (v) => v < Infinity, 'a number or -Infinity'), -Infinity),
    useKarrasSigmas: pick('use_karras_sigmas', () => r.bool('use_karras_sigmas', false), false),
    sigmaMin: pick('sigma_min', () => optionalSigma(r, 'sigma_min'), null),
    sigmaMax: pick('sigma_max', () => optionalSigma(r, 'sigma_max'), null),
    predictX0: pick('predict_x0', () => r.bool('predict_x0'), true),
    disableCorrector: pick('disable_corrector', () => readStepList(r, 'disable_corrector'), Object.freeze([])),
    originalInferenceSteps: pick('original_inference_steps', () => r.int('original_inference_steps', 1), 50),
    timestepScaling: pick('timestep_scaling', () => r.num('timestep_scaling', (v) => v > 0 && v < Infinity, 'a positive number'), 10),
    source: Object.freeze({ ...json }),
  });
}

function optionalSigma(r: KeyReader, key: string): number | null {
  return r.raw(key) === null ? null : r.num(key, (v) => v > 0 && v < Infinity, 'null or a positive number');
}

/** `algorithm_type`; `deis` becomes `dpmsolver++` as in diffusers' DPM-Solver `__init__`. */
function readAlgorithmType(r: KeyReader): ResolvedSchedulerConfig['algorithmType'] {
  if (r.raw('algorithm_type') === 'deis') return 'dpmsolver++';
  return r.oneOf<ResolvedSchedulerConfig['algorithmType']>('algorithm_type', ['dpmsolver++', 'dpmsolver', 'sde-dpmsolver++', 'sde-dpmsolver']);
}

/** `solver_type`; each class maps the other's values (DPM-Solver: bh1/bh2/logrho → midpoint; UniPC: midpoint/heun/logrho → bh2). */
function readSolverType(r: KeyReader, cls: SchedulerClassName): ResolvedSchedulerConfig['solverType'] {
  const v = r.raw('solver_type');
  if (cls === 'UniPCMultistepScheduler') return v === 'midpoint' || v === 'heun' || v === 'logrho' ? 'bh2' : r.oneOf('solver_type', ['bh1', 'bh2'] as const);
  return v === 'bh1' || v === 'bh2' || v === 'logrho' ? 'midpoint' : r.oneOf('solver_type', ['midpoint', 'heun'] as const);
}

/** A list of step indices (UniPC `disable_corrector`). */
function readStepList(r: KeyReader, key: string): readonly number[] {
  const v = r.raw(key);
  if (!Array.isArray(v) || v.some((x) => !Number.isInteger(x) || (x as number) < 0)) r.fail(key, `must be a list of step indices, got ${JSON.stringify(v)}`);
  return Object.freeze([...(v as number[])]);
}

/** `trained_betas`: null, or one beta in [0, 1) per training timestep. */
function readTrainedBetas(r: KeyReader, numTrainTimesteps: number): readonly number[] | null {
  const v = r.raw('trained_betas');
  if (v === null || v === undefined) return null;
  if (!Array.isArray(v) || v.length !== numTrainTimesteps) {
    r.fail('trained_betas', `must be null or an array of num_train_timesteps (${numTrainTimesteps}) numbers`);
  }
  const bad = v.findIndex((b) => typeof b !== 'number' || !(b >= 0 && b < 1));
  if (bad >= 0) r.fail('trained_betas', `element ${bad} is ${JSON.stringify(v[bad])}, expected a number in [0, 1)`);
  return Object.freeze([...(v as number[])]);
}
