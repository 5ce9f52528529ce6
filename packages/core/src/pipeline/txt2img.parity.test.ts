import { readFileSync } from 'node:fs';
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../backend/index.js';
import { loadClipTextModel } from '../clip/load.js';
import { loadClipTokenizer } from '../tokenizer/tokenizer-load.js';
import { createScheduler, type SchedulerConfig } from '../schedulers/index.js';
import { checkAgainstFixture, compareArrays, findCheck, nchwToNhwc, readFixtureTensor, readManifest } from '../testing/index.js';
import { loadUNet } from '../unet/load.js';
import { loadVae } from '../vae/vae.js';
import { nchwToNhwcTensor } from '../tensor/layout.js';
import { textToImage, type StableDiffusion } from './txt2img.js';

// End-to-end text-to-image against diffusers' own pipeline run on the tiny components: sega-tiny's `no_edit` case
// is a plain CFG run (no editing prompt) of SemanticStableDiffusionPipeline, which is StableDiffusionPipeline's loop.
const m = readManifest('sega-tiny');
const params = JSON.parse(readFileSync(m.files['params']!, 'utf8')) as {
  prompt: string; negative_prompt: string | null; num_inference_steps: number; guidance_scale: number;
  height: number; width: number; eta: number; scheduler: { cls: string } & Record<string, unknown>;
};
let sd: StableDiffusion;

beforeAll(async () => {
  await initBackend();
  const { cls, ...rest } = params.scheduler;
  sd = {
    tokenizer: await loadClipTokenizer(m.components['tokenizer']!),
    textEncoder: await loadClipTextModel(m.components['text_encoder']!),
    unet: await loadUNet(m.components['unet']!),
    vae: await loadVae(m.components['vae']!),
    scheduler: createScheduler({ _class_name: cls, ...rest } as SchedulerConfig),
  };
});
afterAll(() => {
  sd.textEncoder.dispose();
  sd.unet.dispose();
  sd.vae.dispose();
});

describe(`text-to-image (${m.id})`, () => {
  it(`${m.id}: no_edit step latents, final latents and image match the reference pipeline`, async () => {
    const before = tf.memory().numTensors;
    const init = nchwToNhwcTensor(await readFixtureTensor(m, 'io', 'initial_latents'), 'initial_latents');
    const steps: Float32Array[] = [];
    const progress: number[] = [];
    const run = textToImage(sd, {
      prompt: params.prompt,
      negativePrompt: params.negative_prompt ?? undefined,
      guidanceScale: params.guidance_scale, numInferenceSteps: params.num_inference_steps,
      height: params.height, width: params.width, eta: params.eta, latents: init,
      onProgress: (done) => progress.push(done),
    });
    let r = await run.next();
    while (!r.done) {
      steps.push((await r.value.latents.data()) as Float32Array);
      r = await run.next();
    }
    const { latents, images, truncated } = r.value;
    expect(truncated).toEqual([]);
    expect(progress).toEqual(Array.from({ length: params.num_inference_steps }, (_, i) => i + 1));

    const stepCheck = findCheck(m, 'no_edit.step_latents');
    const stored = await readFixtureTensor(m, stepCheck.file, 'no_edit.step_latents'); // [steps, B, C, H, W]
    const [n, b, c, h, w] = stored.shape as [number, number, number, number, number];
    expect(steps.length).toBe(n);
    const per = b * c * h * w;
    for (let i = 0; i < n; i++) {
      const exp = nchwToNhwc((stored.data as Float32Array).subarray(i * per, (i + 1) * per), [b, c, h, w]);
      const cmp = compareArrays(steps[i]!, exp, { atol: stepCheck.atol, rtol: stepCheck.rtol, name: `step ${i}` });
      expect(cmp.ok, cmp.message).toBe(true);
    }
    const fin = await checkAgainstFixture(m, 'no_edit.final_latents', latents, { layout: 'NHWC' });
    expect(fin.ok, fin.message).toBe(true);
    const img = await checkAgainstFixture(m, 'no_edit.image', images, { layout: 'NHWC' });
    expect(img.ok, img.message).toBe(true);
    tf.dispose([init, latents, images]);
    expect(tf.memory().numTensors).toBe(before);
  });
});
