/**
 * CLIP vision tower and full CLIPModel parity with transformers (clip-vision-tiny): every check of fixture.json,
 * through the real folder loaders (the CLIPModel folder loads as CLIPVisionModelWithProjection and as CLIPModel),
 * on every available backend. Pixels are stored NCHW and fed NHWC.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { readFileSync } from 'node:fs';
import { readCheckpoint } from '../io/index.js';
import type { RawTensor } from '../io/types.js';
import { compareArrays, nchwToNhwc, readManifest, type FixtureCheck } from '../testing/index.js';
import { loadClipModel, loadClipVisionModelWithProjection } from './load.js';
import type { ClipModel, ClipOutput } from './similarity.js';
import { availableBackends, useBackend } from './test-support.js';
import { loadClipTokenizer } from '../tokenizer/tokenizer-load.js';
import type { ClipVisionModelWithProjection, ClipVisionProjectedOutput } from './vision-model.js';

const m = readManifest('clip-vision-tiny');
const BACKENDS = await availableBackends();
const report: string[] = [];
afterAll(() => console.log(`clip vision parity, max |a-e| per check:\n${report.join('\n')}`));

function rows(t: RawTensor): number[][] {
  const [b, l] = t.shape as [number, number];
  const flat = Array.from(t.data as Int32Array, Number);
  return Array.from({ length: b }, (_, i) => flat.slice(i * l, (i + 1) * l));
}

function expectCheck(label: string, check: FixtureCheck, actual: tf.Tensor, expected: RawTensor): void {
  expect(actual.shape).toEqual(expected.shape);
  const r = compareArrays(actual.dataSync() as Float32Array, expected.data as Float32Array, {
    atol: check.atol, rtol: check.rtol, name: `${label} ${check.output}`, shape: expected.shape,
  });
  report.push(`  ${label} ${check.output}: ${r.maxAbs.toExponential(2)} (atol ${check.atol})`);
  expect(r.ok, r.message).toBe(true);
}

function outputFor(name: string, vision: ClipVisionProjectedOutput, clip: ClipOutput): tf.Tensor {
  const hidden = /^vision\.hidden_states\.(\d+)$/.exec(name);
  if (hidden) return vision.hiddenStates![Number(hidden[1])]!;
  const table: Record<string, tf.Tensor> = {
    'vision.last_hidden_state': vision.lastHiddenState,
    'vision.pooler_output': vision.pooledOutput,
    'vision.image_embeds': vision.imageEmbeds,
    'clip.image_embeds_normalized': clip.imageEmbeds,
    'clip.text_embeds_normalized': clip.textEmbeds,
    logits_per_text: clip.logitsPerText,
    logits_per_image: clip.logitsPerImage,
  };
  const t = table[name];
  if (!t) throw new Error(`check "${name}" is not known to this test: extend it`);
  return t;
}

describe(`${m.id}`, () => {
  let io: Map<string, RawTensor>;
  beforeAll(async () => {
    io = (await readCheckpoint(m.files['io']!)).tensors;
  });

  it(`${m.id}: meta.json prompts tokenize to the stored input_ids (SD1.x padding)`, async () => {
    const meta = JSON.parse(readFileSync(m.files['meta']!, 'utf8')) as { prompts: string[] };
    const tok = await loadClipTokenizer(m.components['tokenizer']!);
    expect(tok.encodeBatch(meta.prompts).map((e) => e.ids)).toEqual(rows(io.get('input_ids')!));
  });

  describe.each(BACKENDS)(`${m.id} on %s`, (backend) => {
    let vision: ClipVisionModelWithProjection;
    let clip: ClipModel;
    let pixels: tf.Tensor4D;
    beforeAll(async () => {
      await useBackend(backend);
      vision = await loadClipVisionModelWithProjection(m.components['clip']!);
      clip = await loadClipModel(m.components['clip']!);
      const raw = io.get('pixel_values')!;
      const [n, c, h, w] = raw.shape as [number, number, number, number];
      pixels = tf.tensor4d(nchwToNhwc(raw.data as Float32Array, raw.shape), [n, h, w, c]);
    });
    afterAll(() => {
      vision.dispose();
      clip.dispose();
      pixels.dispose();
    });

    it(`${m.id} [${backend}]: the vision tower ignores the text tower's weights, reporting them`, () => {
      expect(vision.leftovers.some((k) => k.startsWith('text_model.'))).toBe(true);
      expect(vision.leftovers).toContain('logit_scale');
      expect(clip.leftovers).toEqual([]);
    });

    it(`${m.id} [${backend}]: every fixture.json check (vision tower, CLIPModel embeddings and logits)`, () => {
      const before = tf.memory().numTensors;
      const v = vision.forward(pixels, { outputHiddenStates: true });
      const out = clip.forward(rows(io.get('input_ids')!), pixels);
      expect(m.checks.length).toBeGreaterThan(0);
      for (const check of m.checks) {
        expect(check.file).toBe('io');
        expectCheck(`${m.id} [${backend}]`, check, outputFor(check.output, v, out), io.get(check.output)!);
      }
      tf.dispose([v, out] as unknown as tf.TensorContainer);
      expect(tf.memory().numTensors).toBe(before);
    });

    it(`${m.id} [${backend}]: exp(logit_scale) is meta.json's logit_scale`, () => {
      const meta = JSON.parse(readFileSync(m.files['meta']!, 'utf8')) as { logit_scale: number };
      const scale = tf.tidy(() => tf.exp(clip.params.logit_scale).dataSync()[0]!);
      expect(scale).toBeCloseTo(meta.logit_scale, 5);
    });
  });
});
