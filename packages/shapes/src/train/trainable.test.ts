/**
 * Trainable parameter trees and the way back to upstream checkpoints: a model built from fresh weights, made
 * trainable, changed, and written with `checkpointOf` loads through semedit's ordinary loaders (`loadVae`,
 * `loadUNet` with its GEGLU halves joined back, `loadClipModel` / `loadClipTextModel`) and gives the same outputs.
 * Fresh weights follow their init rules; gradients reach every variable; nothing leaks.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { AutoencoderKL, ClipModel, createGenerator, loadClipModel, loadClipTextModel, loadUNet, loadVae, MissingWeightError, UNet2DConditionModel } from '@semedit/core';
import { ensureGradients } from '@semedit/core/backend';
import { buildClipModelParams, clipTextExpectedShapes, clipVisionExpectedShapes, resolveClipConfig, type CLIPConfig } from '@semedit/core/clip';
import { writeSafetensors } from '@semedit/core/io';
import { resolveUNetConfig, unetWeightShapes, type UNet2DConditionConfig } from '@semedit/core/unet';
import { resolveVaeConfig, vaeWeightShapes, type AutoencoderKLConfig } from '@semedit/core/vae';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkpointOf, defaultInit, initWeights, leavesByPath, makeTrainable, type WeightShapes } from './trainable.js';

const dir = mkdtempSync(join(tmpdir(), 'semedit-trainable-'));
beforeAll(async () => {
  await tf.setBackend('cpu');
  await ensureGradients();
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Moves every variable off its initial value (seeded), as training would. */
function perturb(vars: Map<string, tf.Variable>, seed: number): void {
  const g = createGenerator(seed);
  for (const v of vars.values()) {
    const next = tf.tidy(() => tf.add(v, tf.tensor(g.normal(v.size), v.shape).mul(0.05)));
    v.assign(next);
    next.dispose();
  }
}

async function save(folder: string, tensors: ReturnType<typeof checkpointOf>, file: string, config: object): Promise<string> {
  const d = join(dir, folder);
  const { mkdirSync } = await import('node:fs');
  mkdirSync(d, { recursive: true });
  await writeSafetensors(join(d, file), tensors, { format: 'pt' });
  writeFileSync(join(d, 'config.json'), JSON.stringify(config));
  return d;
}

const maxDiff = (a: tf.Tensor, b: tf.Tensor): number => {
  const d = tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))));
  const v = d.dataSync()[0]!;
  d.dispose();
  return v;
};
const x4 = (shape: number[], seed: number): tf.Tensor4D => tf.tensor4d(createGenerator(seed).normal(shape.reduce((a, b) => a * b, 1)), shape as [number, number, number, number]);

describe('trainable trees round-trip through the ordinary loaders', () => {
  it('VAE: fresh weights, trained, saved, loaded by loadVae: same reconstruction', async () => {
    const json: AutoencoderKLConfig = { block_out_channels: [8, 16], layers_per_block: 1, latent_channels: 2, norm_num_groups: 4, down_block_types: ['DownEncoderBlock2D', 'DownEncoderBlock2D'], up_block_types: ['UpDecoderBlock2D', 'UpDecoderBlock2D'] };
    const cfg = resolveVaeConfig(json);
    const before = tf.memory().numTensors;
    const vae = AutoencoderKL.fromWeights(initWeights(vaeWeightShapes(cfg), 3), cfg);
    const vars = makeTrainable(vae.params, 'vae');
    expect(vars.size).toBe(Object.keys(vaeWeightShapes(cfg)).length);
    expect([...vars.values()].every((v) => v instanceof tf.Variable && v.trainable)).toBe(true);
    perturb(vars, 4);
    const img = x4([1, 8, 8, 3], 5);
    const want = tf.tidy(() => vae.decode(vae.encode(img).mean));
    const d = await save('vae', checkpointOf(vars, vaeWeightShapes(cfg), 'float32'), 'diffusion_pytorch_model.safetensors', json);
    const loaded = await loadVae(d);
    const got = tf.tidy(() => loaded.decode(loaded.encode(img).mean));
    expect(maxDiff(got, want)).toBeLessThan(1e-5);
    // A gradient reaches every variable.
    const { value, grads } = tf.variableGrads(() => tf.mean(tf.square(vae.decode(vae.encode(img).mean))) as tf.Scalar, [...vars.values()]);
    expect(Object.keys(grads).length).toBe(vars.size);
    tf.dispose([value, ...Object.values(grads), want, got, img]);
    loaded.dispose();
    vae.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });

  it('UNet (cross-attention, GEGLU split at load and joined back): same noise prediction through loadUNet', async () => {
    const json: UNet2DConditionConfig = {
      sample_size: 8, in_channels: 4, out_channels: 4, block_out_channels: [8, 16], layers_per_block: 1, cross_attention_dim: 12, attention_head_dim: 2,
      norm_num_groups: 4, down_block_types: ['CrossAttnDownBlock2D', 'DownBlock2D'], up_block_types: ['UpBlock2D', 'CrossAttnUpBlock2D'],
    };
    const cfg = resolveUNetConfig(json);
    const before = tf.memory().numTensors;
    const unet = UNet2DConditionModel.fromWeights(initWeights(unetWeightShapes(cfg), 6), cfg);
    const vars = makeTrainable(unet.params, 'unet');
    expect([...vars.keys()].some((k) => k.endsWith('.ff.net.0.proj.gate.weight'))).toBe(true);
    perturb(vars, 7);
    const x = x4([2, 8, 8, 4], 8);
    const ehs = tf.tensor3d(createGenerator(9).normal(2 * 5 * 12), [2, 5, 12]);
    const want = unet.forward(x, [10, 500], ehs);
    const d = await save('unet', checkpointOf(vars, unetWeightShapes(cfg) as WeightShapes, 'float32'), 'diffusion_pytorch_model.safetensors', json);
    const loaded = await loadUNet(d);
    const got = loaded.forward(x, [10, 500], ehs);
    expect(maxDiff(got, want)).toBeLessThan(1e-4);
    tf.dispose([want, got, x, ehs]);
    loaded.dispose();
    unet.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });

  it('CLIP: both towers through loadClipModel, the text tower alone through loadClipTextModel; float16 within half precision', async () => {
    const json: CLIPConfig = {
      model_type: 'clip',
      projection_dim: 8,
      text_config: { vocab_size: 40, hidden_size: 16, intermediate_size: 32, num_hidden_layers: 2, num_attention_heads: 2, max_position_embeddings: 8, eos_token_id: 39, bos_token_id: 38 },
      vision_config: { hidden_size: 16, intermediate_size: 32, num_hidden_layers: 1, num_attention_heads: 2, image_size: 8, patch_size: 4 },
    };
    const cfg = resolveClipConfig(json);
    const shapes = { ...clipTextExpectedShapes(cfg.text, cfg.projectionDim), ...clipVisionExpectedShapes(cfg.vision, cfg.projectionDim), logit_scale: [] } as WeightShapes;
    const weights = initWeights(shapes, 1, (k) => (k === 'logit_scale' ? { kind: 'ones' } : undefined));
    const model = new ClipModel(cfg, buildClipModelParams(weights, cfg).params);
    const vars = makeTrainable(model.params, 'clip');
    perturb(vars, 2);
    const ids = [[38, 5, 7, 39, 39, 39, 39, 39], [38, 9, 39, 39, 39, 39, 39, 39]];
    const px = x4([2, 8, 8, 3], 3);
    const want = model.forward(ids, px).logitsPerImage.dataSync();
    const d = await save('clip', checkpointOf(leavesByPath(model.params), shapes), 'model.safetensors', json);
    const loaded = await loadClipModel(d);
    const out = loaded.forward(ids, px);
    const got = out.logitsPerImage.dataSync();
    want.forEach((w, i) => expect(Math.abs(got[i]! - w)).toBeLessThan(2e-2 * Math.max(1, Math.abs(w))));
    const text = await save('text', checkpointOf(leavesByPath(model.params), clipTextExpectedShapes(cfg.text, false) as WeightShapes), 'model.safetensors', { ...json.text_config });
    const tm = await loadClipTextModel(text);
    expect(tm.config.hiddenSize).toBe(16);
    tm.dispose();
    tf.dispose(Object.values(out));
    loaded.dispose();
    model.dispose();
    px.dispose();
  });

  it('initialisation rules, and a missing variable is a MissingWeightError naming the key', () => {
    expect(defaultInit('a.norm1.weight', [8])).toEqual({ kind: 'ones' });
    expect(defaultInit('a.bias', [8])).toEqual({ kind: 'zeros' });
    expect(defaultInit('text_model.embeddings.token_embedding.weight', [40, 16])).toEqual({ kind: 'normal', std: 0.02 });
    expect(defaultInit('conv_in.weight', [8, 4, 3, 3])).toEqual({ kind: 'uniform' });
    const w = initWeights({ 'conv.weight': [4, 2, 3, 3], 'conv.bias': [4] }, 1).get('conv.weight')!;
    const bound = 1 / Math.sqrt(2 * 9);
    expect(Math.max(...Array.from(w.data as Float32Array, Math.abs))).toBeLessThanOrEqual(bound);
    expect(Math.max(...Array.from(w.data as Float32Array, Math.abs))).toBeGreaterThan(bound / 2);
    expect(initWeights({ 'conv.weight': [4, 2, 3, 3] }, 1).get('conv.weight')!.data).toEqual(initWeights({ 'conv.weight': [4, 2, 3, 3] }, 1).get('conv.weight')!.data);
    expect(() => checkpointOf(new Map(), { 'conv.weight': [4, 2, 3, 3] })).toThrow(MissingWeightError);
  });
});
