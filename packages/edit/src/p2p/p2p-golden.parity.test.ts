/**
 * Prompt-to-Prompt behaviour the p2p-tiny fixture does not cover, checked against algorithms.md §1.2 with the
 * real CLIP vocabulary (clip-tokenizer fixture) and small hand-computed cases: the §1.2.9 golden mappers, the
 * corrected replacement mapper, per-word schedules, equalizer errors, row-role handling of the hooks, chaining,
 * and the later LocalBlend (substruct words, start_blend, two thresholds).
 */
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { OptionError } from '@semedit/core';
import { initBackend } from '@semedit/core/backend';
import { loadClipTokenizer, type ClipTokenizer } from '@semedit/core/clip';
import type { StepEvent } from '@semedit/core/pipeline';
import { readManifest } from '@semedit/core/testing';
import type { AttentionContext, RowRole } from '@semedit/core/unet';
import { attentionRefine, attentionReplace, attentionReweight } from './controllers.js';
import { PromptEditError } from './errors.js';
import { localBlend } from './local-blend.js';
import { crossReplaceAlpha } from './schedules.js';
import { refinementMapper } from './seq-aligner.js';
import { createAttentionStore } from './store.js';
import { equalizer, replacementMapper } from './word-mappers.js';

const m = readManifest('clip-tokenizer');
let tok: ClipTokenizer;
beforeAll(async () => {
  await initBackend({ backend: 'cpu' });
  tok = await loadClipTokenizer(m.components['tokenizer']!);
});
const K = 77;
const col = (mat: Float32Array, n: number) => Array.from({ length: K }, (_, w) => mat[w * K + n]!).flatMap((v, w) => (v !== 0 ? [[w, v]] : []));

describe(`${m.id}: seq_aligner and replacement mappers (algorithms.md §1.2.9)`, () => {
  it(`${m.id}: refinement mappers of the golden table`, () => {
    const a = refinementMapper(tok, 'A painting of a squirrel eating a burger', 'A neoclassical painting of a squirrel eating a burger');
    expect(Array.from(a.mapper.slice(0, 14))).toEqual([0, 1, -1, -1, 2, 3, 4, 5, 6, 7, 8, 9, 12, 13]);
    expect(Array.from(a.alphas.slice(0, 5))).toEqual([1, 1, 0, 0, 1]);
    const b = refinementMapper(tok, 'a photo of a house on a mountain', 'a photo of a house on a mountain at fall');
    expect(Array.from(b.mapper.slice(0, 14))).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, -1, -1, 9, 12, 13]);
    const c = refinementMapper(tok, 'soup', 'pea soup with croutons');
    expect(Array.from(c.mapper.slice(0, 10))).toEqual([0, -1, 1, -1, -1, -1, -1, 2, 8, 9]);
  });

  it(`${m.id}: reference replacement mapper, quirk included`, () => {
    const a = replacementMapper(tok, 'a photo of a cat', 'a photo of a hippopotamus', { mode: 'reference' });
    for (const n of [5, 6, 7]) expect(col(a, n)).toEqual([[5, 1 / 3].map(Math.fround)]);
    expect(col(a, 8)).toEqual([[8, 1]]); // EOS column fed from padding row 8
    const b = replacementMapper(tok, 'a cat sitting on a mat', 'a hippopotamus sitting on a mat', { mode: 'reference' });
    expect(col(b, 2)).toEqual([[2, Math.fround(1 / 3)]]);
    expect(col(b, 5)).toEqual([[5, 1]]); // "sitting" fed from source row 5 ("a")
  });

  it(`${m.id}: corrected mapper feeds each target token from its aligned source token`, () => {
    const b = replacementMapper(tok, 'a cat sitting on a mat', 'a hippopotamus sitting on a mat');
    // source: BOS a cat sitting on a mat EOS (cat 2 .. EOS 7); target: hippo/potam/us 2-4, sitting 5 .. EOS 9
    expect([2, 3, 4].map((n) => col(b, n))).toEqual([2, 3, 4].map(() => [[2, Math.fround(1 / 3)]]));
    expect([5, 6, 7, 8, 9].map((n) => col(b, n))).toEqual([[[3, 1]], [[4, 1]], [[5, 1]], [[6, 1]], [[7, 1]]]);
    expect(col(b, 76)).toEqual([[74, 1]]);
    // target shorter than the source: once the source rows run out, padding feeds padding
    const c = replacementMapper(tok, 'a hippopotamus', 'a cat');
    expect(col(c, 2)).toEqual([[2, 1], [3, 1], [4, 1]]);
    expect(col(c, 3)).toEqual([[5, 1]]);
    expect(col(c, 75)).toEqual([[75, 1]]);
    expect(() => replacementMapper(tok, 'a cat', 'a big dog')).toThrow(PromptEditError);
  });
});

describe(`${m.id}: schedules and equalizer`, () => {
  it(`${m.id}: per-word cross_replace_steps ({default_: 1, lion: 0.4}) and intervals`, () => {
    const { data, shape } = crossReplaceAlpha(tok, ['a squirrel eating a burger', 'a lion eating a burger'], 10, { default_: 1, lion: 0.4 });
    expect(shape).toEqual([11, 1, K]);
    // "lion" is token 2: rows [0, int(0.4 * 11) = 4) are 1; every other column is 1 at all 11 rows
    expect(Array.from({ length: 11 }, (_, t) => data[t * K + 2])).toEqual([1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0]);
    expect(Array.from({ length: 11 }, (_, t) => data[t * K + 3])).toEqual(Array(11).fill(1));
    const iv = crossReplaceAlpha(tok, ['a cat', 'a dog'], 10, [0.2, 0.6]).data; // [int(2.2), int(6.6)) = [2, 6)
    expect(Array.from({ length: 11 }, (_, t) => iv[t * K])).toEqual([0, 0, 1, 1, 1, 1, 0, 0, 0, 0, 0]);
    expect(() => crossReplaceAlpha(tok, ['a cat', 'a dog'], 10, { tiger: 0.3 })).toThrow(PromptEditError);
    expect(() => crossReplaceAlpha(tok, ['a cat', 'a dog'], 10, 1.5)).toThrow(OptionError);
  });

  it(`${m.id}: equalizer sets each word's columns; bad words and weights are refused`, () => {
    const eq = equalizer(tok, 'pea soup with croutons', { croutons: 3, pea: -1 });
    expect(Array.from(eq.slice(0, 8))).toEqual([1, -1, 1, 1, 3, 3, 3, 1]);
    expect(() => equalizer(tok, 'a cat', { dog: 2 })).toThrow(PromptEditError);
    expect(() => equalizer(tok, 'a cat', { cat: 11 })).toThrow(/\[-10, 10\]/);
    expect(() => equalizer(tok, 'a cat', { cat: Number.NaN })).toThrow(OptionError);
  });
});

function ctxOf(over: Partial<AttentionContext>): AttentionContext {
  return {
    layer: 'up_blocks.1.attentions.0.transformer_blocks.0.attn2', place: 'up', kind: 'cross', heads: 2, resolution: { height: 2, width: 2 },
    step: { index: 0, count: 4, timestep: 999 }, rows: [], slice: { heads: [0, 2], queries: [0, 4] }, ...over,
  };
}

describe(`${m.id}: controller hooks`, () => {
  const rows: RowRole[] = [
    { role: 'uncond', prompt: 0 }, { role: 'uncond', prompt: 1 }, { role: 'cond', prompt: 0 }, { role: 'cond', prompt: 1 }, { role: 'concept', prompt: 0, concept: 0 },
  ];
  it(`${m.id}: edit only the cond rows of prompts >= 1, in their windows and under the self-attention cap`, () => {
    const c = attentionReplace({ tokenizer: tok, prompts: ['a cat', 'a dog'], numSteps: 4, crossReplaceSteps: 0.5, selfReplaceSteps: 0.5 });
    const probs = tf.softmax(tf.randomNormal([5, 2, 4, K], 0, 1, 'float32', 3)) as tf.Tensor4D;
    const rowsOf = (t: tf.Tensor) => (tf.unstack(t) as tf.Tensor[]).map((r) => Array.from(r.dataSync()));
    const p = rowsOf(probs);
    const run = (ctx: AttentionContext) => rowsOf(tf.tidy(() => c.hooks(ctx)!(probs, ctx)));
    // cross, step 0 (alpha rows [0, int(0.5 * 5)) = [0, 2)): identity mapper, so row 3 becomes row 2
    expect(run(ctxOf({ rows }))).toEqual([p[0], p[1], p[2], p[2], p[4]]);
    expect(run(ctxOf({ rows, step: { index: 2, count: 4, timestep: 1 } }))).toEqual(p);
    const self = { rows, kind: 'self' as const, layer: 'x.attn1' };
    expect(run(ctxOf({ ...self, step: { index: 1, count: 4, timestep: 1 } }))).toEqual([p[0], p[1], p[2], p[2], p[4]]); // [0, int(4 * 0.5))
    expect(run(ctxOf({ ...self, step: { index: 2, count: 4, timestep: 1 } }))).toEqual(p);
    expect(run(ctxOf({ ...self, resolution: { height: 32, width: 32 } }))).toEqual(p); // 1024 > 16² queries
    expect(() => run(ctxOf({ rows, step: { index: 0, count: 5, timestep: 1 } }))).toThrow(/4 steps/);
    expect(() => run(ctxOf({ rows: undefined }))).toThrow(/row roles/);
    probs.dispose();
    c.dispose();
  });

  it(`${m.id}: re-weighting chained on a refinement: R = (base[:, :, mapper]·alphas + own·(1 − alphas))·eq`, () => {
    const prompts = ['a cake', 'a big cake']; // mapper [0, 1, -1, 2, 3, 5, 6, ...], "cake" is target token 3
    const refine = attentionRefine({ tokenizer: tok, prompts, numSteps: 4 });
    const rw = attentionReweight({ tokenizer: tok, prompts, numSteps: 4, weights: { cake: 2 }, prev: refine });
    const base = tf.tensor3d(Array.from({ length: K }, (_, k) => k + 1), [1, 1, K]);
    const own = tf.tensor3d(Array.from({ length: K }, (_, k) => 100 + k), [1, 1, K]);
    const r = Array.from(rw.replaceCross(base, own, 0).dataSync());
    expect(r.slice(0, 7)).toEqual([1, 2, 102, 3 * 2, 4, 6, 7]);
    expect(() => attentionReweight({ tokenizer: tok, prompts: ['a cat', 'a dog'], numSteps: 4, weights: { dog: 2 }, prev: refine })).toThrow(/same prompts/);
    tf.dispose([base, own]);
    rw.dispose();
    refine.dispose();
  });
});

describe(`${m.id}: LocalBlend, later version (hand-checked masks)`, () => {
  // "a cat" / "a dog": token 1 "a", token 2 the noun. 4x4 attention maps, 8x8 latents (nearest 2x upsample).
  const layer = 'up_blocks.1.attentions.0.transformer_blocks.0.attn2';
  function feedMaps(store: ReturnType<typeof createAttentionStore>): void {
    const d = new Float32Array(2 * 16 * K);
    const set = (row: number, y: number, x: number, t: number, v: number) => (d[(row * 16 + y * 4 + x) * K + t] = v);
    set(0, 0, 0, 2, 1); // "cat" at the top-left
    set(1, 3, 3, 2, 1); // "dog" at the bottom-right, weaker at (3, 2)
    set(1, 3, 2, 2, 0.5);
    set(1, 2, 2, 1, 1); // "a" of the edited prompt at (2, 2): the substruct word
    const p = tf.tensor4d(d, [2, 1, 16, K]);
    const ctx = ctxOf({ heads: 1, resolution: { height: 4, width: 4 }, rows: [{ role: 'cond', prompt: 0 }, { role: 'cond', prompt: 1 }], slice: { heads: [0, 1], queries: [0, 16] } });
    tf.tidy(() => void store.hooks(ctx)!(p, ctx));
    p.dispose();
  }
  const cells = (list: string[]) => {
    const out: number[] = [];
    for (let y = 0; y < 8; y++) for (let x = 0; x < 8; x++) out.push(list.includes(`${y >> 1},${x >> 1}`) ? 1 : 0);
    return out;
  };

  it(`${m.id}: blends after int(start_blend·T) steps with (pooled > th0) AND NOT (un-pooled substruct > th1)`, () => {
    const store = createAttentionStore();
    feedMaps(store);
    const lb = localBlend({
      tokenizer: tok, prompts: ['a cat', 'a dog'], words: ['cat', 'dog'], substructWords: ['a', 'a'], version: 'later',
      threshold: [0.6, 0.5], startBlend: 0.5, store, layers: [layer],
    });
    const latents = tf.concat([tf.zeros([1, 8, 8, 1]), tf.ones([1, 8, 8, 1])]) as tf.Tensor4D;
    const ev = (index: number): StepEvent => ({ index, count: 4, timestep: 0, latents, x0Pred: undefined });
    expect(lb.onStepEnd(ev(1))).toBeUndefined(); // step 2 of 4 is not > int(0.5 * 4)
    const out = lb.onStepEnd(ev(2))!;
    // source mask: 3x3 max-pool of the top-left hot cell -> cells (0..1, 0..1); edited: pooled "dog" map is 1 on
    // (2..3, 2..3) and 0.5 on (2..3, 1) -> only the 1s pass 0.6; OR the source's; minus "a" at (2, 2).
    const edited = cells(['0,0', '0,1', '1,0', '1,1', '2,3', '3,2', '3,3']);
    expect(Array.from(out.dataSync()).slice(64)).toEqual(edited);
    expect(Array.from(out.dataSync()).slice(0, 64)).toEqual(Array(64).fill(0));
    const mask = lb.mask()!;
    expect(Array.from(mask.dataSync()).slice(64)).toEqual(edited);
    tf.dispose([out, mask, latents]);
    lb.dispose();
    store.dispose();
  });

  it(`${m.id}: original version (threshold 0.3, from the first step) keeps the 0.5 ring; refuses unknown words`, () => {
    const store = createAttentionStore();
    feedMaps(store);
    const lb = localBlend({ tokenizer: tok, prompts: ['a cat', 'a dog'], words: ['cat', 'dog'], store, layers: [layer] });
    const latents = tf.concat([tf.zeros([1, 8, 8, 1]), tf.ones([1, 8, 8, 1])]) as tf.Tensor4D;
    const out = lb.onStepEnd({ index: 0, count: 4, timestep: 0, latents, x0Pred: undefined })!;
    expect(Array.from(out.dataSync()).slice(64)).toEqual(cells(['0,0', '0,1', '1,0', '1,1', '2,1', '2,2', '2,3', '3,1', '3,2', '3,3']));
    expect(() => localBlend({ tokenizer: tok, prompts: ['a cat', 'a dog'], words: ['cat', 'tiger'], store, layers: [layer] })).toThrow(PromptEditError);
    expect(() => localBlend({ tokenizer: tok, prompts: ['a cat', 'a dog'], words: ['cat', 'dog'], substructWords: ['a', 'a'], store, layers: [layer] })).toThrow(/later/);
    tf.dispose([out, latents]);
    lb.dispose();
    store.dispose();
  });
});
