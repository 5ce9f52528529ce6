/**
 * Prompt-to-Prompt pieces that need no tokenizer, checked by hand against algorithms.md §1.2: the global aligner,
 * and the slice-aware attention store (tokenizer-dependent cases are in p2p-golden.parity.test.ts).
 */
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '@semedit/core/backend';
import type { AttentionContext, RowRole } from '@semedit/core/unet';
import { globalAlign } from './seq-aligner.js';
import { AttentionStoreError, createAttentionStore, type AttentionStore } from './store.js';

beforeAll(() => initBackend({ backend: 'cpu' }));

function ctxOf(over: Partial<AttentionContext>): AttentionContext {
  return {
    layer: 'up_blocks.1.attentions.0.transformer_blocks.0.attn2', place: 'up', kind: 'cross', heads: 1,
    resolution: { height: 4, width: 4 }, step: { index: 0, count: 4, timestep: 999 },
    rows: [{ role: 'cond', prompt: 0 }, { role: 'cond', prompt: 1 }], slice: { heads: [0, 1], queries: [0, 16] }, ...over,
  };
}

function feed(store: AttentionStore, probs: tf.Tensor4D, ctx: AttentionContext): void {
  const hook = store.hooks(ctx);
  expect(hook).toBeDefined();
  tf.tidy(() => void hook!(probs, ctx));
}

describe('globalAlign (Needleman–Wunsch, gap 0, match 1, mismatch -1)', () => {
  it('maps every target token to its aligned source token, -1 for insertions', () => {
    expect(Array.from(globalAlign([1, 2, 3], [1, 9, 2, 3]).yToX)).toEqual([0, -1, 1, 2]);
    // the source token 7 is dropped (an "up" move emits nothing); the new token 8 is an insertion
    expect(Array.from(globalAlign([1, 7, 3], [1, 3, 8]).yToX)).toEqual([0, 2, -1]);
    expect(Array.from(globalAlign([5, 6], [5, 6]).yToX)).toEqual([0, 1]);
  });

  it('prefers left over up over diagonal on ties', () => {
    // x=[1], y=[2]: left = 0, up = 0, diag = -1 -> left at (1,1): y[0] is an insertion, then up drops x[0]
    expect(Array.from(globalAlign([1], [2]).yToX)).toEqual([-1]);
  });
});

describe('createAttentionStore', () => {
  const rows: RowRole[] = [{ role: 'uncond', prompt: 0 }, { role: 'cond', prompt: 0 }, { role: 'cond', prompt: 1 }];
  const res = { height: 2, width: 3 };
  const chunks: [readonly [number, number], readonly [number, number]][] = [
    [[0, 2], [0, 6]], [[2, 3], [0, 4]], [[2, 3], [4, 6]], [[3, 4], [0, 3]], [[3, 4], [3, 6]],
  ];

  it('sums chunked calls over steps, keeps only cond rows, averages by the step count', async () => {
    const store = createAttentionStore();
    const steps = [tf.randomUniform([3, 4, 6, 5], 0, 1, 'float32', 1), tf.randomUniform([3, 4, 6, 5], 0, 1, 'float32', 2)] as tf.Tensor4D[];
    steps.forEach((p, i) => {
      for (const [heads, queries] of chunks) {
        const part = tf.slice(p, [0, heads[0], queries[0], 0], [3, heads[1] - heads[0], queries[1] - queries[0], 5]) as tf.Tensor4D;
        feed(store, part, ctxOf({ heads: 4, resolution: res, rows, slice: { heads, queries }, step: { index: i, count: 2, timestep: 0 } }));
        part.dispose();
      }
    });
    const expected = tf.gather(tf.add(steps[0]!, steps[1]!), [1, 2]);
    const sum = store.sum('up_blocks.1.attentions.0.transformer_blocks.0.attn2');
    const avg = store.average('up_blocks.1.attentions.0.transformer_blocks.0.attn2');
    expect(sum.shape).toEqual([2, 4, 6, 5]);
    expect(tf.max(tf.abs(tf.sub(sum, expected))).dataSync()[0]).toBeLessThan(1e-6);
    expect(tf.max(tf.abs(tf.sub(tf.mul(avg, 2), expected))).dataSync()[0]).toBeLessThan(1e-6);
    expect(store.layers()[0]).toMatchObject({ steps: 2, prompts: [0, 1], heads: 4, keys: 5 });
    expect(store.byKey()['up_cross']).toEqual(['up_blocks.1.attentions.0.transformer_blocks.0.attn2']);
    const before = tf.memory().numTensors;
    store.dispose();
    expect(tf.memory().numTensors).toBeLessThan(before);
    tf.dispose([...steps, expected, sum, avg]);
  });

  it('applies the resolution cap and kinds, and names a layer whose chunks do not tile it', () => {
    const store = createAttentionStore({ maxQueries: 16, kinds: ['cross'] });
    expect(store.hooks(ctxOf({ resolution: { height: 8, width: 8 } }))).toBeUndefined();
    expect(store.hooks(ctxOf({ kind: 'self' }))).toBeUndefined();
    const p = tf.ones([2, 1, 8, 77]) as tf.Tensor4D;
    feed(store, p, ctxOf({ slice: { heads: [0, 1], queries: [0, 8] } }));
    expect(() => store.sum('up_blocks.1.attentions.0.transformer_blocks.0.attn2')).toThrow(AttentionStoreError);
    expect(() => store.sum('nope')).toThrow(/holds no maps of nope/);
    p.dispose();
    store.dispose();
  });
});
