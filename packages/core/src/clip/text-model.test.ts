/**
 * The CLIP text model on tiny seeded random weights, on every available backend: properties that follow from
 * the architecture (causality, batch independence, pooling position, clip-skip, shorter sequences), typed errors
 * for bad ids, masks and options, strict parameter building, and no leaked tensors.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { MissingWeightError, OptionError, ShapeMismatchError } from '../errors.js';
import { UnexpectedWeightsError } from '../io/strict.js';
import { resolveClipConfig, type CLIPConfig } from './config.js';
import { TokenIdsError } from './model-errors.js';
import { buildClipTextParams } from './params.js';
import { availableBackends, TINY_CLIP_CONFIG, tinyClipWeights, useBackend } from './test-support.js';
import { ClipTextModel, ClipTextModelWithProjection } from './text-model.js';

const cfg = resolveClipConfig(TINY_CLIP_CONFIG);
const OTHER = { allowLeftovers: [/^vision_model\./, /^visual_projection\./, /^logit_scale$/] };
const EOS = cfg.text.eosTokenId!;
// BOS-like 48, words, EOS 49, padding 0 (7 = max_position_embeddings).
const IDS = [[48, 5, 17, 3, EOS, 0, 0], [48, 22, EOS, 0, 0, 0, 0]];

function maxDiff(a: tf.Tensor, b: tf.Tensor): number {
  return tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]!);
}

function thrown(fn: () => unknown): unknown {
  try {
    fn();
  } catch (e) {
    return e;
  }
  throw new Error('expected an error');
}

describe.each(await availableBackends())('CLIP text model (tiny random weights) on %s', (backend) => {
  let model: ClipTextModelWithProjection;
  let baseline: number;
  beforeAll(async () => {
    await useBackend(backend);
    baseline = tf.memory().numTensors;
    const { params } = buildClipTextParams(tinyClipWeights(), cfg.text, { ...OTHER, projection: true });
    model = new ClipTextModelWithProjection(cfg.text, { ...params, text_projection: params.text_projection! });
  });
  afterAll(() => {
    model.dispose();
    expect(tf.memory().numTensors).toBe(baseline);
  });

  it('returns every documented output with its shape, and leaks nothing', () => {
    const before = tf.memory().numTensors;
    const out = model.forward(IDS, { outputHiddenStates: true, clipSkip: 1 });
    const [b, l, c] = [2, 7, cfg.text.hiddenSize];
    expect(out.lastHiddenState.shape).toEqual([b, l, c]);
    expect(out.pooledOutput.shape).toEqual([b, c]);
    expect(out.textEmbeds.shape).toEqual([b, cfg.text.projectionDim]);
    expect(out.hiddenStates!.map((h) => h.shape)).toEqual(Array(cfg.text.numHiddenLayers + 1).fill([b, l, c]));
    expect(out.clipSkipState!.shape).toEqual([b, l, c]);
    tf.dispose(out as unknown as tf.TensorContainer);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('is causal: changing a later token leaves every earlier position of every layer unchanged', () => {
    tf.tidy(() => {
      const a = model.forward([IDS[0]!], { outputHiddenStates: true });
      const changed = [...IDS[0]!];
      changed[5] = 33;
      const b = model.forward([changed], { outputHiddenStates: true });
      a.hiddenStates!.forEach((h, i) => {
        expect(maxDiff(tf.slice(h, [0, 0, 0], [1, 5, -1]), tf.slice(b.hiddenStates![i]!, [0, 0, 0], [1, 5, -1]))).toBeLessThanOrEqual(1e-7);
      });
      expect(maxDiff(a.pooledOutput, b.pooledOutput)).toBeLessThanOrEqual(1e-7);
      expect(maxDiff(a.lastHiddenState, b.lastHiddenState)).toBeGreaterThan(1e-4); // position 5 itself changed
    });
  });

  it('treats batch rows independently', () => {
    tf.tidy(() => {
      const both = model.forward(IDS);
      IDS.forEach((row, i) => {
        const one = model.forward([row]);
        expect(maxDiff(tf.slice(both.textEmbeds, [i, 0], [1, -1]), one.textEmbeds)).toBeLessThan(1e-6);
      });
    });
  });

  it('pools at the first eos_token_id (eos rule) and at the first maximum id (argmax rule, eos_token_id 2)', () => {
    tf.tidy(() => {
      const out = model.forward(IDS);
      IDS.forEach((row, i) => {
        const at = row.indexOf(EOS);
        expect(maxDiff(tf.slice(out.pooledOutput, [i, 0], [1, -1]), tf.reshape(tf.slice(out.lastHiddenState, [i, at, 0], [1, 1, -1]), [1, -1]))).toBe(0);
      });
      const argmaxCfg = resolveClipConfig({ ...TINY_CLIP_CONFIG, text_config: { ...TINY_CLIP_CONFIG.text_config, eos_token_id: 2 } } as CLIPConfig).text;
      const argmax = new ClipTextModel(argmaxCfg, model.params);
      const row = [48, 5, 40, 3, 12, 0, 0]; // no EOS; 48 is the largest id, at 0
      const o = argmax.forward([row]);
      expect(maxDiff(o.pooledOutput, tf.reshape(tf.slice(o.lastHiddenState, [0, 0, 0], [1, 1, -1]), [1, -1]))).toBe(0);
    });
  });

  it('clipSkip 0 is the last hidden state; clipSkip N is final_layer_norm(embeddings)', () => {
    tf.tidy(() => {
      const n = cfg.text.numHiddenLayers;
      const zero = model.forward(IDS, { clipSkip: 0 });
      expect(maxDiff(zero.clipSkipState!, zero.lastHiddenState)).toBe(0);
      const full = model.forward(IDS, { clipSkip: n, outputHiddenStates: true });
      const p = model.params.text_model.final_layer_norm;
      const { mean, variance } = tf.moments(full.hiddenStates![0]!, -1, true);
      const want = tf.add(tf.mul(tf.div(tf.sub(full.hiddenStates![0]!, mean), tf.sqrt(tf.add(variance, cfg.text.layerNormEps))), p.weight), p.bias);
      expect(maxDiff(full.clipSkipState!, want)).toBeLessThan(1e-5);
    });
  });

  it('takes sequences shorter than max_position_embeddings, and int32 tensors as ids', () => {
    tf.tidy(() => {
      const short = model.forward([[48, 5, EOS]]);
      expect(short.lastHiddenState.shape).toEqual([1, 3, cfg.text.hiddenSize]);
      const long = model.forward([[48, 5, EOS, 0, 0, 0, 0]]);
      expect(maxDiff(short.pooledOutput, long.pooledOutput)).toBeLessThan(1e-6);
      const ids = tf.tensor2d(IDS, [2, 7], 'int32');
      const fromTensor = model.forward(ids);
      const fromArray = model.forward(IDS);
      expect(maxDiff(fromTensor.textEmbeds, fromArray.textEmbeds)).toBe(0);
    });
  });

  it('an attention mask leaves the real tokens unchanged when only trailing padding is masked', () => {
    tf.tidy(() => {
      const mask = IDS.map((row) => row.map((_, i) => (i <= row.indexOf(EOS) ? 1 : 0)));
      const plain = model.forward(IDS);
      const masked = model.forward(IDS, { attentionMask: mask });
      expect(maxDiff(plain.pooledOutput, masked.pooledOutput)).toBeLessThan(1e-6);
    });
  });

  it('rejects bad ids, masks and options with typed errors naming row and position, leaking nothing', () => {
    const before = tf.memory().numTensors;
    const oob = thrown(() => model.forward([[48, 5, 50, EOS]])) as TokenIdsError;
    expect(oob).toBeInstanceOf(TokenIdsError);
    expect([oob.row, oob.position]).toEqual([0, 2]);
    expect(oob.message).toContain('vocab_size');
    expect(thrown(() => model.forward([[48, -1, EOS]]))).toBeInstanceOf(TokenIdsError);
    expect(thrown(() => model.forward([[48, 1.5, EOS]]))).toBeInstanceOf(TokenIdsError);
    const noEos = thrown(() => model.forward([[48, 5, EOS], [48, 5, 6]])) as TokenIdsError;
    expect([noEos.constructor, noEos.row]).toEqual([TokenIdsError, 1]);
    expect(thrown(() => model.forward([[48, EOS], [48, 5, EOS]]))).toBeInstanceOf(ShapeMismatchError);
    expect(thrown(() => model.forward([[48, 1, 2, 3, 4, 5, 6, EOS]]))).toBeInstanceOf(ShapeMismatchError);
    expect(thrown(() => model.forward([]))).toBeInstanceOf(OptionError);
    const rank3 = tf.zeros([1, 1, 3], 'int32');
    expect(thrown(() => model.forward(rank3))).toBeInstanceOf(ShapeMismatchError);
    rank3.dispose();
    expect(thrown(() => model.forward(IDS, { clipSkip: cfg.text.numHiddenLayers + 1 }))).toBeInstanceOf(OptionError);
    expect(thrown(() => model.forward(IDS, { attentionMask: [[1, 1]] }))).toBeInstanceOf(ShapeMismatchError);
    expect(thrown(() => model.forward([[48, EOS]], { attentionMask: [[1, 2]] }))).toBeInstanceOf(TokenIdsError);
    expect(tf.memory().numTensors).toBe(before);
  });
});

describe('buildClipTextParams: strict loading', () => {
  beforeAll(() => useBackend('cpu'));

  it('names a missing weight and the file, with the nearest existing key', () => {
    const flat = tinyClipWeights();
    flat.delete('text_model.encoder.layers.1.mlp.fc2.bias');
    const e = thrown(() => buildClipTextParams(flat, cfg.text, { ...OTHER, file: 'te.safetensors' })) as MissingWeightError;
    expect(e).toBeInstanceOf(MissingWeightError);
    expect([e.key, e.file]).toEqual(['text_model.encoder.layers.1.mlp.fc2.bias', 'te.safetensors']);
  });

  it('names a misshaped weight with both shapes', () => {
    const flat = tinyClipWeights();
    flat.set('text_model.embeddings.position_embedding.weight', { dtype: 'float32', shape: [8, 8], data: new Float32Array(64) });
    const e = thrown(() => buildClipTextParams(flat, cfg.text, OTHER)) as ShapeMismatchError;
    expect(e).toBeInstanceOf(ShapeMismatchError);
    expect([e.key, e.expected, e.actual]).toEqual(['text_model.embeddings.position_embedding.weight', [7, 8], [8, 8]]);
  });

  it('reports unexpected weights, but ignores the position_ids buffer and (without projection) text_projection', () => {
    const flat = tinyClipWeights();
    flat.set('text_model.embeddings.position_ids', { dtype: 'int64', shape: [1, 7], data: new BigInt64Array(7) });
    const { params, leftovers } = buildClipTextParams(flat, cfg.text, OTHER);
    expect(params.text_projection).toBeUndefined();
    expect(leftovers).toContain('text_model.embeddings.position_ids');
    expect(leftovers).toContain('text_projection.weight');
    tf.dispose(params as unknown as tf.TensorContainer);
    flat.set('text_model.encoder.layers.0.self_attn.rotary.weight', { dtype: 'float32', shape: [1], data: new Float32Array(1) });
    expect(thrown(() => buildClipTextParams(flat, cfg.text, OTHER))).toBeInstanceOf(UnexpectedWeightsError);
  });

  it('transposes linear weights once to [in, out] and widens nothing else', () => {
    const flat = tinyClipWeights();
    const { params } = buildClipTextParams(flat, cfg.text, { ...OTHER, projection: true });
    const raw = flat.get('text_model.encoder.layers.0.mlp.fc1.weight')!; // [12, 8] as stored
    const w = params.text_model.encoder.layers[0]!.mlp.fc1.weight;
    expect(w.shape).toEqual([8, 12]);
    expect(w.arraySync()[3]![5]).toBe((raw.data as Float32Array)[5 * 8 + 3]);
    expect(params.text_projection!.weight.shape).toEqual([cfg.text.hiddenSize, cfg.projectionDim]);
    tf.dispose(params as unknown as tf.TensorContainer);
  });
});
