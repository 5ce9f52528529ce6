/**
 * No leaks over repeated StyleCLIP runs on the tiny fixture models: latent optimization and mapper training each
 * run 20 times; neither the tensor count nor the backend's bytes may grow.
 */
import { readFile } from 'node:fs/promises';
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '@semedit/core/backend';
import { loadOpenAiClip, type ClipModel } from '@semedit/core/clip';
import { readCheckpoint } from '@semedit/core/io';
import { runLoop } from '@semedit/core/pipeline';
import { readManifest } from '@semedit/core/testing';
import { ClipTextLoss } from './clip-loss.js';
import { mapperParamEntries } from './mapper.js';
import { trainLatentMapper } from './mapper-train.js';
import { optimizeLatent } from './optimize.js';
import { wPlusSynthesizer, type StyleGan2Like } from './stylespace.js';

const genM = readManifest('stylegan2-nvlabs-tiny');
const clipM = readManifest('clip-loss-tiny');
const stylegan2Module = '@semedit/core/stylegan2';
const { loadNvlabsGenerator } = (await import(stylegan2Module)) as {
  loadNvlabsGenerator(path: string, opts: { kwargs: unknown }): Promise<StyleGan2Like & { dispose(): void }>;
};
const REPEATS = 20;
let G: StyleGan2Like & { dispose(): void };
let clip: ClipModel;
let loss: ClipTextLoss;
let init: tf.Tensor3D;

beforeAll(async () => {
  await initBackend();
  const cfg = JSON.parse(await readFile(genM.files['config']!, 'utf8')) as { kwargs: unknown };
  G = await loadNvlabsGenerator(genM.files['weights']!, { kwargs: cfg.kwargs });
  clip = await loadOpenAiClip(clipM.files['weights']!);
  const ids = (await readCheckpoint(clipM.files['tensors']!)).tensors.get('tokens')!;
  loss = new ClipTextLoss(clip, [Array.from(ids.data as Int32Array, Number).slice(0, ids.shape[1])]);
  const w = (await readCheckpoint(genM.files['tensors']!)).tensors.get('wplus')!;
  init = tf.tensor3d(w.data as Float32Array, w.shape as [number, number, number]);
});
afterAll(() => {
  tf.dispose(init);
  loss.dispose();
  G.dispose();
  clip.dispose();
});

const RUNS: Record<string, () => Promise<void>> = {
  'latent optimization': async () => {
    const r = await runLoop(optimizeLatent(wPlusSynthesizer(G), loss, init, { steps: 2 }));
    tf.dispose([r.latent, r.image]);
  },
  'mapper training (Ranger)': async () => {
    const m = await runLoop(trainLatentMapper(wPlusSynthesizer(G), loss, init, { steps: 2, batchSize: init.shape[0] }));
    tf.dispose([...mapperParamEntries(m.params).values()]);
  },
};

describe(`StyleCLIP: no leaks over ${REPEATS} runs (${genM.id} + ${clipM.id})`, () => {
  it.each(Object.keys(RUNS))(`${genM.id}: %s leaves the tensor count and backend bytes where they were`, async (name) => {
    const run = RUNS[name]!;
    await run();
    const before = tf.memory();
    for (let i = 0; i < REPEATS; i++) await run();
    const after = tf.memory();
    console.log(`[${genM.id}] ${name} x${REPEATS}: tensors ${before.numTensors} -> ${after.numTensors}, bytes ${before.numBytes} -> ${after.numBytes}`);
    expect(after.numTensors).toBe(before.numTensors);
    expect(after.numBytes).toBe(before.numBytes);
  });
});
