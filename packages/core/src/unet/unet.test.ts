/**
 * The UNet forward on small random models built from configs (no fixture): hook contexts (every layer of
 * listAttentionLayers in order, place/kind/heads/resolution, step and rows, chunk slices), hook and processor
 * overrides, non-square and odd latent sizes, only_cross_attention, gradients w.r.t. the encoder states, no
 * leaked tensors, and the typed errors (missing weight, wrong shapes, rows).
 */
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../backend/index.js';
import { MissingWeightError, OptionError, ShapeMismatchError } from '../errors.js';
import type { RawTensor } from '../io/types.js';
import { referenceAttention } from '../nn/attention.js';
import { expectClose } from '../testing/index.js';
import { resolveUNetConfig, type UNet2DConditionConfig } from './config.js';
import { listAttentionLayers, type AttentionContext, type AttentionProcessor } from './hooks.js';
import { unetWeightShapes } from './params.js';
import { UNet2DConditionModel } from './unet.js';

const TINY: UNet2DConditionConfig = {
  block_out_channels: [16, 32], down_block_types: ['CrossAttnDownBlock2D', 'DownBlock2D'], up_block_types: ['UpBlock2D', 'CrossAttnUpBlock2D'],
  layers_per_block: 1, attention_head_dim: 2, cross_attention_dim: 12, norm_num_groups: 8, in_channels: 4, out_channels: 4,
};

/** Random weights with a fixed LCG (norm weights around 1), in PyTorch layouts and diffusers keys. */
function randomWeights(cfg: UNet2DConditionConfig, seed = 1): Map<string, RawTensor> {
  let s = seed >>> 0;
  const rand = () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32) * 2 - 1;
  const out = new Map<string, RawTensor>();
  for (const [key, shape] of Object.entries(unetWeightShapes(resolveUNetConfig(cfg)))) {
    const n = shape.reduce((a, b) => a * b, 1);
    const isNormWeight = /norm\d?\.weight$|norm_out\.weight$/.test(key);
    const fan = shape.length > 1 ? shape.slice(1).reduce((a, b) => a * b, 1) : 1;
    const data = Float32Array.from({ length: n }, () => (isNormWeight ? 1 + 0.1 * rand() : rand() / Math.sqrt(fan)));
    out.set(key, { dtype: 'float32', shape, data });
  }
  return out;
}

function inputs(b: number, h: number, w: number, tokens = 5): [tf.Tensor4D, tf.Tensor3D] {
  return [tf.randomNormal([b, h, w, 4], 0, 1, 'float32', 3) as tf.Tensor4D, tf.randomNormal([b, tokens, 12], 0, 1, 'float32', 4) as tf.Tensor3D];
}

describe.each([
  { label: 'default backend', init: () => initBackend() },
  { label: 'cpu', init: () => initBackend({ backend: 'cpu' }) },
])('UNet2DConditionModel (random tiny model) on $label', ({ init }) => {
  let unet: UNet2DConditionModel;
  beforeAll(async () => {
    await init();
    unet = UNet2DConditionModel.fromWeights(randomWeights(TINY), TINY, { file: 'random.safetensors' });
  });

  it('calls the resolver once per attention layer, in listAttentionLayers order, with the full context', () => {
    const [x, ehs] = inputs(2, 8, 6);
    const seen: AttentionContext[] = [];
    const rows = [{ role: 'uncond', prompt: 0 }, { role: 'cond', prompt: 0 }] as const;
    const step = { index: 2, count: 10, timestep: 801 };
    const before = tf.memory().numTensors;
    const y = unet.forward(x, 801, ehs, { rows, step, attention: { hooks: (ctx) => void seen.push(ctx) } });
    y.dispose();
    expect(tf.memory().numTensors).toBe(before);
    const layers = listAttentionLayers(unet.config, { height: 8, width: 6 });
    expect(seen.map((c) => [c.layer, c.place, c.kind, c.heads, c.resolution])).toEqual(layers.map((l) => [l.layer, l.place, l.kind, l.heads, l.resolution]));
    for (const c of seen) expect([c.rows, c.step, c.slice]).toEqual([rows, step, { heads: [0, c.heads], queries: [0, c.resolution.height * c.resolution.width] }]);
    tf.dispose([x, ehs]);
  });

  it('hooks see every chunk of the chosen layer; a replacing hook changes the output, an identity hook does not', () => {
    const [x, ehs] = inputs(2, 8, 8);
    const target = 'down_blocks.0.attentions.0.transformer_blocks.0.attn1';
    const slices: AttentionContext['slice'][] = [];
    const plain = unet.forward(x, 10, ehs);
    const identity = unet.forward(x, 10, ehs, {
      attention: { maxScoreElements: 2 * 64 * 20, hooks: (ctx) => (ctx.layer === target ? (p, c) => (slices.push(c.slice), p) : undefined) },
    });
    const uniform = unet.forward(x, 10, ehs, {
      attention: { hooks: (ctx) => (ctx.kind === 'cross' ? (p) => tf.fill(p.shape, 1 / p.shape[3]) as tf.Tensor4D : undefined) },
    });
    expect(slices).toEqual([0, 1].flatMap((h) => [[0, 20], [20, 40], [40, 60], [60, 64]].map((q) => ({ heads: [h, h + 1], queries: q }))));
    expectClose(identity, plain, { atol: 1e-5, rtol: 1e-5, name: 'identity hook' });
    expect(tf.tidy(() => tf.max(tf.abs(tf.sub(uniform, plain))).dataSync()[0]!)).toBeGreaterThan(1e-3);
    tf.dispose([x, ehs, plain, identity, uniform]);
  });

  it('a processor replaces the kernel: the batched reference gives the same output, on a non-square odd latent', () => {
    const [x, ehs] = inputs(1, 9, 13, 7);
    const shapes: number[][] = [];
    const reference: AttentionProcessor = (q, k, v, call) => {
      shapes.push([...q.shape, k.shape[1]]);
      return referenceAttention(q, k, v, { heads: call.ctx.heads, scale: call.scale });
    };
    const a = unet.forward(x, [321.5], ehs);
    const b = unet.forward(x, tf.scalar(321.5), ehs, { attention: { processor: reference } });
    expect(a.shape).toEqual([1, 9, 13, 4]);
    expect(shapes[0]).toEqual([1, 117, 16, 117]);
    expect(shapes[1]).toEqual([1, 117, 16, 7]);
    expectClose(b, a, { atol: 1e-5, rtol: 1e-5, name: 'reference processor' });
    tf.dispose([x, ehs, a, b]);
  });

  it('is differentiable w.r.t. the encoder hidden states (directional finite difference)', () => {
    const [x, ehs] = inputs(1, 4, 4, 3);
    const r = tf.randomNormal([1, 4, 4, 4], 0, 1, 'float32', 8);
    const dir = tf.randomNormal(ehs.shape, 0, 1, 'float32', 7);
    const loss = (e: tf.Tensor) => tf.sum(tf.mul(unet.forward(x, 50, e as tf.Tensor3D), r)) as tf.Scalar;
    const g = tf.grad(loss)(ehs);
    const analytic = tf.sum(tf.mul(g, dir)).dataSync()[0]!;
    const h = 1e-2;
    const at = (s: number) => tf.tidy(() => loss(tf.add(ehs, tf.mul(dir, s))).dataSync()[0]!);
    const fd = (at(h) - at(-h)) / (2 * h);
    expect(Math.abs(fd - analytic)).toBeLessThan(1e-2 * Math.abs(fd) + 1e-3);
    tf.dispose([x, ehs, r, dir, g]);
  });

  it('rejects wrongly shaped inputs and rows with typed errors', () => {
    const [x, ehs] = inputs(2, 8, 8);
    const bad3 = tf.zeros([2, 8, 8, 3]) as tf.Tensor4D;
    const badEhs = tf.zeros([2, 5, 10]) as tf.Tensor3D;
    const oneRow = tf.zeros([1, 5, 12]) as tf.Tensor3D;
    expect(() => unet.forward(bad3, 1, ehs)).toThrow(ShapeMismatchError);
    expect(() => unet.forward(bad3, 1, ehs)).toThrow(/"sample" has shape \[2, 8, 8, 3\], expected \[\*, \*, \*, 4\]/);
    expect(() => unet.forward(x, 1, badEhs)).toThrow(/encoderHiddenStates/);
    expect(() => unet.forward(x, 1, oneRow)).toThrow(ShapeMismatchError);
    expect(() => unet.forward(x, [1, 2, 3], ehs)).toThrow(/timestep/);
    expect(() => unet.forward(x, 1, ehs, { rows: [{ role: 'cond', prompt: 0 }] })).toThrow(OptionError);
    tf.dispose([x, ehs, bad3, badEhs, oneRow]);
  });
});

describe('UNet2DConditionModel loading and variants', () => {
  beforeAll(() => initBackend({ backend: 'cpu' }));

  it('names the missing weight and the file', () => {
    const w = randomWeights(TINY);
    w.delete('up_blocks.1.attentions.0.transformer_blocks.0.attn2.to_k.weight');
    const run = () => UNet2DConditionModel.fromWeights(w, TINY, { file: 'unet/diffusion_pytorch_model.safetensors' });
    expect(run).toThrow(MissingWeightError);
    expect(run).toThrow(/"up_blocks\.1\.attentions\.0\.transformer_blocks\.0\.attn2\.to_k\.weight" in unet\/diffusion_pytorch_model\.safetensors/);
  });

  it('rejects a weight of the wrong shape and leftovers', () => {
    const w = randomWeights(TINY);
    w.set('conv_in.weight', { dtype: 'float32', shape: [16, 3, 3, 3], data: new Float32Array(16 * 27) });
    expect(() => UNet2DConditionModel.fromWeights(w, TINY)).toThrow(ShapeMismatchError);
    const extra = randomWeights(TINY);
    extra.set('class_embedding.linear_1.weight', { dtype: 'float32', shape: [1], data: new Float32Array(1) });
    expect(() => UNet2DConditionModel.fromWeights(extra, TINY)).toThrow(/unexpected weight.*class_embedding/);
  });

  it('only_cross_attention: attn1 attends to the encoder states (kind cross, keys = tokens)', () => {
    const cfg: UNet2DConditionConfig = { ...TINY, only_cross_attention: true, use_linear_projection: true };
    const unet = UNet2DConditionModel.fromWeights(randomWeights(cfg, 5), cfg);
    const [x, ehs] = inputs(1, 4, 4, 3);
    const keys: Record<string, number> = {};
    const y = unet.forward(x, 5, ehs, { attention: { hooks: (ctx) => (p) => ((keys[`${ctx.layer}:${ctx.kind}`] = p.shape[3]), p) } });
    expect(keys['down_blocks.0.attentions.0.transformer_blocks.0.attn1:cross']).toBe(3);
    expect(keys['mid_block.attentions.0.transformer_blocks.0.attn1:self']).toBe(4); // the mid block ignores only_cross_attention
    tf.dispose([x, ehs, y]);
    unet.dispose();
  });

});

const nativeEngine = (await import('@semedit/native')).nativeAvailability();

describe.skipIf(!nativeEngine.available)('UNet2DConditionModel with half-width weight storage on native', () => {
  it.each(['fp16', 'bf16'] as const)('%s: every weight matrix and filter halved, output close to fp32 weights, nothing leaked', async (storage) => {
    const halfBytes = (): number => (tf.backend().memory() as unknown as { halfBytes: number }).halfBytes;
    await initBackend({ backend: 'native' });
    const [x, ehs] = inputs(2, 8, 6);
    const weights = randomWeights(TINY);
    const full = UNet2DConditionModel.fromWeights(weights, TINY);
    const want = full.forward(x, 500, ehs);
    full.dispose();
    await initBackend({ backend: 'native', weightStorage: storage });
    try {
      const before = { half: halfBytes(), tensors: tf.memory().numTensors };
      const unet = UNet2DConditionModel.fromWeights(weights, TINY);
      let matrixBytes = 0;
      for (const w of weights.values()) if (w.shape.length >= 2) matrixBytes += w.shape.reduce((a, b) => a * b, 1) * 2;
      expect(halfBytes() - before.half).toBe(matrixBytes);
      const got = unet.forward(x, 500, ehs);
      const [err, scale] = tf.tidy(() => [tf.max(tf.abs(tf.sub(got, want))).dataSync()[0]!, tf.max(tf.abs(want)).dataSync()[0]!]);
      console.log(`${storage} weight storage, tiny UNet: max |error| ${err.toExponential(2)}, max |output| ${scale.toFixed(2)}`);
      // measured here: fp16 3.8e-4, bf16 2.4e-3 (largest output 1.3); bounds about 5x that
      const tol = storage === 'fp16' ? 2e-3 : 1e-2;
      expectClose(got, want, { atol: tol, rtol: tol, name: `${storage} weights` });
      got.dispose();
      const settled = tf.memory().numTensors;
      unet.forward(x, 500, ehs).dispose();
      expect(tf.memory().numTensors).toBe(settled);
      unet.dispose();
      expect(halfBytes()).toBe(before.half);
      expect(tf.memory().numTensors).toBe(before.tensors);
    } finally {
      await initBackend({ backend: 'native' });
      tf.dispose([x, ehs, want]);
    }
  });
});
