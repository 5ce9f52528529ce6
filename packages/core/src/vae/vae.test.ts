/**
 * The VAE on small random models (no fixture): legacy key normalization (old attention names, 1×1 conv
 * kernels), config validation, shapes for odd sizes, the posterior's closed-form relations, typed errors, and
 * no leaked tensors.
 */
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../backend/index.js';
import { InvalidConfigError, MissingWeightError, ShapeMismatchError, UnsupportedConfigError } from '../errors.js';
import { RenameCollisionError } from '../io/strict.js';
import type { RawTensor } from '../io/types.js';
import { expectClose } from '../testing/index.js';
import { resolveVaeConfig, type AutoencoderKLConfig } from './config.js';
import { normalizeVaeKeys, vaeWeightShapes } from './params.js';
import { AutoencoderKL } from './vae.js';

const TINY: AutoencoderKLConfig = { block_out_channels: [8, 16], down_block_types: ['DownEncoderBlock2D', 'DownEncoderBlock2D'], up_block_types: ['UpDecoderBlock2D', 'UpDecoderBlock2D'], norm_num_groups: 4, latent_channels: 4 };

function randomWeights(cfg: AutoencoderKLConfig, seed = 1): Map<string, RawTensor> {
  let s = seed >>> 0;
  const rand = () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32) * 2 - 1;
  const out = new Map<string, RawTensor>();
  for (const [key, shape] of Object.entries(vaeWeightShapes(resolveVaeConfig(cfg)))) {
    const fan = shape.length > 1 ? shape.slice(1).reduce((a, b) => a * b, 1) : 1;
    const norm = /norm\d?\.weight$|norm_out\.weight$|group_norm\.weight$/.test(key);
    out.set(key, { dtype: 'float32', shape, data: Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => (norm ? 1 : 0) + rand() / Math.sqrt(fan)) });
  }
  return out;
}

describe('VAE config and keys', () => {
  it('resolves diffusers defaults and the scaling factor', () => {
    const cfg = resolveVaeConfig({});
    expect([cfg.blockOutChannels, cfg.layersPerBlock, cfg.latentChannels, cfg.scalingFactor, cfg.useQuantConv]).toEqual([[64], 1, 4, 0.18215, true]);
    // The SD VAE (block_out_channels [128, 256, 512, 512], 2 layers): 248 tensors, 83,653,863 parameters (published count).
    const sd = vaeWeightShapes(resolveVaeConfig({ block_out_channels: [128, 256, 512, 512], layers_per_block: 2 }));
    expect([Object.keys(sd).length, Object.values(sd).reduce((n, sh) => n + sh.reduce((x, y) => x * y, 1), 0)]).toEqual([248, 83_653_863]);
  });

  it.each([
    [{ latents_mean: [0, 0, 0, 0] }, UnsupportedConfigError, /latents_mean/],
    [{ up_block_types: ['AttnUpDecoderBlock2D'] }, UnsupportedConfigError, /AttnUpDecoderBlock2D/],
    [{ foo: 1 }, UnsupportedConfigError, /foo \(unknown key\)/],
    [{ block_out_channels: [8, 16], down_block_types: ['DownEncoderBlock2D'] }, InvalidConfigError, /down_block_types/],
    [{ block_out_channels: [10] }, InvalidConfigError, /norm_num_groups/],
  ] as const)('rejects %o', (json, type, message) => {
    expect(() => resolveVaeConfig(json as AutoencoderKLConfig)).toThrow(type);
    expect(() => resolveVaeConfig(json as AutoencoderKLConfig)).toThrow(message);
  });

  it('renames old attention keys and flattens 1x1 attention kernels; a duplicate after renaming is an error', () => {
    const w: RawTensor = { dtype: 'float32', shape: [4, 4, 1, 1], data: new Float32Array(16) };
    const b: RawTensor = { dtype: 'float32', shape: [4], data: new Float32Array(4) };
    const out = normalizeVaeKeys(new Map([
      ['decoder.mid_block.attentions.0.query.weight', w], ['decoder.mid_block.attentions.0.proj_attn.bias', b], ['decoder.conv_in.weight', w],
    ]));
    expect([...out].map(([k, v]) => [k, v.shape])).toEqual([
      ['decoder.mid_block.attentions.0.to_q.weight', [4, 4]], ['decoder.mid_block.attentions.0.to_out.0.bias', [4]], ['decoder.conv_in.weight', [4, 4, 1, 1]],
    ]);
    expect(() => normalizeVaeKeys(new Map([['encoder.mid_block.attentions.0.key.bias', b], ['encoder.mid_block.attentions.0.to_k.bias', b]]))).toThrow(RenameCollisionError);
  });
});

describe.each([
  { label: 'default backend', init: () => initBackend() },
  { label: 'cpu', init: () => initBackend({ backend: 'cpu' }) },
])('AutoencoderKL (random tiny model) on $label', ({ init }) => {
  let vae: AutoencoderKL;
  beforeAll(async () => {
    await init();
    vae = AutoencoderKL.fromWeights(randomWeights(TINY), TINY);
  });

  it('encodes odd sizes to floor(H/2) latents, with sample = mean + std · noise and std = exp(logvar / 2)', () => {
    const image = tf.randomUniform([2, 9, 7, 3], -1, 1, 'float32', 2) as tf.Tensor4D;
    const noise = tf.randomNormal([2, 4, 3, 4], 0, 1, 'float32', 3) as tf.Tensor4D;
    const before = tf.memory().numTensors;
    const p = vae.encode(image, { noise });
    expect(p.mean.shape).toEqual([2, 4, 3, 4]);
    tf.tidy(() => {
      expectClose(p.std, tf.exp(tf.mul(p.logvar, 0.5)), { atol: 1e-6, rtol: 1e-6, name: 'std' });
      expectClose(p.sample!, tf.add(p.mean, tf.mul(p.std, noise)), { atol: 1e-6, rtol: 1e-6, name: 'sample' });
    });
    const img = vae.decode(p.mean);
    expect(img.shape).toEqual([2, 8, 6, 3]);
    tf.dispose([p.mean, p.logvar, p.std, p.sample!, img]);
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([image, noise]);
  });

  it('rejects wrongly shaped images, noise and latents', () => {
    const image = tf.zeros([1, 8, 8, 3]) as tf.Tensor4D;
    expect(() => vae.encode(tf.zeros([1, 8, 8, 4]) as tf.Tensor4D)).toThrow(ShapeMismatchError);
    expect(() => vae.encode(image, { noise: tf.zeros([1, 4, 4, 3]) as tf.Tensor4D })).toThrow(/"noise"/);
    expect(() => vae.decode(tf.zeros([1, 4, 4, 3]) as tf.Tensor4D)).toThrow(/"latents" has shape \[1, 4, 4, 3\], expected \[\*, \*, \*, 4\]/);
    image.dispose();
  });
});

describe('AutoencoderKL loading', () => {
  beforeAll(() => initBackend({ backend: 'cpu' }));
  it('names a missing weight and the file', () => {
    const w = randomWeights(TINY);
    w.delete('decoder.up_blocks.0.upsamplers.0.conv.weight');
    expect(() => AutoencoderKL.fromWeights(w, TINY, { file: 'vae/diffusion_pytorch_model.safetensors' })).toThrow(MissingWeightError);
    expect(() => AutoencoderKL.fromWeights(w, TINY, { file: 'vae/x.safetensors' })).toThrow(/decoder\.up_blocks\.0\.upsamplers\.0\.conv\.weight" in vae\/x\.safetensors/);
  });
});
