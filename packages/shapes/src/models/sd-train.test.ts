/**
 * Training the shapes VAE and CLIP with semedit's own code, briefly: losses are finite and named, the saved
 * folders are read by the ordinary loaders (`loadVae`, `loadClipModel`, `loadClipTextModel`, `loadClipTokenizer`)
 * and give the trained model's outputs (float16 weights), the scores are fractions, nothing leaks.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { loadClipModel, loadClipTextModel, loadClipTokenizer, loadStableDiffusion, loadVae, runTextToImage } from '@semedit/core';
import { ensureGradients } from '@semedit/core/backend';
import { clipTextFeatures } from '@semedit/core/clip';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { shapesBatch } from '../world/dataset.js';
import { clipAttributeAccuracy, saveClip, tokenIds, trainClip } from './clip-train.js';
import { shapesTokenizer, writeShapesTokenizer } from './vocab.js';
import { saveUNet, trainUNet } from './unet-train.js';
import { latentScale, saveVae, trainVae } from './vae-train.js';
import { warmupCosine } from '../train/loop.js';

const dir = mkdtempSync(join(tmpdir(), 'semedit-sd-train-'));
beforeAll(async () => {
  await tf.setBackend('cpu');
  await ensureGradients();
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A VAE small enough to train for a few steps on the cpu backend (16x16 images to 8x8x4 latents). */
const TINY_VAE = {
  block_out_channels: [8, 8], layers_per_block: 1, latent_channels: 4, norm_num_groups: 4, sample_size: 16,
  down_block_types: ['DownEncoderBlock2D', 'DownEncoderBlock2D'], up_block_types: ['UpDecoderBlock2D', 'UpDecoderBlock2D'],
};

const maxDiff = (a: tf.Tensor, b: tf.Tensor): number => {
  const d = tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))));
  const v = d.dataSync()[0]!;
  d.dispose();
  return v;
};

async function finish<T>(run: AsyncGenerator<{ step: number; losses: Record<string, number> }, T>, seen: Record<string, number>[]): Promise<T> {
  let r = await run.next();
  while (!r.done) {
    seen.push(r.value.losses);
    r = await run.next();
  }
  return r.value;
}

describe('shapes models trained with semedit', () => {
  it('the schedule warms up, peaks, and decays to a tenth', () => {
    const f = warmupCosine(1e-3, 1000, 100);
    expect(f(0)).toBeCloseTo(1e-5, 10);
    expect(f(99)).toBeCloseTo(1e-3, 10);
    expect(f(100)).toBeCloseTo(1e-3, 10);
    expect(f(1000)).toBeCloseTo(1e-4, 10);
  });

  it('VAE: a few steps, a latent scale, a diffusers vae/ folder that loadVae reads back', async () => {
    const before = tf.memory().numTensors;
    const config = TINY_VAE;
    const seen: Record<string, number>[] = [];
    const vae = await finish(trainVae({ steps: 3, batch: 2, config, checkpoint: join(dir, 'vae.safetensors'), checkpointEvery: 2 }), seen);
    expect(seen.length).toBe(3);
    for (const l of seen) expect(Object.keys(l).sort()).toEqual(['kl', 'l1']);
    for (const l of seen) expect(Number.isFinite(l.l1! + l.kl!)).toBe(true);
    const scale = latentScale(vae, 8, 5, 16);
    expect(scale).toBeGreaterThan(0);
    await saveVae(join(dir, 'vae'), vae, scale, config);
    expect(JSON.parse(readFileSync(join(dir, 'vae', 'config.json'), 'utf8')).scaling_factor).toBeCloseTo(scale, 4);
    const loaded = await loadVae(join(dir, 'vae'));
    const b = shapesBatch(9, 0, 2, { size: 16 });
    const want = tf.tidy(() => vae.decode(vae.encode(b.images).mean));
    const got = tf.tidy(() => loaded.decode(loaded.encode(b.images).mean));
    expect(maxDiff(got, want)).toBeLessThan(2e-2);
    tf.dispose([want, got]);
    b.dispose();
    loaded.dispose();
    vae.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });

  it('CLIP: a few steps, scores in [0, 1], an HF folder with its tokenizer and a text_encoder/ that load back', async () => {
    const before = tf.memory().numTensors;
    const seen: Record<string, number>[] = [];
    const clip = await finish(trainClip({ steps: 2, batch: 4, hardNegatives: true }), seen);
    expect(seen.map((l) => Object.keys(l))).toEqual([['contrastive'], ['contrastive']]);
    expect(seen.every((l) => l.contrastive! > 0 && Number.isFinite(l.contrastive!))).toBe(true);
    const tok = shapesTokenizer();
    const scores = clipAttributeAccuracy(clip, tok, 4);
    expect(Object.keys(scores).sort()).toEqual(['background', 'colour', 'position', 'shape', 'size']);
    for (const v of Object.values(scores)) expect(v >= 0 && v <= 1).toBe(true);
    await saveClip(join(dir, 'clip'), clip, join(dir, 'text_encoder'));
    const loadedTok = await loadClipTokenizer(join(dir, 'clip'));
    const prompt = 'a big red circle on the left on a blue background';
    expect(loadedTok.encode(prompt).ids).toEqual(tok.encode(prompt).ids);
    const loaded = await loadClipModel(join(dir, 'clip'));
    const ids = tokenIds(tok, [prompt]);
    const want = tf.tidy(() => clipTextFeatures(clip.params, clip.config, ids));
    const got = tf.tidy(() => clipTextFeatures(loaded.params, loaded.config, ids));
    const peak = tf.tidy(() => tf.max(tf.abs(want)));
    expect(maxDiff(got, want)).toBeLessThan(2e-2 * Math.max(1, peak.dataSync()[0]!));
    peak.dispose();
    const text = await loadClipTextModel(join(dir, 'text_encoder'));
    expect(text.config.maxPositionEmbeddings).toBe(loaded.config.text.maxPositionEmbeddings);
    tf.dispose([want, got]);
    text.dispose();
    loaded.dispose();
    clip.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });

  it('UNet: a few steps on the VAE latents and the frozen text tower; the folder is a pipeline loadStableDiffusion runs', async () => {
    const before = tf.memory().numTensors;
    const vaeConfig = TINY_VAE;
    const sd = join(dir, 'sd');
    const vae = await finish(trainVae({ steps: 0, config: vaeConfig }), []);
    await saveVae(join(sd, 'vae'), vae, 1, vaeConfig);
    const clip = await finish(trainClip({ steps: 0 }), []);
    await saveClip(join(dir, 'clip0'), clip, join(sd, 'text_encoder'));
    clip.dispose();
    await writeShapesTokenizer(join(sd, 'tokenizer'));
    const textEncoder = await loadClipTextModel(join(sd, 'text_encoder'));
    const config = {
      sample_size: 8, in_channels: 4, out_channels: 4, block_out_channels: [8, 16], layers_per_block: 1, cross_attention_dim: 64, attention_head_dim: 2,
      norm_num_groups: 4, down_block_types: ['CrossAttnDownBlock2D', 'DownBlock2D'], up_block_types: ['UpBlock2D', 'CrossAttnUpBlock2D'],
    };
    const seen: Record<string, number>[] = [];
    const unet = await finish(trainUNet({ steps: 2, batch: 3, vae, textEncoder, tokenizer: shapesTokenizer(), config, imageSize: 16 }), seen);
    expect(seen.map((l) => Object.keys(l))).toEqual([['mse'], ['mse']]);
    expect(seen.every((l) => l.mse! > 0 && Number.isFinite(l.mse!))).toBe(true);
    await saveUNet(sd, unet, config);
    const pipe = await loadStableDiffusion(sd);
    const out = await runTextToImage(pipe, { prompt: 'a big red circle on the left on a blue background', numInferenceSteps: 2, height: 16, width: 16, seed: 1 });
    expect(out.images.shape).toEqual([1, 16, 16, 3]);
    tf.dispose([out.images, out.latents]);
    pipe.dispose();
    unet.dispose();
    textEncoder.dispose();
    vae.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });
});
