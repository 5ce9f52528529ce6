/**
 * StyleCLIP latent optimization and mapper training on the tiny fixture models (stylegan2-nvlabs-tiny generator,
 * clip-loss-tiny CLIP and tokens) on the default backend: the learning-rate schedule and Adam against closed
 * forms, the losses reported per step against an independent recomputation, no tensor leaks over a run (complete
 * or stopped early), the identity hook, and mapper training (Ranger and Adam) that checkpoints, resumes to the same
 * weights and loads back through loadLatentMapper, and trains a LevelsMapper on the generator's W+ (the fine group idle when it has no rows).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createGenerator } from '@semedit/core';
import { initBackend } from '@semedit/core/backend';
import { l2Normalize, loadOpenAiClip, type ClipModel } from '@semedit/core/clip';
import { readCheckpoint, type RawTensor } from '@semedit/core/io';
import { readManifest } from '@semedit/core/testing';
import { Adam, styleClipLr } from './adam.js';
import { ClipTextLoss } from './clip-loss.js';
import { adaptiveAvgPoolMatrix, arcFaceCrop, type FaceEmbedder } from './identity-loss.js';
import { mapperParamEntries } from './mapper.js';
import { loadLatentMapper } from './mapper-load.js';
import { trainLatentMapper } from './mapper-train.js';
import { optimizeLatent, type OptimizeResult, type OptimizeStep } from './optimize.js';
import { wPlusSynthesizer, type StyleGan2Like } from './stylespace.js';

const genM = readManifest('stylegan2-nvlabs-tiny');
const clipM = readManifest('clip-loss-tiny');
const stylegan2Module = '@semedit/core/stylegan2';
const { loadNvlabsGenerator } = (await import(stylegan2Module)) as {
  loadNvlabsGenerator(path: string, opts: { kwargs: unknown }): Promise<StyleGan2Like & { dispose(): void; config: { zDim: number; imgResolution: number } }>;
};

async function drain<T, R>(run: AsyncGenerator<T, R, void>, each: (s: T) => void = () => {}): Promise<R> {
  let r = await run.next();
  while (!r.done) (each(r.value), (r = await run.next()));
  return r.value;
}

let G: StyleGan2Like & { dispose(): void; config: { zDim: number; imgResolution: number } };
let clip: ClipModel;
let tokens: number[][];
let wplus: RawTensor;
beforeAll(async () => {
  await initBackend();
  const cfg = JSON.parse(await readFile(genM.files['config']!, 'utf8')) as { kwargs: unknown };
  G = await loadNvlabsGenerator(genM.files['weights']!, { kwargs: cfg.kwargs });
  clip = await loadOpenAiClip(clipM.files['weights']!);
  const t = (await readCheckpoint(clipM.files['tensors']!)).tensors;
  const ids = t.get('tokens')!;
  tokens = [Array.from(ids.data as Int32Array, Number).slice(0, ids.shape[1])];
  wplus = (await readCheckpoint(genM.files['tensors']!)).tensors.get('wplus')!;
});
afterAll(() => {
  G.dispose();
  clip.dispose();
});

describe('StyleCLIP schedule and optimizer (closed forms)', () => {
  it('get_lr: 0 at t=0, linear warm-up over 5 %, flat, cosine ramp-down over the last 25 %', () => {
    expect(styleClipLr(0, 0.1)).toBe(0);
    expect(styleClipLr(0.025, 0.1)).toBeCloseTo(0.05, 12);
    expect(styleClipLr(0.5, 0.1)).toBeCloseTo(0.1, 12);
    expect(styleClipLr(0.875, 0.1)).toBeCloseTo(0.1 * (0.5 - 0.5 * Math.cos(0.5 * Math.PI)), 12);
    expect(styleClipLr(1, 0.1)).toBeCloseTo(0, 12);
  });

  it('Adam: the first step moves each entry by lr·g/(|g|+eps) (bias corrections cancel), state round-trips', () => {
    const p = tf.variable(tf.tensor1d([1, -2, 3]));
    const adam = new Adam(new Map([['p', p]]));
    const g = tf.tensor1d([0.5, -4, 1e-3]);
    adam.step(new Map([['p', g]]), 0.1);
    const expected = [1, -2, 3].map((v, i) => v - (0.1 * [0.5, -4, 1e-3][i]!) / (Math.abs([0.5, -4, 1e-3][i]!) + 1e-8));
    Array.from(p.dataSync()).forEach((v, i) => expect(v).toBeCloseTo(expected[i]!, 6));
    const s = adam.exportState();
    const q = tf.variable(tf.tensor1d([0, 0, 0]));
    const other = new Adam(new Map([['p', q]]));
    other.restoreState(s);
    expect(other.stepCount).toBe(1);
    expect(Array.from(other.exportState().m.get('p')!.data)).toEqual(Array.from(s.m.get('p')!.data));
    tf.dispose([p, q, g]);
    adam.dispose();
    other.dispose();
  });

  it('adaptive pooling rows are PyTorch windows and the ArcFace crop gives 112²', () => {
    expect(Array.from(adaptiveAvgPoolMatrix(5, 3))).toEqual([0.5, 0.5, 0, 0, 0, 0, 1 / 3, 1 / 3, 1 / 3, 0, 0, 0, 0, 0.5, 0.5].map(Math.fround));
    const x = tf.ones([1, 64, 64, 3]) as tf.Tensor4D;
    const y = arcFaceCrop(x);
    expect(y.shape).toEqual([1, 112, 112, 3]);
    expect(Math.abs(y.dataSync()[0]! - 1)).toBeLessThan(1e-6);
    tf.dispose([x, y]);
  });
});

describe(`StyleCLIP latent optimization (${genM.id} + ${clipM.id})`, () => {
  it(`${genM.id}: losses reported per step equal a recomputation, CLIP loss decreases, no tensor leaks`, async () => {
    const init = tf.tensor3d(wplus.data as Float32Array, wplus.shape as [number, number, number]);
    const loss = new ClipTextLoss(clip, tokens);
    const synth = wPlusSynthesizer(G);
    const before = tf.memory().numTensors;
    const steps: OptimizeStep[] = [];
    const r: OptimizeResult = await drain(optimizeLatent(synth, loss, init, { steps: 12, lr: 0.1 }), (s) => steps.push(s));
    expect(steps.map((s) => s.step)).toEqual([...Array(12).keys()]);
    expect(steps[0]!.lr).toBe(0);
    expect(steps[0]!.l2Loss).toBe(0);
    // Step 0's CLIP term recomputed independently: Σ_i mean_texts (1 - logits/100) at the initial code.
    const c0 = tf.tidy(() => tf.sum(loss.loss(synth(init))).dataSync()[0]!);
    expect(steps[0]!.clipLoss).toBeCloseTo(c0, 5);
    const last = steps.at(-1)!;
    expect(last.clipLoss).toBeLessThan(steps[0]!.clipLoss);
    expect(last.loss).toBeCloseTo(last.clipLoss + 0.008 * last.l2Loss, 5);
    const l2 = tf.tidy(() => tf.sum(tf.square(tf.sub(r.latent, init))).dataSync()[0]!);
    expect(l2).toBeGreaterThan(0);
    expect(r.image.shape).toEqual([init.shape[0], G.config.imgResolution, G.config.imgResolution, 3]);
    expect(tf.memory().numTensors).toBe(before + 2);
    tf.dispose([r.latent, r.image]);
    expect(tf.memory().numTensors).toBe(before);
    loss.dispose();
    init.dispose();
  });

  it(`${genM.id}: stopping early frees everything; free mode is CLIP only; the identity hook is applied`, async () => {
    const init = tf.tensor3d(wplus.data as Float32Array, wplus.shape as [number, number, number]).slice([0, 0, 0], [2, -1, -1]) as tf.Tensor3D;
    const loss = new ClipTextLoss(clip, tokens);
    const before = tf.memory().numTensors;
    for await (const s of optimizeLatent(wPlusSynthesizer(G), loss, init, { steps: 10 })) if (s.step === 2) break;
    expect(tf.memory().numTensors).toBe(before);
    const free: OptimizeStep[] = [];
    tf.dispose(Object.values(await drain(optimizeLatent(wPlusSynthesizer(G), loss, init, { steps: 3, mode: 'free' }), (s) => free.push(s))));
    expect(free.every((s) => s.l2Loss === 0 && s.loss === s.clipLoss)).toBe(true);
    // A toy embedder (mean colour of the crop, normalized) exercises the ID term.
    const embed: FaceEmbedder = { inputSize: 16, embed: (f) => l2Normalize(tf.add(tf.mean(f, [1, 2]), 2) as tf.Tensor2D) };
    const withId: OptimizeStep[] = [];
    tf.dispose(Object.values(await drain(optimizeLatent(wPlusSynthesizer(G), loss, init, { steps: 4, idLambda: 0.5, identity: embed }), (s) => withId.push(s))));
    expect(withId[0]!.idLoss).toBeCloseTo(0, 6);
    expect(withId.at(-1)!.loss).toBeCloseTo(withId.at(-1)!.clipLoss + 0.008 * withId.at(-1)!.l2Loss + 0.5 * withId.at(-1)!.idLoss, 5);
    expect(tf.memory().numTensors).toBe(before);
    await expect(drain(optimizeLatent(wPlusSynthesizer(G), loss, init, { idLambda: 1 }))).rejects.toThrow(/identity/);
    loss.dispose();
    init.dispose();
  });
});

describe(`StyleCLIP mapper training (${genM.id} + ${clipM.id})`, () => {
  let dir = '';
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'semedit-mapper-'));
  });
  afterAll(async () => rm(dir, { recursive: true, force: true }));

  it.each(['ranger', 'adam'] as const)(`${genM.id}: %s checkpoints, resumes to the same weights as an uninterrupted run, and loads back`, async (optimizer) => {
    const zDim = G.config.zDim;
    const z = tf.tensor2d(createGenerator(3).normal(6 * zDim), [6, zDim]);
    const latents = tf.tidy(() => G.mapping(z, { truncationPsi: 0.7 }));
    // Padded with two more rows (copies of the last two), so the fine group has rows to map whatever numWs is.
    const w10 = tf.tidy(() => tf.concat([latents, tf.slice(latents, [0, G.numWs - 2, 0], [-1, 2, -1])], 1));
    const synth = (ws: tf.Tensor3D) => G.synthesis(tf.slice(ws, [0, 0, 0], [-1, G.numWs, -1]), { noiseMode: 'const' });
    const loss = new ClipTextLoss(clip, tokens);
    const before = tf.memory().numTensors;
    const opt = optimizer === 'ranger' ? {} : { optimizer };
    // 7 steps resumed after 3: Ranger's Lookahead sync (step 6) falls in the resumed part.
    const full = await drain(trainLatentMapper(synth, loss, w10, { ...opt, steps: 7, batchSize: 2, checkpointPath: join(dir, `${optimizer}-full.safetensors`), checkpointEvery: 3, noFineMapper: true }));
    const half: string[] = [];
    const first = await drain(trainLatentMapper(synth, loss, w10, { ...opt, steps: 3, batchSize: 2, checkpointPath: join(dir, `${optimizer}-a.safetensors`), noFineMapper: true }), (s) => s.checkpoint && half.push(s.checkpoint));
    expect(half).toEqual([join(dir, `${optimizer}-a.safetensors`)]);
    first.dispose();
    // The resumed run keeps the checkpoint's optimizer whatever it is asked for.
    const resumed = await drain(trainLatentMapper(synth, loss, w10, { optimizer: optimizer === 'ranger' ? 'adam' : 'ranger', steps: 7, batchSize: 2, resumeFrom: join(dir, `${optimizer}-a.safetensors`), checkpointPath: join(dir, `${optimizer}-b.safetensors`) }));
    const values = (e: Map<string, tf.Tensor>) => [...e].map(([k, v]) => [k, Array.from(v.dataSync())]);
    expect(values(mapperParamEntries(resumed.params))).toEqual(values(mapperParamEntries(full.params)));
    expect(full.options.no_fine_mapper).toBe(true);
    expect(full.trainOpts['optim_name']).toBe(optimizer);
    expect(resumed.trainOpts['optim_name']).toBe(optimizer);
    const loaded = await loadLatentMapper(join(dir, `${optimizer}-b.safetensors`));
    expect(loaded.options).toEqual(full.options);
    expect(values(mapperParamEntries(loaded.params))).toEqual(values(mapperParamEntries(full.params)));
    tf.dispose([full, resumed, loaded].map((m) => [...mapperParamEntries(m.params).values()]).flat());
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([z, latents, w10]);
    loss.dispose();
  });

  it(`${genM.id}: a LevelsMapper trains on the generator's W+ (a fine group without rows stays unchanged); bad optimizer options are OptionErrors`, async () => {
    const zDim = G.config.zDim;
    const z = tf.tensor2d(createGenerator(4).normal(4 * zDim), [4, zDim]);
    const w8 = tf.tidy(() => G.mapping(z, { truncationPsi: 0.7 }));
    const loss = new ClipTextLoss(clip, tokens);
    const before = tf.memory().numTensors;
    const seen: string[] = [];
    const trained = await drain(trainLatentMapper(wPlusSynthesizer(G), loss, w8, { steps: 2, batchSize: 2, observe: (name, _t, step) => step === 0 && seen.push(name) }));
    const initial = await drain(trainLatentMapper(wPlusSynthesizer(G), loss, w8, { steps: 1, batchSize: 2, lr: 0 }));
    const fine = (e: Map<string, tf.Tensor>) => [...e].filter(([k]) => k.startsWith('fine_mapping.')).map(([k, v]) => [k, Array.from(v.dataSync())]);
    // LevelsMapper's fine group maps W+ rows from 8 on (the reference's split); with no such rows it cannot change.
    const fineIdle = G.numWs <= 8;
    expect(JSON.stringify(fine(mapperParamEntries(trained.params))) === JSON.stringify(fine(mapperParamEntries(initial.params)))).toBe(fineIdle);
    expect(seen).toContain('x_hat');
    expect(seen).toContain('grad.fine_mapping.mapping.1.weight');
    expect(seen).toContain('state.course_mapping.mapping.1.weight.slow_buffer');
    trained.dispose();
    initial.dispose();
    await expect(drain(trainLatentMapper(wPlusSynthesizer(G), loss, w8, { optimizer: 'sgd' as never }))).rejects.toThrow(/optimizer/);
    await expect(drain(trainLatentMapper(wPlusSynthesizer(G), loss, w8, { batchOrder: 'random' as never }))).rejects.toThrow(/batchOrder/);
    await expect(drain(trainLatentMapper(wPlusSynthesizer(G), loss, w8, { ranger: { k: 0 } }))).rejects.toThrow(/k/);
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([z, w8]);
    loss.dispose();
  });
});
