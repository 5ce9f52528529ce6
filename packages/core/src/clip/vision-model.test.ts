/**
 * The CLIP vision tower and the full CLIPModel on tiny seeded random weights, on every available backend: output
 * shapes, batch independence, the NHWC patch order (a patch's pixels only reach its own token in the embeddings),
 * pixel shape errors, the logits as exp(logit_scale)·cos of the features, a finite-difference check of the
 * gradient with respect to the pixels, and no leaked tensors.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { ShapeMismatchError } from '../errors.js';
import { createGenerator, randn } from '../random.js';
import { resolveClipConfig } from './config.js';
import { buildClipModelParams } from './params.js';
import { clipImageFeatures, clipLogits, ClipModel, l2Normalize } from './similarity.js';
import { availableBackends, TINY_CLIP_CONFIG, tinyClipWeights, useBackend } from './test-support.js';
import { ClipVisionModelWithProjection } from './vision-model.js';

const cfg = resolveClipConfig(TINY_CLIP_CONFIG);
const S = cfg.vision.imageSize;
const IDS = [[48, 5, 17, 49, 0], [48, 22, 49, 0, 0], [48, 9, 9, 9, 49]];

function maxDiff(a: tf.Tensor, b: tf.Tensor): number {
  return tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]!);
}

describe.each(await availableBackends())('CLIP vision / CLIPModel (tiny random weights) on %s', (backend) => {
  let clip: ClipModel;
  let vision: ClipVisionModelWithProjection;
  let pixels: tf.Tensor4D;
  let baseline: number;
  beforeAll(async () => {
    await useBackend(backend);
    baseline = tf.memory().numTensors;
    clip = new ClipModel(cfg, buildClipModelParams(tinyClipWeights(), cfg).params);
    const p = clip.params;
    vision = new ClipVisionModelWithProjection({ ...cfg.vision, projectionDim: cfg.projectionDim }, { vision_model: p.vision_model, visual_projection: p.visual_projection });
    pixels = randn([3, S, S, 3], createGenerator(9)) as tf.Tensor4D;
  });
  afterAll(() => {
    clip.dispose();
    pixels.dispose();
    expect(tf.memory().numTensors).toBe(baseline);
  });

  it('returns every documented output with its shape, and leaks nothing', () => {
    const before = tf.memory().numTensors;
    const out = vision.forward(pixels, { outputHiddenStates: true });
    const [n, t, c] = [3, cfg.vision.numPatches + 1, cfg.vision.hiddenSize];
    expect(out.lastHiddenState.shape).toEqual([n, t, c]);
    expect(out.pooledOutput.shape).toEqual([n, c]);
    expect(out.imageEmbeds.shape).toEqual([n, cfg.projectionDim]);
    expect(out.hiddenStates!.length).toBe(cfg.vision.numHiddenLayers + 1);
    tf.dispose(out as unknown as tf.TensorContainer);
    const both = clip.forward(IDS, pixels);
    tf.dispose(both as unknown as tf.TensorContainer);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('treats batch rows independently; the image embeds equal getImageFeatures', () => {
    tf.tidy(() => {
      const all = vision.forward(pixels).imageEmbeds;
      const one = vision.forward(tf.slice(pixels, [1, 0, 0, 0], [1, -1, -1, -1])).imageEmbeds;
      expect(maxDiff(tf.slice(all, [1, 0], [1, -1]), one)).toBeLessThan(1e-6);
      expect(maxDiff(all, clip.getImageFeatures(pixels))).toBe(0);
    });
  });

  it('cuts patches in NHWC order: changing the bottom-right patch only changes its own embedding token', () => {
    tf.tidy(() => {
      const p = cfg.vision.patchSize;
      const grid = S / p;
      const bump = tf.pad(tf.ones([1, p, p, 3]), [[0, 0], [S - p, 0], [S - p, 0], [0, 0]]);
      const a = vision.forward(tf.slice(pixels, [0, 0, 0, 0], [1, -1, -1, -1]), { outputHiddenStates: true }).hiddenStates![0]!;
      const b = vision.forward(tf.add(tf.slice(pixels, [0, 0, 0, 0], [1, -1, -1, -1]), bump), { outputHiddenStates: true }).hiddenStates![0]!;
      const changed = tf.max(tf.abs(tf.sub(a, b)), -1).arraySync() as number[][];
      const last = grid * grid; // token 0 is CLS; patch (grid-1, grid-1) is token grid²
      changed[0]!.forEach((d, token) => (token === last ? expect(d).toBeGreaterThan(1e-3) : expect(d).toBe(0)));
    });
  });

  it('rejects pixels of the wrong size, channel count or layout, naming pixelValues', () => {
    const before = tf.memory().numTensors;
    for (const shape of [[1, S, S + 1, 3], [1, S, S, 1], [1, 3, S, S], [S, S, 3]]) {
      const x = tf.zeros(shape);
      expect(() => vision.forward(x)).toThrow(ShapeMismatchError);
      expect(() => vision.forward(x)).toThrow(/pixelValues/);
      x.dispose();
    }
    expect(tf.memory().numTensors).toBe(before);
  });

  it('logits are exp(logit_scale) times the cosine of the features; per-text is the transpose', () => {
    tf.tidy(() => {
      const out = clip.forward(IDS, pixels);
      const img = clip.getImageFeatures(pixels).arraySync();
      const txt = clip.getTextFeatures(IDS).arraySync();
      const scale = Math.exp(clip.params.logit_scale.dataSync()[0]!);
      const norm = (v: number[]) => Math.hypot(...v);
      const want = img.map((a) => txt.map((b) => (scale * a.reduce((s, x, k) => s + x * b[k]!, 0)) / (norm(a) * norm(b))));
      const got = out.logitsPerImage.arraySync();
      want.forEach((row, i) => row.forEach((v, j) => expect(got[i]![j]!).toBeCloseTo(v, 4)));
      expect(maxDiff(out.logitsPerText, tf.transpose(out.logitsPerImage))).toBe(0);
      expect((tf.norm(out.imageEmbeds, 2, -1).arraySync() as number[]).every((v) => Math.abs(v - 1) < 1e-6)).toBe(true);
    });
  });

  it('the gradient with respect to the pixels matches central finite differences', () => {
    tf.tidy(() => {
      const text = clip.getTextFeatures(IDS);
      const f = (x: tf.Tensor) => tf.sum(tf.mul(clipLogits(clipImageFeatures(clip.params, clip.config, x), text, clip.params.logit_scale).logitsPerImage, tf.tensor2d([[1, -2, 0.5], [0.3, 1, -1], [2, 0, 1]])));
      const x0 = tf.slice(pixels, [0, 0, 0, 0], [3, -1, -1, -1]);
      const g = tf.grad(f)(x0);
      const gen = createGenerator(4);
      for (let k = 0; k < 3; k++) {
        const v = l2Normalize(tf.reshape(randn([3 * S * S * 3], gen), [1, -1]));
        const dir = tf.reshape(v, x0.shape);
        const eps = 1e-2;
        const numeric = (f(tf.add(x0, tf.mul(dir, eps))).dataSync()[0]! - f(tf.sub(x0, tf.mul(dir, eps))).dataSync()[0]!) / (2 * eps);
        const analytic = tf.sum(tf.mul(g, dir)).dataSync()[0]!;
        expect(Math.abs(numeric - analytic)).toBeLessThan(2e-3 * Math.max(1, Math.abs(analytic)));
      }
    });
  });
});
