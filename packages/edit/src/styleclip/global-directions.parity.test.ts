/**
 * StyleCLIP global directions against styleclip-global-tiny: every fixture.json check (style statistics, styles,
 * images, CLIP image features, the per-channel features fs — through the resumable cache —, fs3, the text
 * direction, the relevance, ds_imp / boundary / edited images per beta, and the exact channel counts), on the
 * tiny NVLabs generator and the tiny CLIP of the fixture's components, on the default backend.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { mkdtemp, readFile, rm, stat, truncate } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { initBackend } from '@semedit/core/backend';
import { loadOpenAiClip, type ClipModel } from '@semedit/core/clip';
import { readCheckpoint, type RawTensor } from '@semedit/core/io';
import { compareArrays, nchwToNhwc, readManifest, type FixtureCheck } from '@semedit/core/testing';
import { channelFeatures, styleStatistics, type StyleSpaceGenerator } from './channel-features.js';
import { clipImageInput } from './clip-loss.js';
import {
  applyGlobalDirection, channelDirections, channelRelevance, globalBoundary, manipulatedLayers, textDirection, type StyleSpaceLayout,
} from './global-directions.js';
import { styleSpaceGenerator, type StyleGan2Like } from './stylespace.js';

const m = readManifest('styleclip-global-tiny');
const meta = JSON.parse(await readFile(m.files['meta']!, 'utf8')) as {
  style_order: string[]; style_dims: number[]; betas: number[]; num_channels_selected: number[]; alpha_single_channel: number;
  alpha_edit: number; noise_mode: 'const'; truncation_psi: number;
  'manipulated_layers(non-ToRGB, order of fs/fs3/relevance rows)': string[];
};
const genDir = m.components['generator']!;
const clipDir = m.components['clip']!;
const report: string[] = [];
afterAll(() => console.log(`styleclip global directions parity, max |a-e|:\n${report.join('\n')}`));

// The generator module is @semedit/core's stylegan2 (loaded by path until the package exports a subpath for it).
const stylegan2Module = '@semedit/core/stylegan2';
const { loadNvlabsGenerator } = (await import(stylegan2Module)) as {
  loadNvlabsGenerator(path: string, opts: { kwargs: unknown }): Promise<StyleGan2Like & { dispose(): void }>;
};

function nhwc(data: Float32Array, shape: readonly number[]): tf.Tensor4D {
  const [n, c, h, w] = shape as [number, number, number, number];
  return tf.tensor4d(nchwToNhwc(data, shape), [n, h, w, c]);
}

function rows(raw: RawTensor): number[][] {
  const [b, l] = raw.shape as [number, number];
  const flat = Array.from(raw.data as Int32Array, Number);
  return Array.from({ length: b }, (_, i) => flat.slice(i * l, (i + 1) * l));
}

describe(`${m.id}`, () => {
  let t: Map<string, RawTensor>;
  let G: StyleGan2Like & { dispose(): void };
  let gen: StyleSpaceGenerator;
  let clip: ClipModel;
  let dir = '';
  let backend = '';
  const got = new Map<string, { data: Float32Array; shape: number[] }>();
  const tensor = (name: string) => tf.tensor(t.get(name)!.data as Float32Array, t.get(name)!.shape);

  beforeAll(async () => {
    backend = (await initBackend()).name;
    dir = await mkdtemp(join(tmpdir(), 'semedit-global-'));
    t = (await readCheckpoint(m.files['tensors']!)).tensors;
    const cfg = JSON.parse(await readFile(join(genDir, 'config.json'), 'utf8')) as { kwargs: unknown };
    G = await loadNvlabsGenerator(join(genDir, 'generator.safetensors'), { kwargs: cfg.kwargs });
    gen = styleSpaceGenerator(G, { noiseMode: meta.noise_mode });
    clip = await loadOpenAiClip(join(clipDir, 'clip.safetensors'));
  });
  afterAll(async () => {
    G.dispose();
    clip.dispose();
    await rm(dir, { recursive: true, force: true });
  });

  it(`${m.id}: the style layout and the manipulated layers are meta.json's`, () => {
    expect(gen.layers.map((l) => l.name)).toEqual(meta.style_order);
    expect(gen.layers.map((l) => l.dim)).toEqual(meta.style_dims);
    expect(manipulatedLayers(gen.layers).map((i) => gen.layers[i]!.name)).toEqual(meta['manipulated_layers(non-ToRGB, order of fs/fs3/relevance rows)']);
  });

  it(`${m.id}: statistics, styles, images and CLIP features (the fs step through a resumed cache file)`, async () => {
    const z = tensor('z_stats') as tf.Tensor2D;
    const stats = styleStatistics(gen, z, { truncationPsi: meta.truncation_psi, batchSize: 48 });
    z.dispose();
    got.set('code_mean', { data: stats.mean, shape: [stats.mean.length] });
    got.set('code_std', { data: stats.std, shape: [stats.std.length] });
    const zImg = tensor('z_img') as tf.Tensor2D;
    const styles = tf.tidy(() => gen.stylesFromWPlus(gen.mapping(zImg, meta.truncation_psi)));
    const img = tf.tidy(() => gen.synthesizeStyles(styles));
    const feats = tf.tidy(() => clip.getImageFeatures(clipImageInput(clip, img, { variant: 'clip' })));
    got.set('styles_img', { data: styles.dataSync() as Float32Array, shape: styles.shape });
    got.set('img', { data: img.dataSync() as Float32Array, shape: img.shape });
    got.set('image_features_img', { data: feats.dataSync() as Float32Array, shape: feats.shape });
    // First manipulated channel at ∓α, as [n_img, 2, H, W, 3].
    const c0 = gen.layers.findIndex((l) => !l.toRgb);
    const offset = gen.layers.slice(0, c0).reduce((n, l) => n + l.dim, 0);
    const single = tf.tidy(() => {
      const variants = [-1, 1].map((sign) => {
        const v = stats.mean[offset]! + sign * meta.alpha_single_channel * stats.std[offset]!;
        const mask = tf.oneHot([offset], styles.shape[1]).reshape([1, -1]);
        return gen.synthesizeStyles(tf.add(tf.mul(styles, tf.sub(1, mask)), tf.mul(mask, v)));
      });
      return tf.stack(variants, 1);
    });
    got.set('img_single_channel0', { data: single.dataSync() as Float32Array, shape: single.shape });
    // fs through a cache file: stop after the first batches (a kill), then resume to the end.
    const cachePath = join(dir, 'fs.cache');
    const manipulated = manipulatedLayers(gen.layers);
    const calls: number[] = [];
    await expect(channelFeatures(gen, clip, styles, stats, manipulated, {
      alpha: meta.alpha_single_channel, cachePath, channelsPerBatch: 16,
      onProgress: (d) => {
        calls.push(d);
        if (d >= 32) throw new Error('interrupted');
      },
    })).rejects.toThrow('interrupted');
    const partial = (await stat(cachePath)).size;
    await truncate(cachePath, partial - 100); // a torn last record
    const resumedFrom: number[] = [];
    const fs = await channelFeatures(gen, clip, styles, stats, manipulated, {
      alpha: meta.alpha_single_channel, cachePath, channelsPerBatch: 16, onProgress: (d) => resumedFrom.push(d),
    });
    // 32 channels were written before the interruption; the torn one is recomputed.
    expect(resumedFrom[0]).toBe(calls.at(-1)! - 1);
    got.set('fs', { data: fs.data, shape: fs.shape });
    await expect(channelFeatures(gen, clip, styles, stats, manipulated, { alpha: 4, cachePath })).rejects.toThrow(/alpha/);
    tf.dispose([zImg, styles, img, feats, single]);
  });

  it(`${m.id}: fs3, text direction, relevance, boundaries and edited images`, () => {
    const fs = got.get('fs')!;
    const fs3 = channelDirections(tf.tensor4d(fs.data, fs.shape as [number, number, number, number]));
    const dt = textDirection(clip, rows(t.get('tokens_target')!), rows(t.get('tokens_neutral')!));
    const relevance = channelRelevance(fs3, dt);
    got.set('fs3', { data: fs3.dataSync() as Float32Array, shape: fs3.shape });
    got.set('dt', { data: dt.dataSync() as Float32Array, shape: dt.shape });
    got.set('relevance', { data: relevance, shape: [relevance.length] });
    const layout: StyleSpaceLayout = { layers: gen.layers, manipulated: manipulatedLayers(gen.layers), codeStd: got.get('code_std')!.data };
    const styles = tensor('styles_img') as tf.Tensor2D;
    const counts = meta.betas.map((beta, i) => {
      const b = globalBoundary(relevance, beta, layout);
      got.set(`ds_imp.beta${i}`, { data: b.dsImp, shape: [b.dsImp.length] });
      got.set(`boundary.beta${i}`, { data: b.boundary, shape: [b.boundary.length] });
      const edited = tf.tidy(() => gen.synthesizeStyles(applyGlobalDirection(styles, b.boundary, meta.alpha_edit)));
      got.set(`img_edit.beta${i}`, { data: edited.dataSync() as Float32Array, shape: edited.shape });
      edited.dispose();
      return b.numChannels;
    });
    got.set('num_channels_selected', { data: Float32Array.from(counts), shape: [counts.length] });
    expect(() => globalBoundary(relevance, 2, layout)).toThrow(/beta/);
    tf.dispose([fs3, dt, styles]);
  });

  it(`${m.id}: every fixture.json check at its tolerance (default backend)`, () => {
    expect(m.checks.length).toBeGreaterThan(0);
    for (const check of m.checks as FixtureCheck[]) {
      const a = got.get(check.output);
      expect(a, `${check.output} was computed`).toBeDefined();
      if (check.file === 'meta') {
        expect(Array.from(a!.data)).toEqual((meta as unknown as Record<string, number[]>)[check.output]);
        report.push(`  ${check.output}: exact ${JSON.stringify(Array.from(a!.data))}`);
        continue;
      }
      const raw = t.get(check.output)!;
      let data = raw.data as Float32Array;
      let shape = raw.shape;
      if (check.layout === 'NCHW') [data, shape] = [nchwToNhwc(data, shape), [shape[0]!, shape[2]!, shape[3]!, shape[1]!]];
      if (check.layout === 'NACHW') {
        const [n, two, c, h, w] = shape as [number, number, number, number, number];
        [data, shape] = [nchwToNhwc(data, [n * two, c, h, w]), [n, two, h, w, c]];
      }
      expect(a!.shape).toEqual(shape);
      const r = compareArrays(a!.data, data, { atol: check.atol, rtol: check.rtol, name: `${m.id} ${check.output}`, shape });
      report.push(`  ${m.id} [${backend}] ${check.output}: ${r.maxAbs.toExponential(2)} (atol ${check.atol})`);
      expect(r.ok, r.message).toBe(true);
    }
  });
});
