/**
 * StyleCLIP mapper training against styleclip-mapper-train-tiny (Coach.train with the coach's Ranger, and with
 * `--optim_name adam`): from the fixture's initial mapper, on the batches it recorded, each step's losses, the raw
 * gradients, every parameter after the step and the optimizer state (exp_avg, exp_avg_sq, Ranger's slow buffer),
 * the images the loss saw, the step-0 gradient of every parameter, the tokens and Ranger's schedule, through
 * trainLatentMapper (default options apart from what config.json sets) and runManifestChecks at each check's own
 * tolerance, on the project's default backend, without tensor leaks. Every value comes from the fixture.
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
import { loadLatentMapper, type LatentMapper } from './mapper-load.js';
import { MAPPER_OPTIMIZERS, trainLatentMapper, type MapperOptimizerName, type TrainMapperOptions, type TrainMapperStep } from './mapper-train.js';
import { rangerSchedule, type RangerOptions } from './ranger.js';
import { wPlusSynthesizer, type StyleGan2Like } from './stylespace.js';

const m = readManifest('styleclip-mapper-train-tiny');

interface MapperTrainFixtureConfig {
  opts: { mapper_type: string; learning_rate: number; batch_size: number; clip_lambda: number; latent_l2_lambda: number; id_lambda: number; description: string };
  steps: number;
  batch_size: number;
  ranger: { lr: number; alpha: number; k: number; N_sma_threshhold: number; betas: [number, number]; eps: number; weight_decay: number; use_gc: boolean; gc_conv_only: boolean };
  adam: { lr: number; betas: [number, number]; eps: number; weight_decay: number; amsgrad: boolean };
  generator: { num_ws: number; noise_mode: string; truncation: number };
  clip_loss: { upsample: string; avgpool_kernel: number; clip_input_size: number };
  token_fold: Record<string, unknown>;
}
const cfg = JSON.parse(await readFile(m.files['config']!, 'utf8')) as MapperTrainFixtureConfig;
const rangerOpts: RangerOptions = {
  beta1: cfg.ranger.betas[0], beta2: cfg.ranger.betas[1], eps: cfg.ranger.eps, alpha: cfg.ranger.alpha, k: cfg.ranger.k,
  nSmaThreshold: cfg.ranger.N_sma_threshhold, weightDecay: cfg.ranger.weight_decay, useGc: cfg.ranger.use_gc, gcConvOnly: cfg.ranger.gc_conv_only,
};
/** The runs the fixture records: check prefixes that name one of the library's optimizers. */
const RUNS = [...new Set(m.checks.map((c) => c.output.split('.')[0]!))].filter((p): p is MapperOptimizerName => MAPPER_OPTIMIZERS.includes(p as MapperOptimizerName));

/** What one training run recorded: losses per step and every observed tensor per step (data and shape). */
interface Recorded {
  steps: TrainMapperStep[];
  observed: Map<string, { shape: number[]; data: Float32Array[] }>;
}

function stacked(rec: Recorded, name: string): CheckOutput {
  const o = rec.observed.get(name);
  if (!o) return undefined;
  const data = new Float32Array(o.data.reduce((n, s) => n + s.length, 0));
  let at = 0;
  for (const s of o.data) (data.set(s, at), (at += s.length));
  return { shape: [o.data.length, ...o.shape], data };
}

function atStep(rec: Recorded | undefined, name: string, step: number): CheckOutput {
  const o = rec?.observed.get(name);
  const data = o?.data.at(step);
  return o && data ? { shape: o.shape, data } : undefined;
}

let G: StyleGan2Like & { dispose(): void };
let clip: ClipModel;
let tokenizer: ClipTokenizer;
let init: LatentMapper;
let t: Map<string, RawTensor>;
let backend = '';
beforeAll(async () => {
  backend = (await initBackend()).name;
  ({ G, clip, tokenizer } = await loadStyleclipFixtureModels(m));
  init = await loadLatentMapper(m.files['weights']!);
  t = (await readCheckpoint(m.files['tensors']!)).tensors;
});
afterAll(() => {
  G?.dispose();
  clip?.dispose();
  init?.dispose();
});

describe(`${m.id}: StyleCLIP mapper training with Ranger and Adam`, () => {
  it(`${m.id}: the models and batches are the ones config.json describes`, () => {
    expect(G.numWs).toBe(cfg.generator.num_ws);
    expect(clip.config.vision.imageSize).toBe(cfg.clip_loss.clip_input_size);
    expect(init.options.mapper_type).toBe(cfg.opts.mapper_type);
    expect(cfg.generator.noise_mode.startsWith('const')).toBe(true);
    const [steps, batch, rows] = t.get('batches')!.shape;
    expect([steps, batch, rows]).toEqual([cfg.steps, cfg.batch_size, cfg.generator.num_ws]);
    expect(cfg.opts.batch_size).toBe(cfg.batch_size);
    expect(RUNS.length, 'the manifest checks at least one optimizer run').toBeGreaterThan(0);
    for (const name of RUNS) expect(cfg[name], `config.json describes the ${name} run`).toBeDefined();
  });

  it(`${m.id}: every fixture.json check (both optimizers: losses, gradients, weights, optimizer state, images; schedule, tokens), no tensor leaked`, async () => {
    expect(m.checks.length).toBeGreaterThan(0);
    const before = tf.memory().numTensors;
    const raw = t.get('batches')!;
    const [steps, batch, rows, dim] = raw.shape as [number, number, number, number];
    const latents = tf.tensor3d(raw.data as Float32Array, [steps * batch, rows, dim]);
    const contextLength = clip.config.text.maxPositionEmbeddings;
    const { bpe, folded, loss } = fixtureClipLoss(m, cfg, { clip, tokenizer }, cfg.opts.description);
    const synth = wPlusSynthesizer(G, { noiseMode: 'const' });

    const runs = new Map<string, Recorded>();
    for (const name of RUNS) {
      const rec: Recorded = { steps: [], observed: new Map() };
      const opts: TrainMapperOptions = {
        steps: cfg.steps, batchSize: cfg.opts.batch_size, lr: cfg[name].lr, clipLambda: cfg.opts.clip_lambda, l2Lambda: cfg.opts.latent_l2_lambda,
        idLambda: cfg.opts.id_lambda, init, batchOrder: 'sequential', optimizer: name, ranger: rangerOpts,
        adam: { beta1: cfg.adam.betas[0], beta2: cfg.adam.betas[1], eps: cfg.adam.eps, weightDecay: cfg.adam.weight_decay, amsgrad: cfg.adam.amsgrad },
        observe: (key, x) => {
          const o = rec.observed.get(key) ?? { shape: [...x.shape], data: [] };
          o.data.push(Float32Array.from(x.dataSync() as Float32Array));
          rec.observed.set(key, o);
        },
      };
      const run = trainLatentMapper(synth, loss, latents, opts);
      let r = await run.next();
      while (!r.done) (rec.steps.push(r.value), (r = await run.next()));
      expect(r.value.trainOpts['optim_name']).toBe(name);
      r.value.dispose();
      expect(rec.steps.length).toBe(cfg.steps);
      runs.set(name, rec);
    }

    const first = runs.get(RUNS[0]!);
    const lossOf = { loss_clip: 'clipLoss', loss_l2_latent: 'l2Loss', loss: 'loss' } as const;
    const schedule = (key: 'nSma' | 'stepSize') => ({ json: Array.from({ length: cfg.steps }, (_, i) => rangerSchedule(i + 1, rangerOpts)[key]) });
    const produce = (output: string): CheckOutput => {
      if (output === 'tokens_bpe') return { shape: [bpe.length, contextLength], data: bpe.flat() };
      if (output === 'tokens') return { shape: [folded.length, contextLength], data: folded.flat() };
      if (output === 'ranger_schedule[*].N_sma') return schedule('nSma');
      if (output === 'ranger_schedule[*].step_size') return schedule('stepSize');
      if (output === 'x_hat_step0') return atStep(first, 'x_hat', 0);
      if (output.startsWith('step0.')) return atStep(first, output.slice('step0.'.length), 0);
      const dot = output.indexOf('.');
      const rec = runs.get(output.slice(0, dot));
      const rest = output.slice(dot + 1);
      if (!rec) return undefined;
      if (rest === 'x_hat_last') return atStep(rec, 'x_hat', rec.steps.length - 1);
      if (Object.hasOwn(lossOf, rest)) {
        const k = lossOf[rest as keyof typeof lossOf];
        return { shape: [rec.steps.length], data: Float32Array.from(rec.steps, (s) => s[k]) };
      }
      return stacked(rec, rest);
    };
    const report = await runManifestChecks(m, (c) => produce(c.output), { label: backend });
    expect(report.ran).toBe(m.checks.length);

    latents.dispose();
    loss.dispose();
    expect(tf.memory().numTensors, 'tensors leaked by training').toBe(before);
  });
});
