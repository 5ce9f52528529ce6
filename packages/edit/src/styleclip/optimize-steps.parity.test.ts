/**
 * StyleCLIP latent optimisation step by step against styleclip-optimize-tiny (run_optimization.py main(), mode
 * edit, W+): the truncated start latent, the start image, the tokens (BPE, then folded into the tiny vocabulary),
 * and for every step the learning rate, each loss term, the gradient, Adam's moments and the latent, plus the
 * images main() returns. Everything is read from the fixture (config.json args, get_lr and Adam constants,
 * component manifests for the generator and CLIP files, the clip-tokenizer vocabulary) and every fixture.json check
 * runs through runManifestChecks at its own tolerance, on the project's default backend, without tensor leaks.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { readFile } from 'node:fs/promises';
import { initBackend } from '@semedit/core/backend';
import type { ClipModel } from '@semedit/core/clip';
import type { ClipTokenizer } from '@semedit/core';
import { readCheckpoint, type RawTensor } from '@semedit/core/io';
import { readManifest, runManifestChecks, type CheckOutput } from '@semedit/core/testing';
import { fixtureClipLoss, loadStyleclipFixtureModels } from '../testing/styleclip-fixture.js';
import { optimizeLatent, type OptimizeLatentOptions, type OptimizeStep } from './optimize.js';
import { wPlusSynthesizer, type StyleGan2Like } from './stylespace.js';

const m = readManifest('styleclip-optimize-tiny');

interface OptimizeFixtureConfig {
  args: { description: string; lr: number; step: number; mode: string; l2_lambda: number; id_lambda: number; truncation: number };
  get_lr: { rampdown: number; rampup: number };
  adam: { betas: [number, number]; eps: number; weight_decay: number; amsgrad: boolean };
  generator: { num_ws: number; w_dim: number; img_resolution: number; noise_mode: string };
  clip_loss: { upsample: string; avgpool_kernel: number; clip_input_size: number };
  token_fold: Record<string, unknown>;
}
const cfg = JSON.parse(await readFile(m.files['config']!, 'utf8')) as OptimizeFixtureConfig;

/** The library's mode for the script's `--mode`. */
function mode(spec: string): OptimizeLatentOptions['mode'] {
  if (spec === 'edit') return 'edit';
  if (spec === 'free_generation') return 'free';
  throw new Error(`${m.id}: unknown mode "${spec}"`);
}

/** Per-step tensors as one `{ shape: [S, ...], data }` (the fixture's leading step axis). */
function stacked(steps: readonly Float32Array[], shape: readonly number[]): CheckOutput {
  const data = new Float32Array(steps.reduce((n, s) => n + s.length, 0));
  let at = 0;
  for (const s of steps) (data.set(s, at), (at += s.length));
  return { shape: [steps.length, ...shape], data };
}

let G: StyleGan2Like & { dispose(): void };
let clip: ClipModel;
let tokenizer: ClipTokenizer;
let t: Map<string, RawTensor>;
let backend = '';
beforeAll(async () => {
  backend = (await initBackend()).name;
  ({ G, clip, tokenizer } = await loadStyleclipFixtureModels(m));
  t = (await readCheckpoint(m.files['tensors']!)).tensors;
});
afterAll(() => {
  G?.dispose();
  clip?.dispose();
});

describe(`${m.id}: StyleCLIP latent optimisation, step by step`, () => {
  it(`${m.id}: the models are the ones config.json describes`, () => {
    expect(G.numWs).toBe(cfg.generator.num_ws);
    expect(clip.config.vision.imageSize).toBe(cfg.clip_loss.clip_input_size);
    expect(cfg.generator.noise_mode.startsWith('const')).toBe(true);
  });

  it(`${m.id}: every fixture.json check (start latent, tokens, lr, losses, gradients, Adam moments, latents, images), no tensor leaked`, async () => {
    expect(m.checks.length).toBeGreaterThan(0);
    const before = tf.memory().numTensors;
    const z = tf.tensor2d(t.get('z')!.data as Float32Array, t.get('z')!.shape as [number, number]);
    const latentInit = tf.tidy(() => G.mapping(z, { truncationPsi: cfg.args.truncation }));
    const synth = wPlusSynthesizer(G, { noiseMode: 'const' });
    const imgOrig = tf.tidy(() => synth(latentInit));
    const contextLength = clip.config.text.maxPositionEmbeddings;
    const { bpe, folded, loss } = fixtureClipLoss(m, cfg, { clip, tokenizer }, cfg.args.description);

    const observed = new Map<string, Float32Array[]>();
    let lastImage: { shape: number[]; data: Float32Array } | undefined;
    const steps: OptimizeStep[] = [];
    const run = optimizeLatent(synth, loss, latentInit, {
      steps: cfg.args.step, lr: cfg.args.lr, l2Lambda: cfg.args.l2_lambda, idLambda: cfg.args.id_lambda, mode: mode(cfg.args.mode),
      adam: { beta1: cfg.adam.betas[0], beta2: cfg.adam.betas[1], eps: cfg.adam.eps, weightDecay: cfg.adam.weight_decay, amsgrad: cfg.adam.amsgrad },
      lrRampdown: cfg.get_lr.rampdown, lrRampup: cfg.get_lr.rampup,
      observe: (name, x) => {
        const data = Float32Array.from(x.dataSync() as Float32Array);
        if (name === 'image') lastImage = { shape: [...x.shape], data };
        else observed.set(name, [...(observed.get(name) ?? []), data]);
      },
    });
    let r = await run.next();
    while (!r.done) (steps.push(r.value), (r = await run.next()));
    const final = r.value;
    expect(steps.length).toBe(cfg.args.step);

    const shape = latentInit.shape;
    const perStep = (k: 'lr' | 'loss' | 'clipLoss' | 'l2Loss') => ({ shape: [steps.length], data: Float32Array.from(steps, (s) => s[k]) });
    const outputs: Record<string, () => CheckOutput> = {
      latent_init: () => latentInit,
      img_orig: () => imgOrig,
      loss_clip: () => perStep('clipLoss'),
      loss_l2: () => perStep('l2Loss'),
      loss: () => perStep('loss'),
      grad_step0: () => ({ shape, data: observed.get('grad')![0]! }),
      grad: () => stacked(observed.get('grad')!, shape),
      adam_exp_avg: () => stacked(observed.get('exp_avg')!, shape),
      adam_exp_avg_sq: () => stacked(observed.get('exp_avg_sq')!, shape),
      latent_after_step: () => stacked(observed.get('latent')!, shape),
      img_gen_last: () => lastImage,
      img_final: () => final.image,
      tokens_bpe: () => ({ shape: [bpe.length, contextLength], data: bpe.flat() }),
      tokens: () => ({ shape: [folded.length, contextLength], data: folded.flat() }),
      lr_per_step: () => ({ json: steps.map((s) => s.lr) }),
    };
    const report = await runManifestChecks(m, (c) => outputs[c.output]?.(), { label: backend });
    expect(report.ran).toBe(m.checks.length);

    tf.dispose([z, latentInit, imgOrig, final.latent, final.image]);
    loss.dispose();
    expect(tf.memory().numTensors, 'tensors leaked by the optimisation').toBe(before);
  });
});
