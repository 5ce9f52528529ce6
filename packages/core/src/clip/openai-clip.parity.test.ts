/**
 * OpenAI CLIP and StyleCLIP's CLIP loss (clip-loss-tiny): the config inferred from the OpenAI state dict as
 * build_model does, every fixture.json check (StyleCLIP resize, features, logits, loss, and the loss gradient
 * with respect to the image) through loadOpenAiClip, on every available backend and, for the gradient, on the
 * project's default backend; and the TorchScript / torch.save containers of checkpoint-formats loading to the
 * same model.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { readFileSync } from 'node:fs';
import { readCheckpoint } from '../io/index.js';
import type { RawTensor } from '../io/types.js';
import { compareArrays, nchwToNhwc, readManifest, type FixtureCheck } from '../testing/index.js';
import { openAiClipConfig, loadOpenAiClip } from './openai-checkpoint.js';
import { styleClipResize, type StyleClipResizeOptions } from './preprocess.js';
import { clipImageFeatures, clipLogits, type ClipModel } from './similarity.js';
import { availableBackends, useBackend, useDefaultBackend } from './test-support.js';

const m = readManifest('clip-loss-tiny');
const formats = readManifest('checkpoint-formats');
const cfgJson = JSON.parse(readFileSync(m.files['config']!, 'utf8')) as {
  kwargs: Record<string, number>;
  upsample_scale_factor: number;
  upsample_mode: string;
  avgpool_kernel: number;
};
const BACKENDS = await availableBackends();
const report: string[] = [];
afterAll(() => console.log(`openai clip / clip loss parity, max |a-e| per check:\n${report.join('\n')}`));

/** A stored NCHW image as an NHWC tensor. */
function nhwc(raw: RawTensor): tf.Tensor4D {
  const [n, c, h, w] = raw.shape as [number, number, number, number];
  return tf.tensor4d(nchwToNhwc(raw.data as Float32Array, raw.shape), [n, h, w, c]);
}

function rows(t: RawTensor): number[][] {
  const [b, l] = t.shape as [number, number];
  const flat = Array.from(t.data as Int32Array, Number);
  return Array.from({ length: b }, (_, i) => flat.slice(i * l, (i + 1) * l));
}

/** Compares with a stored tensor (NCHW ones re-laid out to NHWC) at the check's tolerance. */
function expectCheck(label: string, check: FixtureCheck, actual: tf.Tensor, expected: RawTensor): void {
  const data = check.layout === 'NCHW' ? nchwToNhwc(expected.data as Float32Array, expected.shape) : (expected.data as Float32Array);
  const [n, c, h, w] = expected.shape;
  const shape = check.layout === 'NCHW' ? [n!, h!, w!, c!] : expected.shape;
  expect(actual.shape).toEqual(shape);
  const r = compareArrays(actual.dataSync() as Float32Array, data, { atol: check.atol, rtol: check.rtol, name: `${label} ${check.output}`, shape });
  report.push(`  ${label} ${check.output}: ${r.maxAbs.toExponential(2)} (atol ${check.atol})`);
  expect(r.ok, r.message).toBe(true);
}

/** Every tensor of a parameter tree, in key order. */
function leaves(x: unknown, out: tf.Tensor[] = []): tf.Tensor[] {
  if (x instanceof tf.Tensor) out.push(x);
  else if (Array.isArray(x)) x.forEach((v) => leaves(v, out));
  else if (x !== null && typeof x === 'object') for (const k of Object.keys(x).sort()) leaves((x as Record<string, unknown>)[k], out);
  return out;
}

const resize: StyleClipResizeOptions = { scaleFactor: cfgJson.upsample_scale_factor, kernel: cfgJson.avgpool_kernel };

/** StyleCLIP's `CLIPLoss.forward`: `1 - logits_per_image / 100`, summed for the gradient. */
function clipLoss(clip: ClipModel, image: tf.Tensor, textFeatures: tf.Tensor2D): tf.Tensor2D {
  const features = clipImageFeatures(clip.params, clip.config, styleClipResize(image, resize));
  return tf.sub(1, tf.div(clipLogits(features, textFeatures, clip.params.logit_scale).logitsPerImage, 100));
}

function gradImage(clip: ClipModel, image: tf.Tensor, tokens: number[][]): tf.Tensor {
  const text = clip.getTextFeatures(tokens);
  try {
    return tf.grad((x: tf.Tensor) => tf.sum(clipLoss(clip, x, text)))(image);
  } finally {
    text.dispose();
  }
}

/** The tensor a check names, computed from the fixture's inputs. */
function compute(check: FixtureCheck, clip: ClipModel, t: Map<string, RawTensor>): tf.Tensor {
  const tokens = rows(t.get('tokens')!);
  return tf.tidy(() => {
    switch (check.output) {
      case 'clip_input': return styleClipResize(nhwc(t.get('image')!), resize);
      case 'image_features': return clip.getImageFeatures(nhwc(t.get('clip_input')!));
      case 'text_features': return clip.getTextFeatures(tokens);
      case 'logits_per_image': return clip.forward(tokens, nhwc(t.get('clip_input')!)).logitsPerImage;
      case 'logits_per_text': return clip.forward(tokens, nhwc(t.get('clip_input')!)).logitsPerText;
      case 'clip_loss': return clipLoss(clip, nhwc(t.get('image')!), clip.getTextFeatures(tokens));
      case 'grad_image': return gradImage(clip, nhwc(t.get('image')!), tokens);
      default: throw new Error(`check "${check.output}" is not known to this test: extend it`);
    }
  });
}

describe(`${m.id}`, () => {
  let t: Map<string, RawTensor>;
  beforeAll(async () => {
    t = (await readCheckpoint(m.files['tensors']!)).tensors;
  });

  it(`${m.id}: the config inferred from the OpenAI state dict is config.json's kwargs (build_model's rules)`, async () => {
    expect(cfgJson.upsample_mode).toBe('nearest');
    const weights = (await readCheckpoint(m.files['weights']!)).tensors;
    const cfg = openAiClipConfig(weights);
    const k = cfgJson.kwargs;
    expect(cfg.projection_dim).toBe(k['embed_dim']);
    expect(cfg.vision_config).toMatchObject({
      image_size: k['image_resolution'], num_hidden_layers: k['vision_layers'], hidden_size: k['vision_width'],
      patch_size: k['vision_patch_size'], num_attention_heads: Math.floor(k['vision_width']! / 64),
    });
    expect(cfg.text_config).toMatchObject({
      max_position_embeddings: k['context_length'], vocab_size: k['vocab_size'], hidden_size: k['transformer_width'],
      num_attention_heads: k['transformer_heads'], num_hidden_layers: k['transformer_layers'],
    });
  });

  describe.each(BACKENDS)(`${m.id} on %s`, (backend) => {
    let clip: ClipModel;
    beforeAll(async () => {
      await useBackend(backend);
      clip = await loadOpenAiClip(m.files['weights']!);
    });
    afterAll(() => clip.dispose());

    it(`${m.id} [${backend}]: every fixture.json check through loadOpenAiClip`, () => {
      const before = tf.memory().numTensors;
      expect(m.checks.length).toBeGreaterThan(0);
      for (const check of m.checks) {
        expect(check.file).toBe('tensors');
        const actual = compute(check, clip, t);
        expectCheck(`${m.id} [${backend}]`, check, actual, t.get(check.output)!);
        actual.dispose();
      }
      expect(tf.memory().numTensors).toBe(before);
    });

    it(`${m.id} [${backend}]: StyleCLIP's resize, matrix form and literal upsample + avgpool agree`, () => {
      const check = m.checks.find((c) => c.output === 'clip_input')!;
      const ref = tf.tidy(() => styleClipResize(nhwc(t.get('image')!), { ...resize, impl: 'ref' }));
      expectCheck(`${m.id} [${backend}] impl=ref`, check, ref, t.get('clip_input')!);
      ref.dispose();
    });
  });

  it(`${m.id}: grad_image on the default backend`, async () => {
    const name = await useDefaultBackend();
    const clip = await loadOpenAiClip(m.files['weights']!);
    try {
      const check = m.checks.find((c) => c.output === 'grad_image')!;
      const g = compute(check, clip, t);
      expectCheck(`${m.id} [default backend: ${name}]`, check, g, t.get('grad_image')!);
      g.dispose();
    } finally {
      clip.dispose();
    }
  });
});

describe(`${formats.id}: openai-clip-jit.pt and openai-clip-state.pt load as ${m.id}'s clip.safetensors`, () => {
  const files = { jit: formats.files['openai_clip_jit']!, state: formats.files['openai_clip_state']! };
  let reference: ClipModel;
  let t: Map<string, RawTensor>;
  beforeAll(async () => {
    await useBackend('cpu');
    reference = await loadOpenAiClip(m.files['weights']!);
    t = (await readCheckpoint(m.files['tensors']!)).tensors;
  });
  afterAll(() => reference.dispose());

  it.each(Object.entries(files))(`${formats.id} %s: same parameters and same outputs, bit for bit`, async (_kind, file) => {
    const clip = await loadOpenAiClip(file);
    try {
      expect(clip.config).toEqual(reference.config);
      expect(clip.leftovers).toEqual([]);
      const values = (tree: unknown) => leaves(tree).map((x) => [x.shape, Array.from(x.dataSync())]);
      expect(values(clip.params)).toEqual(values(reference.params));
      const tokens = rows(t.get('tokens')!);
      const [a, b] = [clip, reference].map((c) => tf.tidy(() => c.forward(tokens, nhwc(t.get('clip_input')!)).logitsPerImage.arraySync()));
      expect(a).toEqual(b);
    } finally {
      clip.dispose();
    }
  });
});
