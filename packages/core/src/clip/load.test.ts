/**
 * The folder loaders on tiny random checkpoints written to a temporary folder: HF CLIP folders (full CLIPModel
 * loading as either tower or whole), a text-only `pytorch_model.bin` folder (diffusers `text_encoder/` layout),
 * an fp16 variant, sharded weights through `model.safetensors.index.json`; and typed errors naming the file for
 * missing files, config problems, missing or misshaped weights, and a bad shard index. Nothing is written to the
 * input files.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CheckpointFormatError, ClipConfigError, MissingWeightError, ShapeMismatchError } from '../errors.js';
import { writeSafetensors } from '../io/index.js';
import type { RawTensor } from '../io/types.js';
import { stateDictPickle, torchZip } from '../testing/torch-writers.js';
import { resolveClipConfig } from './config.js';
import { loadClipModel, loadClipTextModel, loadClipTextModelWithProjection, loadClipVisionModel, loadClipVisionModelWithProjection } from './load.js';
import { buildClipModelParams } from './params.js';
import { ClipModel } from './similarity.js';
import { TINY_CLIP_CONFIG, tinyClipWeights, useBackend } from './test-support.js';

const cfg = resolveClipConfig(TINY_CLIP_CONFIG);
const IDS = [[48, 5, 17, 49, 0], [48, 22, 49, 0, 0]];
let root: string;
let weights: Map<string, RawTensor>;
let reference: ClipModel;
let pixels: tf.Tensor4D;

async function folder(name: string, config: unknown, files: Record<string, Map<string, RawTensor> | Uint8Array | string>): Promise<string> {
  const dir = join(root, name);
  await mkdir(dir, { recursive: true });
  if (config !== undefined) await writeFile(join(dir, 'config.json'), JSON.stringify(config));
  for (const [file, content] of Object.entries(files)) {
    if (content instanceof Map) await writeSafetensors(join(dir, file), content);
    else await writeFile(join(dir, file), content);
  }
  return dir;
}

/** A `torch.save(state_dict)` zip of float32 tensors. */
function torchBin(tensors: Map<string, RawTensor>): Uint8Array {
  const specs = [...tensors].map(([name, t], i) => {
    const stride = t.shape.map((_, d) => t.shape.slice(d + 1).reduce((a, b) => a * b, 1));
    return { name, key: String(i), cls: 'FloatStorage', numel: t.data.length, offset: 0, shape: t.shape, stride };
  });
  const storages = new Map([...tensors.values()].map((t, i) => [String(i), new Uint8Array((t.data as Float32Array).slice().buffer)]));
  return torchZip('pytorch_model', stateDictPickle(specs), storages);
}

const only = (re: RegExp) => new Map([...weights].filter(([k]) => re.test(k)));

async function rejection(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (e) {
    return e;
  }
  throw new Error('expected a rejection');
}

function same(a: tf.Tensor, b: tf.Tensor): void {
  expect(tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0])).toBe(0);
  tf.dispose([a, b]);
}

beforeAll(async () => {
  await useBackend('cpu');
  root = await mkdtemp(join(tmpdir(), 'semedit-clip-load-'));
  weights = tinyClipWeights(TINY_CLIP_CONFIG, 7);
  reference = new ClipModel(cfg, buildClipModelParams(weights, cfg).params);
  pixels = tf.randomNormal([2, cfg.vision.imageSize, cfg.vision.imageSize, 3], 0, 1, 'float32', 3);
});
afterAll(async () => {
  reference.dispose();
  pixels.dispose();
  await rm(root, { recursive: true, force: true });
});

describe('HF CLIP folders', () => {
  it('a full CLIPModel folder loads whole and as each tower, reporting the other tower as leftovers', async () => {
    const dir = await folder('full', TINY_CLIP_CONFIG, { 'model.safetensors': weights });
    const before = await readFile(join(dir, 'model.safetensors'));
    const clip = await loadClipModel(dir);
    same(clip.forward(IDS, pixels).logitsPerImage, reference.forward(IDS, pixels).logitsPerImage);
    const text = await loadClipTextModelWithProjection(dir);
    same(text.forward(IDS).textEmbeds, reference.getTextFeatures(IDS));
    expect(text.leftovers).toContain('logit_scale');
    expect(text.leftovers.some((k) => k.startsWith('vision_model.'))).toBe(true);
    const vision = await loadClipVisionModelWithProjection(dir);
    same(vision.forward(pixels).imageEmbeds, reference.getImageFeatures(pixels));
    const plainVision = await loadClipVisionModel(dir);
    expect(plainVision.leftovers).toContain('visual_projection.weight');
    [clip, text, vision, plainVision].forEach((m) => m.dispose());
    expect(await readFile(join(dir, 'model.safetensors'))).toEqual(before); // input untouched
  });

  it('a text_encoder/ folder with pytorch_model.bin (CLIPTextConfig) loads as CLIPTextModel(WithProjection)', async () => {
    const textConfig = { ...TINY_CLIP_CONFIG.text_config, model_type: 'clip_text_model', architectures: ['CLIPTextModel'] };
    const dir = await folder('text_encoder', textConfig, { 'pytorch_model.bin': torchBin(only(/^text_(model|projection)/)) });
    const te = await loadClipTextModelWithProjection(dir);
    same(te.forward(IDS).textEmbeds, reference.getTextFeatures(IDS));
    const plain = await loadClipTextModel(dir);
    expect(plain.leftovers).toEqual(['text_projection.weight']);
    te.dispose();
    plain.dispose();
  });

  it('variant "fp16" reads model.fp16.safetensors (widened to float32)', async () => {
    const half = new Map([...only(/^text_model/)].map(([k, t]) => [k, { ...t, dtype: 'float16' as const }]));
    const textConfig = { ...TINY_CLIP_CONFIG.text_config, model_type: 'clip_text_model' };
    const dir = await folder('text_fp16', textConfig, { 'model.fp16.safetensors': half });
    expect(await rejection(loadClipTextModel(dir))).toBeInstanceOf(CheckpointFormatError); // no plain weights file
    const te = await loadClipTextModel(dir, { variant: 'fp16' });
    const w = te.params.text_model.embeddings.token_embedding.weight.dataSync();
    const orig = weights.get('text_model.embeddings.token_embedding.weight')!.data as Float32Array;
    orig.forEach((v, i) => expect(Math.abs(w[i]! - v)).toBeLessThanOrEqual(Math.abs(v) * 2 ** -11 + 1e-7));
    te.dispose();
  });

  it('sharded weights: model.safetensors.index.json and its shards', async () => {
    const [a, b] = [only(/^(text_|logit)/), only(/^vision|^visual/)];
    const weightMap = Object.fromEntries([...[...a.keys()].map((k) => [k, 'model-00001-of-00002.safetensors']), ...[...b.keys()].map((k) => [k, 'model-00002-of-00002.safetensors'])]);
    const dir = await folder('sharded', TINY_CLIP_CONFIG, {
      'model-00001-of-00002.safetensors': a,
      'model-00002-of-00002.safetensors': b,
      'model.safetensors.index.json': JSON.stringify({ metadata: {}, weight_map: weightMap }),
    });
    const clip = await loadClipModel(dir);
    same(clip.forward(IDS, pixels).logitsPerText, reference.forward(IDS, pixels).logitsPerText);
    clip.dispose();
    weightMap['logit_scale'] = 'model-00002-of-00002.safetensors';
    await writeFile(join(dir, 'model.safetensors.index.json'), JSON.stringify({ weight_map: weightMap }));
    const e = (await rejection(loadClipModel(dir))) as CheckpointFormatError;
    expect(e).toBeInstanceOf(CheckpointFormatError);
    expect(e.message).toContain('"logit_scale"');
  });
});

describe('loader errors name the file and the key', () => {
  it('no config.json, no weights file', async () => {
    const noConfig = await folder('no-config', undefined, { 'model.safetensors': weights });
    expect(await rejection(loadClipModel(noConfig))).toBeInstanceOf(CheckpointFormatError);
    const noWeights = await folder('no-weights', TINY_CLIP_CONFIG, {});
    const e = (await rejection(loadClipModel(noWeights))) as CheckpointFormatError;
    expect(e.message).toContain('model.safetensors');
    expect(e.file).toBe(noWeights);
  });

  it('config problems: unknown key, unsupported activation, a single tower loaded as CLIPModel', async () => {
    const bad = await folder('bad-key', { ...TINY_CLIP_CONFIG, text_config: { ...TINY_CLIP_CONFIG.text_config, use_rope: true } }, { 'model.safetensors': weights });
    const e = (await rejection(loadClipTextModel(bad))) as ClipConfigError;
    expect([e.constructor, e.key, e.file]).toEqual([ClipConfigError, 'text_config.use_rope', join(bad, 'config.json')]);
    const act = await folder('bad-act', { ...TINY_CLIP_CONFIG, vision_config: { ...TINY_CLIP_CONFIG.vision_config, hidden_act: 'swish' } }, { 'model.safetensors': weights });
    expect(((await rejection(loadClipVisionModel(act))) as ClipConfigError).key).toBe('vision_config.hidden_act');
    const text = await folder('text-only', { ...TINY_CLIP_CONFIG.text_config, model_type: 'clip_text_model' }, { 'model.safetensors': only(/^text_/) });
    expect(((await rejection(loadClipModel(text))) as ClipConfigError).key).toBe('model_type');
    const notJson = await folder('not-json', undefined, { 'config.json': '{ "hidden_size": ', 'model.safetensors': weights });
    expect(await rejection(loadClipModel(notJson))).toBeInstanceOf(CheckpointFormatError);
  });

  it('a missing weight and a misshaped weight, with the weights file', async () => {
    const missing = new Map(weights);
    missing.delete('vision_model.post_layernorm.bias');
    const dir = await folder('missing', TINY_CLIP_CONFIG, { 'model.safetensors': missing });
    const e = (await rejection(loadClipVisionModelWithProjection(dir))) as MissingWeightError;
    expect([e.constructor, e.key, e.file]).toEqual([MissingWeightError, 'vision_model.post_layernorm.bias', join(dir, 'model.safetensors')]);
    const wrong = new Map(weights).set('visual_projection.weight', { dtype: 'float32', shape: [5, 8], data: new Float32Array(40) });
    const dir2 = await folder('misshaped', TINY_CLIP_CONFIG, { 'model.safetensors': wrong });
    const s = (await rejection(loadClipModel(dir2))) as ShapeMismatchError;
    expect([s.constructor, s.key, s.actual]).toEqual([ShapeMismatchError, 'visual_projection.weight', [5, 8]]);
    expect((await stat(join(dir2, 'model.safetensors'))).isFile()).toBe(true);
  });
});
