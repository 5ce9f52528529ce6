/**
 * Prompt-to-Prompt in the same loop as SEGA and another hook (style.md 3.3): the SEGA denoiser makes one UNet call
 * per step with rows [uncond × 2, cond × 2, concept × 2]; P2P's hooks must edit only the edited prompt's cond row,
 * leave uncond and concept rows untouched, and, with the concept held back, reproduce p2p-tiny's replace run.
 */
import { readFileSync } from 'node:fs';
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '@semedit/core/backend';
import { encodePrompts, runLoop, sampleLoop, unetDenoiser, withHooks, type StableDiffusion } from '@semedit/core/pipeline';
import { nchwToNhwcTensor } from '@semedit/core/tensor';
import { checkAgainstFixture, loadFixturePipeline, readFixtureTensor, readManifest } from '@semedit/core/testing';
import type { AttentionHookResolver } from '@semedit/core/unet';
import { segaDenoiser, type SegaConcept } from '../sega/index.js';
import { attentionReplace } from './controllers.js';
import { createAttentionStore } from './store.js';

const m = readManifest('p2p-tiny');
const params = JSON.parse(readFileSync(m.files['params']!, 'utf8')) as {
  num_inference_steps: number; guidance_scale: number; scheduler: { cls: string } & Record<string, unknown>;
  cases: Record<string, { prompts: string[]; cross_attention_kwargs: { n_cross_replace: number; n_self_replace: number } }>;
};
const c = params.cases['replace']!;
let sd: StableDiffusion;
let disposeModels = () => {};
let initial: tf.Tensor4D;

beforeAll(async () => {
  await initBackend();
  ({ sd, dispose: disposeModels } = await loadFixturePipeline(m, params.scheduler));
  initial = nchwToNhwcTensor(await readFixtureTensor(m, 'io', 'initial_latent'), 'initial_latent');
});
afterAll(() => {
  initial.dispose();
  disposeModels();
});

/** Hooks around P2P that measure how much it changed rows it must not touch, and how far row 3 is from row 2. */
function guards() {
  let before: tf.Tensor4D | undefined;
  const stats = { untouched: 0, calls: 0, layers: new Set<string>(), steps: new Set<number>() };
  const pre: AttentionHookResolver = () => (probs) => ((before = probs), probs);
  const post: AttentionHookResolver = () => (probs, ctx) => {
    const keep = ctx.rows!.flatMap((r, i) => (r.role === 'cond' && r.prompt >= 1 ? [] : [i]));
    const d = tf.max(tf.abs(tf.sub(tf.gather(probs, keep), tf.gather(before!, keep)))).dataSync()[0]!;
    stats.untouched = Math.max(stats.untouched, d);
    stats.calls++;
    stats.layers.add(ctx.layer);
    stats.steps.add(ctx.step!.index);
    return probs;
  };
  return { pre, post, stats };
}

async function run(concept: SegaConcept) {
  const steps = params.num_inference_steps;
  const k = c.cross_attention_kwargs;
  const ctl = attentionReplace({ tokenizer: sd.tokenizer, prompts: c.prompts, numSteps: steps, crossReplaceSteps: k.n_cross_replace, selfReplaceSteps: k.n_self_replace, mapper: 'reference' });
  const store = createAttentionStore({ kinds: ['cross'] });
  const g = guards();
  const cond = encodePrompts(sd.tokenizer, sd.textEncoder, c.prompts).embeddings;
  const uncond = encodePrompts(sd.tokenizer, sd.textEncoder, ['', '']).embeddings;
  const smile = encodePrompts(sd.tokenizer, sd.textEncoder, ['a smiling face']).embeddings;
  const denoise = segaDenoiser(withHooks(unetDenoiser(sd.unet), g.pre, ctl.hooks, g.post, store.hooks), {
    cond, uncond, concepts: [smile], scale: params.guidance_scale, edit: { concepts: [concept] }, recordGuidance: false,
  });
  const start = tf.tile(initial, [2, 1, 1, 1]) as tf.Tensor4D;
  const final = await runLoop(sampleLoop(denoise, sd.scheduler, { latents: start, numInferenceSteps: steps }));
  const layers = store.layers();
  tf.dispose([start, cond, uncond, smile]);
  denoise.dispose();
  ctl.dispose();
  store.dispose();
  return { final, stats: g.stats, layers };
}

describe(`P2P with SEGA and other hooks in one loop (${m.id})`, () => {
  it(`${m.id} replace: concept rows present but held back (warmup past the end) reproduces the reference run`, async () => {
    const before = tf.memory().numTensors;
    const { final, stats, layers } = await run({ warmup: params.num_inference_steps, scale: 5 });
    expect(stats.untouched).toBe(0);
    expect(stats.steps.size).toBe(params.num_inference_steps);
    expect(stats.calls).toBeGreaterThanOrEqual(params.num_inference_steps * stats.layers.size);
    expect(layers.every((l) => l.prompts.join() === '0,1')).toBe(true); // the store kept only the cond rows
    const r = await checkAgainstFixture(m, 'replace.final_latents', final, { layout: 'NHWC' });
    expect(r.ok, r.message).toBe(true);
    final.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });

  it(`${m.id} replace: with SEGA acting from step 2, P2P still touches only the edited cond row`, async () => {
    const { final, stats } = await run({ warmup: 2, scale: 5, threshold: 0.5 });
    expect(stats.untouched).toBe(0);
    const data = final.dataSync();
    expect(data.every(Number.isFinite)).toBe(true);
    const r = await checkAgainstFixture(m, 'replace.final_latents', final, { layout: 'NHWC' });
    expect(r.ok).toBe(false); // the concept changed the result
    final.dispose();
  });
});
