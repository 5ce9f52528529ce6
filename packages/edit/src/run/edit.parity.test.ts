/**
 * `edit` composes SEGA and Prompt-to-Prompt in one loop. Properties, step by step, on p2p-tiny's models and its
 * replace case (prompts, steps, guidance and windows read from the fixture):
 * - SEGA with no concepts plus P2P equals P2P alone;
 * - P2P with no edit (the target is the source prompt) plus SEGA equals SEGA alone, on both rows;
 * - both together change what each alone does, and the result is the same for the same seed.
 */
import { readFileSync } from 'node:fs';
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '@semedit/core/backend';
import type { StableDiffusion } from '@semedit/core/pipeline';
import { loadFixturePipeline, readManifest } from '@semedit/core/testing';
import { edit, type EditOptions, type EditResult } from './edit.js';

const m = readManifest('p2p-tiny');
const params = JSON.parse(readFileSync(m.files['params']!, 'utf8')) as {
  num_inference_steps: number; guidance_scale: number; scheduler: { cls: string } & Record<string, unknown>;
  cases: Record<string, { prompts: string[]; cross_attention_kwargs: { n_cross_replace: number; n_self_replace: number } }>;
};
const c = params.cases['replace']!;
const [source, target] = c.prompts as [string, string];
let sd: StableDiffusion;

let disposeModels = () => {};

beforeAll(async () => {
  await initBackend();
  ({ sd, dispose: disposeModels } = await loadFixturePipeline(m, params.scheduler));
});
afterAll(() => disposeModels());

/** Runs `edit` and keeps a copy of the latents after every step. */
async function steps(opts: Omit<EditOptions, 'numInferenceSteps' | 'guidanceScale'>): Promise<{ per: Float32Array[][]; result: EditResult }> {
  const per: Float32Array[][] = [];
  const run = edit(sd, { ...opts, numInferenceSteps: params.num_inference_steps, guidanceScale: params.guidance_scale });
  let r = await run.next();
  while (!r.done) {
    const rows = r.value.latents.shape[0];
    per.push(Array.from({ length: rows }, (_, i) => tf.tidy(() => tf.slice(r.value.latents, [i, 0, 0, 0], [1, -1, -1, -1]).dataSync() as Float32Array)));
    r = await run.next();
  }
  return { per, result: r.value };
}

const maxDiff = (a: Float32Array, b: Float32Array) => a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i]!)), 0);
const scaleOf = (a: Float32Array) => a.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
/** Float32 re-association across batch sizes only: a relative bound far below any edit's effect. */
const SAME = 1e-5;

const p2p = () => ({ targets: target, crossReplaceSteps: c.cross_attention_kwargs.n_cross_replace, selfReplaceSteps: c.cross_attention_kwargs.n_self_replace, replaceMapper: 'reference' as const });
const concept = { prompt: 'a smiling face', scale: 5, threshold: 0.5, warmup: 1 };

describe(`edit: SEGA and P2P composed in one loop (${m.id})`, () => {
  it(`${m.id}: SEGA with no concepts plus P2P equals P2P alone at every step`, async () => {
    const before = tf.memory().numTensors;
    const alone = await steps({ prompt: source, seed: 3, p2p: p2p() });
    const both = await steps({ prompt: source, seed: 3, p2p: p2p(), sega: { concepts: [] } });
    expect(both.per).toHaveLength(params.num_inference_steps);
    let worst = 0;
    for (const [i, rows] of alone.per.entries()) {
      for (const [row, a] of rows.entries()) worst = Math.max(worst, maxDiff(a, both.per[i]![row]!) / scaleOf(a));
    }
    console.log(`[${m.id}] SEGA(no concepts)+P2P vs P2P: worst relative step difference ${worst.toExponential(2)} over ${alone.per.length} steps`);
    expect(worst).toBeLessThanOrEqual(SAME);
    alone.result.dispose();
    both.result.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });

  it(`${m.id}: P2P with no edit plus SEGA equals SEGA alone at every step, on both rows`, async () => {
    const before = tf.memory().numTensors;
    // P2P's hooks make the UNet's attention layers run the chunked path; SEGA alone would run a backend's fused
    // kernel (native), whose float summation order differs. Compare like with like: both runs on the chunked path.
    const saved = process.env['SEMEDIT_FUSED_ATTENTION'];
    process.env['SEMEDIT_FUSED_ATTENTION'] = '0';
    let alone: Awaited<ReturnType<typeof steps>>, both: Awaited<ReturnType<typeof steps>>;
    try {
      alone = await steps({ prompt: source, seed: 5, sega: { concepts: [concept], recordGuidance: false } });
      both = await steps({ prompt: source, seed: 5, sega: { concepts: [concept], recordGuidance: false }, p2p: { ...p2p(), targets: source } });
    } finally {
      if (saved === undefined) delete process.env['SEMEDIT_FUSED_ATTENTION'];
      else process.env['SEMEDIT_FUSED_ATTENTION'] = saved;
    }
    let worst = 0;
    for (const [i, [a]] of alone.per.entries()) {
      for (const row of both.per[i]!) worst = Math.max(worst, maxDiff(a!, row) / scaleOf(a!));
    }
    console.log(`[${m.id}] P2P(no edit)+SEGA vs SEGA: worst relative step difference ${worst.toExponential(2)} over ${alone.per.length} steps`);
    expect(worst).toBeLessThanOrEqual(SAME);
    alone.result.dispose();
    both.result.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });

  it(`${m.id}: SEGA plus P2P differs from each alone, and repeats exactly for the same seed`, async () => {
    const sega = { concepts: [concept], recordGuidance: false };
    const both = await steps({ prompt: source, seed: 7, sega, p2p: p2p() });
    const again = await steps({ prompt: source, seed: 7, sega, p2p: p2p() });
    const onlyP2p = await steps({ prompt: source, seed: 7, p2p: p2p() });
    const last = params.num_inference_steps - 1;
    expect(Array.from(again.per[last]![1]!)).toEqual(Array.from(both.per[last]![1]!));
    const edited = both.per[last]![1]!;
    expect(maxDiff(edited, onlyP2p.per[last]![1]!) / scaleOf(edited)).toBeGreaterThan(100 * SAME); // the concept acts
    expect(maxDiff(edited, both.per[last]![0]!) / scaleOf(edited)).toBeGreaterThan(100 * SAME); // the word swap acts
    expect(both.result.prompts).toEqual(c.prompts);
    expect(both.result.controller?.kind).toBe('replace');
    expect(both.result.phases).toHaveLength(params.num_inference_steps);
    [both, again, onlyP2p].forEach((r) => r.result.dispose());
  });
});
