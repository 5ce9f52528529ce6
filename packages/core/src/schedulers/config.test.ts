import { describe, expect, it } from 'vitest';
import { parseSchedulerConfigJson } from './config-json.js';
import { resolveSchedulerConfig, SCHEDULER_CLASS_NAMES, type SchedulerConfig } from './config.js';
import { UnknownSchedulerError } from './errors.js';
import { createScheduler } from './registry.js';
import { SchedulerConfigError } from '../errors.js';

/** Catches what `fn` throws. */
function thrown(fn: () => unknown): Error {
  try {
    fn();
  } catch (e) {
    return e as Error;
  }
  throw new Error('expected a throw');
}

// The Stable Diffusion 1.5 scheduler config as published (PNDM, written by diffusers 0.6), keys verbatim.
const sd15: SchedulerConfig = {
  _class_name: 'PNDMScheduler', _diffusers_version: '0.6.0', beta_end: 0.012, beta_schedule: 'scaled_linear',
  beta_start: 0.00085, num_train_timesteps: 1000, set_alpha_to_one: false, skip_prk_steps: true, steps_offset: 1,
  trained_betas: null, clip_sample: false,
};

describe('resolveSchedulerConfig', () => {
  it('fills the diffusers 0.25 class defaults', () => {
    const ddim = resolveSchedulerConfig({ _class_name: 'DDIMScheduler' });
    expect(ddim).toMatchObject({
      className: 'DDIMScheduler', numTrainTimesteps: 1000, betaStart: 0.0001, betaEnd: 0.02, betaSchedule: 'linear',
      clipSample: true, setAlphaToOne: true, stepsOffset: 0, predictionType: 'epsilon', timestepSpacing: 'leading',
      thresholding: false, dynamicThresholdingRatio: 0.995, clipSampleRange: 1, sampleMaxValue: 1, rescaleBetasZeroSnr: false,
    });
    expect(resolveSchedulerConfig({ _class_name: 'PNDMScheduler', skip_prk_steps: true }).setAlphaToOne).toBe(false);
    expect(resolveSchedulerConfig({ _class_name: 'EulerDiscreteScheduler' }).timestepSpacing).toBe('linspace');
    expect(resolveSchedulerConfig({ _class_name: 'LMSDiscreteScheduler' }).timestepSpacing).toBe('linspace');
    const dpm = resolveSchedulerConfig({ _class_name: 'DPMSolverMultistepScheduler' });
    expect(dpm).toMatchObject({
      solverOrder: 2, algorithmType: 'dpmsolver++', solverType: 'midpoint', lowerOrderFinal: true, eulerAtFinal: false,
      lambdaMinClipped: -Infinity, timestepSpacing: 'linspace',
    });
  });

  it('reads a hub config verbatim, ignoring informational keys and keys of other scheduler classes', () => {
    const r = resolveSchedulerConfig(sd15);
    expect(r).toMatchObject({ className: 'PNDMScheduler', betaSchedule: 'scaled_linear', betaStart: 0.00085, betaEnd: 0.012, stepsOffset: 1, skipPrkSteps: true });
    // `clip_sample` is a DDIM key: PNDM ignores it, as from_config does.
    expect(r.clipSample).toBe(false);
    // Building another class from the same config (DDIMScheduler.from_config(sd15)) keeps the DDIM meaning of it.
    const ddim = resolveSchedulerConfig(sd15, { className: 'DDIMScheduler' });
    expect(ddim).toMatchObject({ className: 'DDIMScheduler', clipSample: false, setAlphaToOne: false, stepsOffset: 1 });
    expect(createScheduler(sd15, { className: 'EulerDiscreteScheduler' }).className).toBe('EulerDiscreteScheduler');
  });

  it('throws UnknownSchedulerError naming an unknown or missing _class_name', () => {
    const e = thrown(() => resolveSchedulerConfig({ _class_name: 'DPMSolverSDEScheduler' }, { file: 'scheduler_config.json' }));
    expect(e).toBeInstanceOf(UnknownSchedulerError);
    expect((e as UnknownSchedulerError).className).toBe('DPMSolverSDEScheduler');
    expect((e as UnknownSchedulerError).supported).toEqual(SCHEDULER_CLASS_NAMES);
    expect(e.message).toContain('scheduler_config.json');
    expect(thrown(() => createScheduler({ _class_name: 'KDPM2DiscreteScheduler' }))).toBeInstanceOf(UnknownSchedulerError);
    expect(thrown(() => resolveSchedulerConfig({}))).toBeInstanceOf(SchedulerConfigError);
    expect(thrown(() => resolveSchedulerConfig([] as unknown as SchedulerConfig))).toBeInstanceOf(SchedulerConfigError);
  });

  it('throws SchedulerConfigError naming an unknown key, unless allowUnknownKeys', () => {
    const cfg = { _class_name: 'DPMSolverMultistepScheduler', final_sigmas_type: 'zero' };
    const e = thrown(() => resolveSchedulerConfig(cfg, { file: 'cfg.json' }));
    expect(e).toBeInstanceOf(SchedulerConfigError);
    expect((e as SchedulerConfigError).key).toBe('final_sigmas_type');
    expect(e.message).toContain('cfg.json');
    expect(resolveSchedulerConfig(cfg, { allowUnknownKeys: true }).className).toBe('DPMSolverMultistepScheduler');
  });

  it.each([
    ['DDIMScheduler', 'timestep_spacing', 'cosine'],
    ['DDIMInverseScheduler', 'timestep_spacing', 'linspace'],
    ['DDIMScheduler', 'beta_schedule', 'sigmoid'],
    ['DDIMScheduler', 'prediction_type', 'flow'],
    ['PNDMScheduler', 'prediction_type', 'sample'],
    ['EulerDiscreteScheduler', 'interpolation_type', 'log_linear'],
    ['DPMSolverMultistepScheduler', 'solver_order', 4],
    ['DPMSolverMultistepScheduler', 'variance_type', 'learned_range'],
    ['DPMSolverMultistepScheduler', 'use_lu_lambdas', true],
    ['DPMSolverMultistepScheduler', 'algorithm_type', 'dpmsolver+++'],
    ['HeunDiscreteScheduler', 'prediction_type', 'flow'],
    ['UniPCMultistepScheduler', 'solver_p', 'DDIMScheduler'],
    ['LCMScheduler', 'original_inference_steps', 0],
    ['DDIMScheduler', 'beta_start', -0.001],
    ['EulerDiscreteScheduler', 'beta_end', 1.5],
    ['DDIMScheduler', 'steps_offset', -1],
    ['DDIMScheduler', 'steps_offset', 1.5],
    ['DDIMScheduler', 'num_train_timesteps', 0],
    ['DDIMScheduler', 'clip_sample', 'yes'],
    ['DDIMScheduler', 'dynamic_thresholding_ratio', 1.5],
    ['DDIMScheduler', 'trained_betas', [0.1, 0.2]],
  ])('%s: %s = %j is a SchedulerConfigError naming the key', (cls, key, value) => {
    const prk = cls === 'PNDMScheduler' && key !== 'skip_prk_steps' ? { skip_prk_steps: true } : {};
    const e = thrown(() => resolveSchedulerConfig({ _class_name: cls, ...prk, [key]: value }));
    expect(e).toBeInstanceOf(SchedulerConfigError);
    expect((e as SchedulerConfigError).key).toBe(key);
    expect(e.message).toContain(cls);
  });

  it('accepts trained_betas of the right length and the deprecated set_alpha_to_zero alias', () => {
    const betas = Array.from({ length: 4 }, (_, i) => 0.1 * (i + 1));
    expect(resolveSchedulerConfig({ _class_name: 'DDIMScheduler', num_train_timesteps: 4, trained_betas: betas }).trainedBetas).toEqual(betas);
    const inv = resolveSchedulerConfig({ _class_name: 'DDIMInverseScheduler', set_alpha_to_one: true, set_alpha_to_zero: false });
    expect(inv.setAlphaToOne).toBe(false);
  });
});

describe('parseSchedulerConfigJson', () => {
  it("accepts Python's -Infinity / Infinity / NaN outside strings only", () => {
    const text = '{"_class_name": "DPMSolverMultistepScheduler", "lambda_min_clipped": -Infinity, "x": "NaN -Infinity \\"Infinity", "y": [Infinity, NaN]}';
    const cfg = parseSchedulerConfigJson(text);
    expect(cfg.lambda_min_clipped).toBe(-Infinity);
    expect(cfg['x']).toBe('NaN -Infinity "Infinity');
    expect(cfg['y']).toEqual([Infinity, NaN]);
  });

  it('throws SchedulerConfigError on malformed JSON or a non-object', () => {
    expect(thrown(() => parseSchedulerConfigJson('{"a": ', 'bad.json'))).toBeInstanceOf(SchedulerConfigError);
    expect(thrown(() => parseSchedulerConfigJson('[1, 2]')).message).toMatch(/JSON object/);
  });
});
