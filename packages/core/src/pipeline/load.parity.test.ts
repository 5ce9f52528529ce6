import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getHeapLimit, initBackend, setHeapLimit } from '../backend/index.js';
import { CheckpointFormatError } from '../errors.js';
import { UnknownSchedulerError } from '../schedulers/index.js';
import { assembleSdFolder, checkAgainstFixture, readFixtureTensor, readManifest } from '../testing/index.js';
import { nchwToNhwcTensor } from '../tensor/layout.js';
import { loadStableDiffusion, type LoadedStableDiffusion } from './load.js';
import { ModelTooLargeError } from './memory.js';
import { runTextToImage } from './txt2img.js';

// A diffusers pipeline folder assembled from the tiny fixture components (the same files the reference pipeline
// loaded), and the single-file LDM checkpoint converted from them by diffusers' own script: both must reproduce
// sega-tiny's plain-CFG run.
const sega = readManifest('sega-tiny');
const formats = readManifest('checkpoint-formats');
const params = JSON.parse(readFileSync(sega.files['params']!, 'utf8')) as {
  prompt: string; num_inference_steps: number; guidance_scale: number; height: number; width: number;
  scheduler: { cls: string } & Record<string, unknown>;
};
let dir = '';
let folder = '';

beforeAll(async () => {
  await initBackend();
  dir = await mkdtemp(join(tmpdir(), 'semedit-sd-'));
  const { cls, ...rest } = params.scheduler;
  folder = await assembleSdFolder(sega, join(dir, 'pipeline'), { _class_name: cls, ...rest });
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function finalLatents(sd: LoadedStableDiffusion): Promise<tf.Tensor4D> {
  const init = nchwToNhwcTensor(await readFixtureTensor(sega, 'io', 'initial_latents'));
  const r = await runTextToImage(sd, {
    prompt: params.prompt, guidanceScale: params.guidance_scale, numInferenceSteps: params.num_inference_steps,
    height: params.height, width: params.width, latents: init,
  });
  tf.dispose([init, r.images]);
  return r.latents;
}

describe(`loadStableDiffusion (${sega.id}, ${formats.id})`, () => {
  it(`${sega.id}: a diffusers folder reproduces the reference run`, async () => {
    const before = tf.memory().numTensors;
    const sd = await loadStableDiffusion(folder);
    const lat = await finalLatents(sd);
    const r = await checkAgainstFixture(sega, 'no_edit.final_latents', lat, { layout: 'NHWC' });
    expect(r.ok, r.message).toBe(true);
    lat.dispose();
    sd.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });

  it(`${formats.id}: the single-file LDM safetensors (with the folder's configs) reproduces the same run`, async () => {
    const sd = await loadStableDiffusion(formats.files['sd_safetensors']!, { configDir: folder });
    const lat = await finalLatents(sd);
    const r = await checkAgainstFixture(sega, 'no_edit.final_latents', lat, { layout: 'NHWC' });
    expect(r.ok, r.message).toBe(true);
    lat.dispose();
    sd.dispose();
  });

  it(`${formats.id}: the float16 .ckpt loads and runs to finite latents`, async () => {
    const sd = await loadStableDiffusion(formats.files['sd_ckpt']!, { configDir: folder });
    const lat = await finalLatents(sd);
    expect(Array.from(await lat.data()).every(Number.isFinite)).toBe(true);
    lat.dispose();
    sd.dispose();
  });

  it('refuses up front a pipeline larger than the wasm heap, naming backends that can hold it', async () => {
    const info = await initBackend();
    if (info.name !== 'wasm') return expect(info.name).not.toBe('wasm');
    const limit = getHeapLimit();
    setHeapLimit(8 * 1024 * 1024);
    try {
      await expect(loadStableDiffusion(folder)).rejects.toThrow(ModelTooLargeError);
      await expect(loadStableDiffusion(folder)).rejects.toThrow(/tensorflow backend/);
    } finally {
      setHeapLimit(limit);
    }
  });

  it('names what is wrong with a folder: pipeline class, missing component, scheduler name', async () => {
    const bad = join(dir, 'bad');
    await mkdir(join(bad, 'scheduler'), { recursive: true });
    await writeFile(join(bad, 'model_index.json'), JSON.stringify({ _class_name: 'StableDiffusionXLPipeline' }));
    await expect(loadStableDiffusion(bad)).rejects.toThrow(/StableDiffusionXLPipeline/);
    await writeFile(join(bad, 'model_index.json'), JSON.stringify({ _class_name: 'StableDiffusionPipeline' }));
    await expect(loadStableDiffusion(bad)).rejects.toThrow(CheckpointFormatError);
    await expect(loadStableDiffusion(folder, { scheduler: { _class_name: 'NoSuchScheduler' } as never })).rejects.toThrow(UnknownSchedulerError);
    await expect(loadStableDiffusion(formats.files['sd_safetensors']!)).rejects.toThrow(/configDir/);
  });
});
