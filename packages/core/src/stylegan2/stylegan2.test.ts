/**
 * StyleGAN2 configs, layer plan, input validation and noise modes, on small random generators (no fixtures):
 * unknown keys and unsupported settings are typed errors, the FFHQ-1024 plan matches stylegan2-ada's formula and
 * StyleSpace's published size (26 layers, 9088 channels), wrong latent / style / noise shapes are
 * ShapeMismatchErrors, and nothing leaks.
 */
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../backend/index.js';
import { OptionError, ShapeMismatchError, UnknownConfigKeyError, UnsupportedConfigError } from '../errors.js';
import { createGenerator } from '../random.js';
import { flattenNvlabsKwargs, resolveStyleGan2Config, rosinalityToConfig, type StyleGan2Config } from './config.js';
import type { StyleGan2 } from './generator.js';
import { nvlabsGeneratorFromTensors } from './load-nvlabs.js';
import { randomNvlabsWeights } from './random-weights.js';
import { styleLayers } from './style-space.js';

describe('StyleGAN2 config', () => {
  it('rejects unknown keys, flat and nested, naming each', () => {
    expect(() => resolveStyleGan2Config({ z_dim: 8, w_dim: 8, img_resolution: 8, channel_bsae: 4 } as StyleGan2Config)).toThrow(UnknownConfigKeyError);
    expect(() => flattenNvlabsKwargs({ z_dim: 8, w_dim: 8, img_resolution: 8, mapping_kwargs: { num_layer: 2 }, extra: 1 }))
      .toThrow(/unknown keys "mapping_kwargs\.num_layer", "extra"/);
    expect(() => rosinalityToConfig({ size: 8, style_dim: 8, n_mlp: 2, latent: 8 } as never)).toThrow(UnknownConfigKeyError);
  });

  it('rejects unsupported architectures and bad values', () => {
    expect(() => resolveStyleGan2Config({ z_dim: 8, w_dim: 8, img_resolution: 8, architecture: 'resnet' })).toThrow(UnsupportedConfigError);
    expect(() => resolveStyleGan2Config({ z_dim: 8, w_dim: 8, img_resolution: 48 })).toThrow(/power of two/);
    expect(() => resolveStyleGan2Config({ z_dim: 8, w_dim: 8, img_resolution: 8, conv_clamp: -1 })).toThrow(/conv_clamp/);
  });

  it('derives the FFHQ-1024 plan (stylegan2-ada channel formula, StyleSpace: 26 layers, 9088 channels)', () => {
    const cfg = resolveStyleGan2Config(flattenNvlabsKwargs({
      z_dim: 512, w_dim: 512, c_dim: 0, img_resolution: 1024, img_channels: 3,
      mapping_kwargs: { num_layers: 8 }, synthesis_kwargs: { channel_base: 32768, channel_max: 512, num_fp16_res: 4, conv_clamp: 256 },
    }));
    expect(cfg.numWs).toBe(18);
    expect(cfg.blockChannels).toEqual([512, 512, 512, 512, 512, 256, 128, 64, 32]);
    const layers = styleLayers(cfg);
    expect(layers.length).toBe(26);
    expect(layers.reduce((a, l) => a + l.channels, 0)).toBe(9088);
    expect(layers.filter((l) => l.kind === 'conv' && l.index <= 16).reduce((a, l) => a + l.channels, 0)).toBe(5376); // StyleCLIP's global-direction channels
    expect(layers.at(-1)).toMatchObject({ name: 'synthesis.b1024.torgb', rosinalityName: 'to_rgbs.7', wIndex: 17 });
    // rosinality's table gives the same widths for channel_multiplier 2
    expect(resolveStyleGan2Config(rosinalityToConfig({ size: 1024, style_dim: 512, n_mlp: 8 })).blockChannels).toEqual(cfg.blockChannels);
  });
});

describe('StyleGAN2 generator on random weights', () => {
  const flat: StyleGan2Config = { z_dim: 16, w_dim: 16, img_resolution: 16, channel_base: 256, channel_max: 32, num_layers: 2, conv_clamp: 0.5 };
  let G: StyleGan2;
  beforeAll(async () => {
    await initBackend();
    G = nvlabsGeneratorFromTensors(randomNvlabsWeights(resolveStyleGan2Config(flat), 3, { noiseStrength: 0.5 }), flat);
  });
  afterAll(() => G.dispose());

  it('rejects wrong latent, style and noise shapes with ShapeMismatchError', () => {
    const before = tf.memory().numTensors;
    const bad: (() => unknown)[] = [
      () => G.mapping(tf.zeros([2, 15]) as tf.Tensor2D),
      () => G.mapping(tf.zeros([2, 3, 16]) as unknown as tf.Tensor2D),
      () => G.synthesis(tf.zeros([2, 5, 16]) as tf.Tensor3D),
      () => G.synthesis(tf.zeros([2, 6, 8]) as tf.Tensor3D),
      () => G.styles(tf.zeros([6, 16]) as unknown as tf.Tensor3D),
      () => G.synthesisFromStyles(G.styles(tf.zeros([2, 6, 16]) as tf.Tensor3D).slice(1)),
      () => G.synthesisFromStyles(G.styles(tf.zeros([2, 6, 16]) as tf.Tensor3D).map((s, i) => (i === 3 ? tf.zeros([1, s.shape[1]]) as tf.Tensor2D : s))),
      () => G.synthesis(tf.zeros([2, 6, 16]) as tf.Tensor3D, { noise: [tf.zeros([1, 4, 4])] }),
      () => G.splitStyles(tf.zeros([2, 7]) as tf.Tensor2D),
    ];
    for (const f of bad) expect(() => tf.tidy(() => void f())).toThrow(ShapeMismatchError);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('clamps with conv_clamp, follows the noise modes, and needs a generator for random noise', () => {
    const before = tf.memory().numTensors;
    tf.tidy(() => {
      const ws = G.mapping(tf.randomNormal([2, 16], 0, 1, 'float32', 1) as tf.Tensor2D);
      const img = G.synthesis(ws);
      expect(img.shape).toEqual([2, 16, 16, 3]);
      // every ToRGB output is clamped to ±0.5 and upsample2d preserves bounds (each output phase sums to 1): |img| ≤ 4 · 0.5
      expect(tf.max(tf.abs(img)).dataSync()[0]).toBeLessThanOrEqual(4 * 0.5 + 1e-5);
      const none = G.synthesis(ws, { noiseMode: 'none' });
      expect(tf.max(tf.abs(tf.sub(img, none))).dataSync()[0]).toBeGreaterThan(0);
      const r1 = G.synthesis(ws, { noiseMode: 'random', generator: createGenerator(7) });
      const r2 = G.synthesis(ws, { noiseMode: 'random', generator: createGenerator(7) });
      expect(tf.max(tf.abs(tf.sub(r1, r2))).dataSync()[0]).toBe(0);
      expect(() => G.synthesis(ws, { noiseMode: 'random' })).toThrow(OptionError);
      // explicit zero noise everywhere equals noise mode none
      const zeros = G.styleLayers.filter((l) => l.kind === 'conv').map((l) => tf.zeros([1, l.resolution, l.resolution, 1]));
      expect(tf.max(tf.abs(tf.sub(G.synthesis(ws, { noise: zeros }), none))).dataSync()[0]).toBe(0);
      // S round trip: concat then split gives the same image
      const s = G.styles(ws);
      const back = G.synthesisFromStyles(G.splitStyles(G.concatStyles(s)));
      expect(tf.max(tf.abs(tf.sub(back, img))).dataSync()[0]).toBe(0);
    });
    expect(tf.memory().numTensors).toBe(before);
  });

  it('truncation: psi 0 gives w_avg on the truncated rows only', () => {
    tf.tidy(() => {
      const z = tf.randomNormal([2, 16], 0, 1, 'float32', 2) as tf.Tensor2D;
      const full = G.mapping(z).arraySync();
      const t = G.mapping(z, { truncationPsi: 0, truncationCutoff: 2 }).arraySync();
      const avg = Array.from(G.wAvg!.dataSync());
      expect(t[0]![0]).toEqual(avg);
      expect(t[1]![1]).toEqual(avg);
      expect(t[0]![2]).toEqual(full[0]![2]);
    });
  });
});
