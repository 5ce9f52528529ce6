/**
 * The real-format StyleGAN2 files of `checkpoint-formats` load to the same weights as the safetensors fixtures:
 * the NVLabs network snapshot (`nvlabs-generator.pkl`, `G_ema`, config from its `init_kwargs`) equals
 * `stylegan2-nvlabs-tiny`; the rosinality training checkpoint (`rosinality-generator.pt`, `g_ema`, config inferred
 * from the weights) equals `stylegan2-rosinality-tiny`, with `latent_avg` as `w_avg` (= the fixture's
 * `mean_latent`); the StyleCLIP mapper checkpoint's `decoder.*` equals it too. Plus the typed errors for files
 * without a generator.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../backend/index.js';
import { readCheckpoint } from '../io/checkpoint.js';
import { readManifest } from '../testing/index.js';
import { flattenNvlabsKwargs } from './config.js';
import { MissingGeneratorError } from './errors.js';
import type { StyleGan2 } from './generator.js';
import { loadNvlabsGenerator } from './load-nvlabs.js';
import { loadRosinalityGenerator } from './load-rosinality.js';
import { expectedNvlabsShapes } from './params.js';

const formats = readManifest('checkpoint-formats');
const nv = readManifest('stylegan2-nvlabs-tiny');
const ro = readManifest('stylegan2-rosinality-tiny');
const json = (path: string) => JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>;

/** Every tensor of a parameter tree by its dotted path. */
function leaves(tree: unknown, prefix = '', out = new Map<string, tf.Tensor>()): Map<string, tf.Tensor> {
  if (tree instanceof tf.Tensor) out.set(prefix, tree);
  else if (tree && typeof tree === 'object') for (const [k, v] of Object.entries(tree)) leaves(v, prefix ? `${prefix}.${k}` : k, out);
  return out;
}

/** Asserts two generators have the same config and bit-identical parameters (optionally ignoring some paths). */
function expectSameWeights(a: StyleGan2, b: StyleGan2, ignore: readonly string[] = []): number {
  expect(a.config).toEqual(b.config);
  const la = leaves(a.params);
  const lb = leaves(b.params);
  for (const k of ignore) (la.delete(k), lb.delete(k));
  expect([...la.keys()].sort()).toEqual([...lb.keys()].sort());
  for (const [k, t] of la) {
    const u = lb.get(k)!;
    expect(t.shape, k).toEqual(u.shape);
    const x = t.dataSync();
    const y = u.dataSync();
    let same = true;
    for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) same = false;
    expect(same, `${k} differs`).toBe(true);
  }
  return la.size;
}

describe(`${formats.id}: StyleGAN2 real-format files`, () => {
  beforeAll(async () => {
    await initBackend();
  });

  it(`${formats.id} nvlabs-generator.pkl (G_ema) loads to the ${nv.id} weights`, async () => {
    const pkl = await loadNvlabsGenerator(formats.files['nvlabs_pkl']!);
    const ref = await loadNvlabsGenerator(nv.files['weights']!, { config: flattenNvlabsKwargs(json(nv.files['config']!)['kwargs'] as Record<string, unknown>) });
    expect(expectSameWeights(pkl, ref)).toBe(Object.keys(expectedNvlabsShapes(ref.config, true, false)).length);
    expect(pkl.format).toBe('nvlabs');
    pkl.dispose();
    ref.dispose();
  });

  it(`${formats.id} rosinality-generator.pt (g_ema, latent_avg) loads to the ${ro.id} weights`, async () => {
    const pt = await loadRosinalityGenerator(formats.files['rosinality_pt']!);
    const c = json(ro.files['config']!) as { kwargs: { size: number; style_dim: number; n_mlp: number; lr_mlp: number }; channels_override: Record<string, number> };
    const ref = await loadRosinalityGenerator(ro.files['weights']!, { config: c.kwargs, channels: c.channels_override });
    expect(expectSameWeights(pt, ref, ['mapping.w_avg'])).toBe(Object.keys(expectedNvlabsShapes(ref.config, false, false)).length);
    expect(ref.wAvg).toBeUndefined();
    const mean = (await readCheckpoint(ro.files['tensors']!)).tensors.get('mean_latent')!;
    expect(Array.from(pt.wAvg!.dataSync())).toEqual(Array.from(mean.data as Float32Array));
    pt.dispose();
    ref.dispose();
  });

  it(`${formats.id} styleclip-mapper.pt decoder.* loads to the ${ro.id} weights`, async () => {
    const dec = await loadRosinalityGenerator(formats.files['styleclip_mapper_pt']!, { root: 'state_dict', prefix: 'decoder.' });
    const ref = await loadRosinalityGenerator(ro.files['weights']!);
    expectSameWeights(dec, ref);
    dec.dispose();
    ref.dispose();
  });

  it(`${formats.id}: a .pkl entry that is not a Generator, or a pickle without G_ema, is a MissingGeneratorError`, async () => {
    await expect(loadNvlabsGenerator(formats.files['nvlabs_pkl']!, { entry: 'D' })).rejects.toThrow(MissingGeneratorError);
    await expect(loadNvlabsGenerator(formats.files['nvlabs_pkl']!, { entry: 'augment_pipe' })).rejects.toThrow(/no "augment_pipe" entry.*G_ema/);
    const dir = mkdtempSync(join(tmpdir(), 'semedit-sg2-'));
    const file = join(dir, 'no-generator.pkl');
    // pickle protocol 2 of {"D": 1}: PROTO 2, EMPTY_DICT, BINUNICODE "D", BININT1 1, SETITEM, STOP
    writeFileSync(file, Uint8Array.from([0x80, 0x02, 0x7d, 0x58, 1, 0, 0, 0, 0x44, 0x4b, 0x01, 0x73, 0x2e]));
    await expect(loadNvlabsGenerator(file)).rejects.toThrow(MissingGeneratorError);
    await expect(loadRosinalityGenerator(formats.files['rosinality_pt']!, { root: 'd' })).rejects.toThrow(MissingGeneratorError);
  });
});
