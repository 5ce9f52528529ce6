/**
 * listAttentionLayers on the SD 1.5 and SD 2.1-base configs (the 32 hooked layers of Prompt-to-Prompt: 16
 * transformer blocks × attn1/attn2, at 64/32/16/8 for 64×64 latents) and hook composition.
 */
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../backend/index.js';
import type { UNet2DConditionConfig } from './config.js';
import { composeHooks, composeResolvers, listAttentionLayers, type AttentionContext, type AttentionHook } from './hooks.js';

const SD15: UNet2DConditionConfig = { attention_head_dim: 8, block_out_channels: [320, 640, 1280, 1280], cross_attention_dim: 768 };

describe('listAttentionLayers', () => {
  it('lists the 32 attention layers of SD 1.5 in execution order with their resolutions', () => {
    const layers = listAttentionLayers(SD15, { height: 64, width: 64 });
    expect(layers.length).toBe(32);
    expect(layers.slice(0, 2).map((l) => [l.layer, l.kind, l.keyDim])).toEqual([
      ['down_blocks.0.attentions.0.transformer_blocks.0.attn1', 'self', 320],
      ['down_blocks.0.attentions.0.transformer_blocks.0.attn2', 'cross', 768],
    ]);
    const count = (place: string, size: number) => layers.filter((l) => l.place === place && l.resolution!.height === size && l.kind === 'cross').length;
    // down: 2 per level at 64, 32, 16; mid: 1 at 8; up: 3 per level at 16, 32, 64 (algorithms.md §1.2.2)
    expect([count('down', 64), count('down', 32), count('down', 16), count('mid', 8), count('up', 16), count('up', 32), count('up', 64)]).toEqual([2, 2, 2, 1, 3, 3, 3]);
    expect(layers.at(-1)!.layer).toBe('up_blocks.3.attentions.2.transformer_blocks.0.attn2');
    expect(layers.find((l) => l.place === 'mid')!).toMatchObject({ heads: 8, headDim: 160, downscale: 8 });
  });

  it('rounds odd sizes up at each level, as the strided convs do; SD 2.1 heads per block', () => {
    const layers = listAttentionLayers({ ...SD15, attention_head_dim: [5, 10, 20, 20], cross_attention_dim: 1024 }, { height: 65, width: 47 });
    expect([...new Set(layers.map((l) => `${l.resolution!.height}x${l.resolution!.width}`))]).toEqual(['65x47', '33x24', '17x12', '9x6']);
    expect([...new Set(layers.map((l) => `${l.place}:${l.heads}x${l.headDim}`))]).toEqual(['down:5x64', 'down:10x64', 'down:20x64', 'mid:20x64', 'up:20x64', 'up:10x64', 'up:5x64']);
    expect(listAttentionLayers(SD15)[0]!.resolution).toBeUndefined();
  });
});

describe('composeHooks / composeResolvers', () => {
  beforeAll(() => initBackend({ backend: 'cpu' }));
  const ctx = { layer: 'mid_block.attentions.0.transformer_blocks.0.attn2', kind: 'cross' } as AttentionContext;

  it('applies hooks in order and skips undefined ones', () => {
    const add1: AttentionHook = (p) => tf.add(p, 1) as tf.Tensor4D;
    const times3: AttentionHook = (p) => tf.mul(p, 3) as tf.Tensor4D;
    const p = tf.zeros([1, 1, 1, 2]) as tf.Tensor4D;
    const out = composeHooks(add1, undefined, times3)!(p, ctx);
    expect(Array.from(out.dataSync())).toEqual([3, 3]);
    expect(composeHooks(undefined)).toBeUndefined();
    expect(composeHooks(times3)).toBe(times3);
    tf.dispose([p, out]);
  });

  it('composes the hooks each resolver picks for a layer', () => {
    const calls: string[] = [];
    const tag = (name: string): AttentionHook => (p) => (calls.push(name), p);
    const onlyCross = composeResolvers((c) => (c.kind === 'cross' ? tag('a') : undefined), undefined, () => tag('b'));
    const p = tf.zeros([1, 1, 1, 1]) as tf.Tensor4D;
    onlyCross(ctx)!(p, ctx);
    onlyCross({ ...ctx, kind: 'self' })!(p, ctx);
    expect(calls).toEqual(['a', 'b', 'b']);
    expect(composeResolvers()(ctx)).toBeUndefined();
    p.dispose();
  });
});
