import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { beforeAll, describe, expect, it } from 'vitest';
import { NonFiniteError, OptionError, ShapeMismatchError } from '../errors.js';
import { createScheduler, type SchedulerConfig } from '../schedulers/index.js';
import type { RowRole, StepInfo } from '../unet/hooks.js';
import { cfgDenoiser, classifierFreeGuidance, type Conditioning, type NoiseModel } from './denoiser.js';
import { runLoop, sampleLoop } from './sample.js';

beforeAll(async () => {
  await tf.setBackend('cpu');
});
const ddim: SchedulerConfig = {
  _class_name: 'DDIMScheduler', num_train_timesteps: 1000, beta_start: 0.00085, beta_end: 0.012,
  beta_schedule: 'scaled_linear', set_alpha_to_one: false, steps_offset: 1, clip_sample: false,
} as SchedulerConfig;
const step0: StepInfo = { index: 0, count: 1, timestep: 500 };

/** A toy noise model: eps_r = x_r * (mean of row r's embedding) + 0.01 * t; records the rows it was called with. */
function toyModel(calls: Conditioning[]): NoiseModel {
  return (x, step, call) => {
    const t = step.timestep;
    const ehs = call.embeddings;
    calls.push(call);
    return tf.tidy(() => tf.add(tf.mul(x, tf.reshape(tf.mean(ehs, [1, 2]), [-1, 1, 1, 1])), 0.01 * t) as tf.Tensor4D);
  };
}

describe('classifier-free guidance', () => {
  it('is u + s (c - u), elementwise', () => {
    const u = tf.tensor4d([1, 2, 3, 4], [1, 2, 2, 1]);
    const c = tf.tensor4d([2, 0, 3, 8], [1, 2, 2, 1]);
    const e = classifierFreeGuidance(u, c, 7.5);
    expect(Array.from(e.dataSync())).toEqual([1 + 7.5 * 1, 2 + 7.5 * -2, 3, 4 + 7.5 * 4]);
    tf.dispose([u, c, e]);
  });

  it('makes one batched call with [uncond x B, cond x B] rows and combines them', () => {
    const calls: Conditioning[] = [];
    const cond = tf.tensor3d([[[1, 1]], [[3, 3]]]); // means 1 and 3
    const uncond = tf.tensor3d([[[0.5, 0.5]]]); // shared by both rows
    const x = tf.ones([2, 1, 1, 1]) as tf.Tensor4D;
    const d = cfgDenoiser(toyModel(calls), { cond, uncond, scale: 2, prompts: [0, 1] });
    const eps = d(x, step0);
    expect(calls).toHaveLength(1);
    const roles: RowRole[] = [{ role: 'uncond', prompt: 0 }, { role: 'uncond', prompt: 1 }, { role: 'cond', prompt: 0 }, { role: 'cond', prompt: 1 }];
    expect(calls[0]!.rows).toEqual(roles);
    // u = 0.5 + 5, c = m + 5 -> u + 2 (c - u)
    const want = [1, 3].map((m) => 5.5 + 2 * (m + 5 - 5.5));
    const got = Array.from(eps.dataSync());
    want.forEach((w, i) => expect(got[i]).toBeCloseTo(w, 5));
    tf.dispose([cond, uncond, x, eps]);
  });

  it('evaluates only the conditional rows at scale <= 1 and checks shapes', () => {
    const calls: Conditioning[] = [];
    const cond = tf.ones([1, 1, 2]) as tf.Tensor3D;
    const d = cfgDenoiser(toyModel(calls), { cond, uncond: cond, scale: 1 });
    const x = tf.ones([1, 2, 2, 1]) as tf.Tensor4D;
    d(x, step0).dispose();
    expect(calls[0]!.rows).toEqual([{ role: 'cond', prompt: 0 }]);
    const x2 = tf.ones([2, 2, 2, 1]) as tf.Tensor4D;
    expect(() => d(x2, step0)).toThrow(ShapeMismatchError);
    expect(() => cfgDenoiser(toyModel(calls), { cond, uncond: cond, scale: NaN })).toThrow(OptionError);
    tf.dispose([cond, x, x2]);
  });
});

describe('sampleLoop', () => {
  it('runs every planned timestep in order, yields latents, leaks nothing', async () => {
    const scheduler = createScheduler(ddim);
    const before = tf.memory().numTensors;
    const latents = tf.randomNormal([1, 4, 4, 2]) as tf.Tensor4D;
    const seen: number[] = [];
    const loop = sampleLoop((x) => tf.mul(x, 0.1) as tf.Tensor4D, scheduler, { latents, numInferenceSteps: 5 });
    for (let r = await loop.next(); ; r = await loop.next()) {
      if (r.done) {
        expect(r.value.shape).toEqual([1, 4, 4, 2]);
        r.value.dispose();
        break;
      }
      seen.push(r.value.timestep);
      expect(r.value.x0Pred?.shape).toEqual([1, 4, 4, 2]);
    }
    expect(seen).toEqual([...scheduler.setTimesteps(5).timesteps]);
    latents.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });

  it('DDIM (eta 0) with a zero-noise denoiser scales by the closed form sqrt(abar_prev / abar_t) per step', async () => {
    const scheduler = createScheduler(ddim);
    const plan = scheduler.setTimesteps(4);
    const abar = scheduler.schedule.alphasCumprod;
    const latents = tf.ones([1, 1, 1, 1]) as tf.Tensor4D;
    const final = await runLoop(sampleLoop((x) => tf.zerosLike(x), scheduler, { latents, plan }));
    // eps = 0: x0 = x_t / sqrt(abar_t); x_prev = sqrt(abar_prev) x0. The last step's "prev" is final_alpha_cumprod = abar[0].
    let want = 1;
    plan.timesteps.forEach((t, i) => {
      const prev = i + 1 < plan.timesteps.length ? abar[plan.timesteps[i + 1]!]! : abar[0]!;
      want *= Math.sqrt(prev / abar[t]!);
    });
    expect(final.dataSync()[0]).toBeCloseTo(want, 4);
    tf.dispose([latents, final]);
  });

  it('lets onStepEnd replace the latents, stops on abort, and rejects bad options', async () => {
    const scheduler = createScheduler(ddim);
    const latents = tf.ones([1, 2, 2, 1]) as tf.Tensor4D;
    const final = await runLoop(
      sampleLoop((x) => tf.zerosLike(x), scheduler, { latents, numInferenceSteps: 3, onStepEnd: (ev) => (ev.index === 0 ? tf.zerosLike(ev.latents) : undefined) }),
    );
    expect(Array.from(final.dataSync())).toEqual([0, 0, 0, 0]);
    final.dispose();
    const ac = new AbortController();
    ac.abort();
    const before = tf.memory().numTensors;
    await expect(runLoop(sampleLoop((x) => tf.zerosLike(x), scheduler, { latents, numInferenceSteps: 3, signal: ac.signal }))).rejects.toThrow(/aborted/);
    expect(tf.memory().numTensors).toBe(before);
    await expect(runLoop(sampleLoop((x) => tf.zerosLike(x), scheduler, { latents, numInferenceSteps: 0 }))).rejects.toThrow(OptionError);
    await expect(runLoop(sampleLoop((x) => tf.zerosLike(x), scheduler, { latents, numInferenceSteps: 3, eta: 1 }))).rejects.toThrow(/generator/);
    latents.dispose();
  });

  it('stops with NonFiniteError where a NaN or Inf first appears, leaking nothing', async () => {
    const scheduler = createScheduler(ddim);
    const latents = tf.ones([1, 2, 2, 1]) as tf.Tensor4D;
    const before = tf.memory().numTensors;
    const nanAt1 = (x: tf.Tensor4D, step: StepInfo) => (step.index === 1 ? tf.fill(x.shape, NaN) : tf.zerosLike(x)) as tf.Tensor4D;
    const err = await runLoop(sampleLoop(nanAt1, scheduler, { latents, numInferenceSteps: 3 })).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NonFiniteError);
    expect((err as NonFiniteError).step?.index).toBe(1);
    expect((err as NonFiniteError).message).toMatch(/denoiser output .* at step 2 of 3/);
    expect(tf.memory().numTensors).toBe(before);
    const inf = tf.tensor4d([1, Infinity, 0, 0], [1, 2, 2, 1]);
    await expect(runLoop(sampleLoop((x) => tf.zerosLike(x), scheduler, { latents: inf, numInferenceSteps: 2 }))).rejects.toThrow(/starting latents/);
    const ints = tf.zeros([1, 2, 2, 1], 'int32') as tf.Tensor4D;
    await expect(runLoop(sampleLoop((x) => tf.zerosLike(x), scheduler, { latents: ints, numInferenceSteps: 2 }))).rejects.toThrow(/latents.*float32, got int32/);
    ints.dispose();
    const off = await runLoop(sampleLoop(nanAt1, scheduler, { latents, numInferenceSteps: 3, checkFinite: false }));
    expect(Number.isNaN(off.dataSync()[0])).toBe(true);
    tf.dispose([latents, inf, off]);
  });

  it('yields to the event loop between steps, so timers fire during a run', async () => {
    const scheduler = createScheduler(ddim);
    const latents = tf.ones([1, 2, 2, 1]) as tf.Tensor4D;
    let fired = 0;
    let stepsWhenFired = -1;
    let steps = 0;
    const timer = setTimeout(() => {
      fired++;
      stepsWhenFired = steps;
    }, 0);
    const slow = (x: tf.Tensor4D) => {
      const until = Date.now() + 3;
      while (Date.now() < until); // a busy model call, as a real UNet is
      steps++;
      return tf.zerosLike(x);
    };
    const final = await runLoop(sampleLoop(slow, scheduler, { latents, numInferenceSteps: 6 }));
    clearTimeout(timer);
    expect(fired).toBe(1);
    expect(stepsWhenFired).toBeLessThan(6); // it fired while the loop still had steps to run
    tf.dispose([latents, final]);
  });
});
