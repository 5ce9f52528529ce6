/**
 * StyleCLIP's CLIP loss against clip-loss-tiny: the resize, the loss matrix and its gradient with respect to the
 * generator image through {@link styleClipLoss} / {@link ClipTextLoss}, at the fixture's tolerances; the gradient
 * on the project's default backend (initBackend()).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { readFile } from 'node:fs/promises';
import { initBackend } from '@semedit/core/backend';
import { loadOpenAiClip, OPENAI_CLIP_MEAN, OPENAI_CLIP_STD, type ClipModel } from '@semedit/core/clip';
import { readCheckpoint, type RawTensor } from '@semedit/core/io';
import { compareArrays, nchwToNhwc, readManifest, type FixtureCheck } from '@semedit/core/testing';
import { clipImageInput, ClipTextLoss, styleClipKernel, styleClipLoss } from './clip-loss.js';

const m = readManifest('clip-loss-tiny');
const cfg = JSON.parse(await readFile(m.files['config']!, 'utf8')) as { stylegan_size: number; upsample_scale_factor: number; avgpool_kernel: number };
/** The checks this module computes (the CLIP towers' own checks are core's clip tests). */
const MINE = ['clip_input', 'clip_loss', 'grad_image'];
const report: string[] = [];
afterAll(() => console.log(`styleclip clip loss parity, max |a-e|:\n${report.join('\n')}`));

function nhwc(raw: RawTensor): tf.Tensor4D {
  const [n, c, h, w] = raw.shape as [number, number, number, number];
  return tf.tensor4d(nchwToNhwc(raw.data as Float32Array, raw.shape), [n, h, w, c]);
}

function rows(raw: RawTensor): number[][] {
  const [b, l] = raw.shape as [number, number];
  const flat = Array.from(raw.data as Int32Array, Number);
  return Array.from({ length: b }, (_, i) => flat.slice(i * l, (i + 1) * l));
}

function expectCheck(label: string, check: FixtureCheck, actual: tf.Tensor, expected: RawTensor): void {
  const nchw = check.layout === 'NCHW';
  const data = nchw ? nchwToNhwc(expected.data as Float32Array, expected.shape) : (expected.data as Float32Array);
  const s = expected.shape;
  const shape = nchw ? [s[0]!, s[2]!, s[3]!, s[1]!] : s;
  expect(actual.shape).toEqual(shape);
  const r = compareArrays(actual.dataSync() as Float32Array, data, { atol: check.atol, rtol: check.rtol, name: `${label} ${check.output}`, shape });
  report.push(`  ${label} ${check.output}: ${r.maxAbs.toExponential(2)} (atol ${check.atol})`);
  expect(r.ok, r.message).toBe(true);
}

describe(`${m.id}: StyleCLIP CLIPLoss`, () => {
  let clip: ClipModel;
  let t: Map<string, RawTensor>;
  let backend = '';
  beforeAll(async () => {
    backend = (await initBackend()).name;
    clip = await loadOpenAiClip(m.files['weights']!);
    t = (await readCheckpoint(m.files['tensors']!)).tensors;
  });
  afterAll(() => clip.dispose());

  it(`${m.id}: the default pooling kernel is config.json's avgpool_kernel`, () => {
    expect(styleClipKernel(cfg.stylegan_size, clip.config.vision.imageSize, cfg.upsample_scale_factor)).toBe(cfg.avgpool_kernel);
  });

  it(`${m.id}: clip_input, clip_loss and grad_image (default backend) at the fixture's tolerances`, () => {
    const checks = m.checks.filter((c) => MINE.includes(c.output));
    expect(checks.map((c) => c.output).sort()).toEqual([...MINE].sort());
    const before = tf.memory().numTensors;
    const image = nhwc(t.get('image')!);
    const tokens = rows(t.get('tokens')!);
    const loss = new ClipTextLoss(clip, tokens);
    for (const check of checks) {
      const actual = tf.tidy(() => {
        if (check.output === 'clip_input') return clipImageInput(clip, image);
        if (check.output === 'clip_loss') return styleClipLoss(clip, image, loss.textFeatures);
        // d Σ clip_loss / d image: ClipTextLoss averages over the texts, so scale by their count.
        return tf.grad((x: tf.Tensor) => tf.mul(tf.sum(loss.loss(x as tf.Tensor4D)), tokens.length))(image);
      });
      expectCheck(`${m.id} [${backend}]`, check, actual, t.get(check.output)!);
      actual.dispose();
    }
    loss.dispose();
    image.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });

  it(`${m.id}: the 'clip' variant normalizes with CLIP's mean/std after mapping [-1, 1] to [0, 1]`, () => {
    const image = nhwc(t.get('image')!);
    const [a, b] = tf.tidy(() => {
      const plain = clipImageInput(clip, tf.clipByValue(tf.div(tf.add(image, 1), 2), 0, 1) as tf.Tensor4D);
      const normalized = clipImageInput(clip, image, { variant: 'clip' });
      return [tf.add(tf.mul(normalized, tf.tensor1d([...OPENAI_CLIP_STD])), tf.tensor1d([...OPENAI_CLIP_MEAN])), plain];
    });
    const r = compareArrays(a!.dataSync() as Float32Array, b!.dataSync() as Float32Array, { atol: 1e-6, rtol: 1e-6 });
    expect(r.ok, r.message).toBe(true);
    tf.dispose([a!, b!, image]);
  });
});
