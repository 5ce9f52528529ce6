/**
 * No leaks over repeated runs: text-to-image, SEGA, Prompt-to-Prompt (with LocalBlend) and the composed edit each
 * run 20 times on p2p-tiny's models; neither the tensor count nor the backend's bytes may grow.
 */
import { readFileSync } from 'node:fs';
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '@semedit/core/backend';
import { runTextToImage, type StableDiffusion } from '@semedit/core/pipeline';
import { loadFixturePipeline, readManifest } from '@semedit/core/testing';
import { runEdit } from './edit.js';
import { runPromptToPrompt } from './p2p.js';
import { runSega } from './sega.js';

const m = readManifest('p2p-tiny');
const params = JSON.parse(readFileSync(m.files['params']!, 'utf8')) as {
  height: number; width: number; guidance_scale: number; scheduler: { cls: string } & Record<string, unknown>; cases: Record<string, { prompts: string[] }>;
};
const [src, dst] = params.cases['replace']!.prompts as [string, string];
const REPEATS = 20;
const STEPS = 2; // short runs: a leak grows per run (and per step), so 20 runs of 2 steps show it
let sd: StableDiffusion;

let disposeModels = () => {};

beforeAll(async () => {
  await initBackend();
  ({ sd, dispose: disposeModels } = await loadFixturePipeline(m, params.scheduler));
});
afterAll(() => disposeModels());

const common = () => ({ numInferenceSteps: STEPS, guidanceScale: params.guidance_scale, height: params.height, width: params.width, seed: 1 });
const smile = { prompt: 'a smiling face', warmup: 0, threshold: 0.5 };
const RUNS: Record<string, () => Promise<void>> = {
  txt2img: async () => {
    const r = await runTextToImage(sd, { ...common(), prompt: src });
    tf.dispose([r.latents, r.images]);
  },
  sega: async () => {
    const r = await runSega(sd, { ...common(), prompt: src, concepts: [smile] });
    tf.dispose([r.latents, r.images, ...r.guidance]);
  },
  p2p: async () => {
    const words = [src, dst].map((p, i) => [p.split(' ').find((w) => !(i === 0 ? dst : src).split(' ').includes(w)) ?? p.split(' ')[0]!]);
    const r = await runPromptToPrompt(sd, { ...common(), prompt: src, targets: dst, localBlend: { words } });
    r.dispose();
  },
  'edit (P2P + SEGA)': async () => {
    const r = await runEdit(sd, { ...common(), prompt: src, p2p: { targets: dst }, sega: { concepts: [smile] } });
    r.dispose();
  },
};

describe(`no leaks over ${REPEATS} runs (${m.id})`, () => {
  it.each(Object.keys(RUNS))(`${m.id}: %s leaves the tensor count and backend bytes where they were`, async (name) => {
    const run = RUNS[name]!;
    await run(); // first run: lazily created kernels and caches
    const before = tf.memory();
    for (let i = 0; i < REPEATS; i++) await run();
    const after = tf.memory();
    console.log(`[${m.id}] ${name} x${REPEATS}: tensors ${before.numTensors} -> ${after.numTensors}, bytes ${before.numBytes} -> ${after.numBytes}`);
    expect(after.numTensors).toBe(before.numTensors);
    expect(after.numBytes).toBe(before.numBytes);
  });
});
