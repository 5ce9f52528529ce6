/**
 * OpenAI CLIP checkpoints on a tiny random model: a transformers-keyed checkpoint rewritten in OpenAI's layout
 * (packed q/k/v in_proj, [in, out] projections, the JIT-only int entries) loads through loadOpenAiClip to the same
 * model bit for bit, with the config build_model would infer; unknown keys, ResNet towers, missing tensors and a
 * bad packed projection give typed errors.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CheckpointFormatError, MissingWeightError, ShapeMismatchError } from '../errors.js';
import { UnexpectedWeightsError, writeSafetensors } from '../io/index.js';
import type { RawTensor } from '../io/types.js';
import { resolveClipConfig, type CLIPConfig } from './config.js';
import { loadOpenAiClip, openAiClipConfig, openAiClipToHf } from './openai-checkpoint.js';
import { buildClipModelParams } from './params.js';
import { ClipModel } from './similarity.js';
import { tinyClipWeights, useBackend } from './test-support.js';

/** OpenAI's shapes: heads = width / 64, MLP 4x, QuickGELU, argmax pooling (eos_token_id 2). */
const OPENAI_TINY: CLIPConfig = {
  model_type: 'clip',
  projection_dim: 16,
  text_config: {
    vocab_size: 50, hidden_size: 64, intermediate_size: 256, num_hidden_layers: 2, num_attention_heads: 1,
    max_position_embeddings: 7, projection_dim: 16, hidden_act: 'quick_gelu', eos_token_id: 2,
  },
  vision_config: {
    hidden_size: 128, intermediate_size: 512, num_hidden_layers: 1, num_attention_heads: 2, image_size: 8,
    patch_size: 4, projection_dim: 16, hidden_act: 'quick_gelu',
  },
};
const IDS = [[48, 5, 17, 49, 0, 0, 0], [48, 22, 49, 0, 0, 0, 0]];

const t2d = (t: RawTensor): RawTensor => {
  const [r, c] = t.shape as [number, number];
  const src = t.data as Float32Array;
  return { dtype: 'float32', shape: [c, r], data: Float32Array.from({ length: r * c }, (_, k) => src[(k % r) * c + Math.floor(k / r)]!) };
};
const cat = (ts: RawTensor[]): RawTensor => ({
  dtype: 'float32', shape: [ts.reduce((n, t) => n + t.shape[0]!, 0), ...ts[0]!.shape.slice(1)],
  data: Float32Array.from(ts.flatMap((t) => Array.from(t.data as Float32Array))),
});

/** The HF-keyed weights in OpenAI's key layout (the inverse of transformers' conversion script). */
function toOpenAi(hf: Map<string, RawTensor>): Map<string, RawTensor> {
  const get = (k: string) => hf.get(k)!;
  const out = new Map<string, RawTensor>();
  for (const [hfTower, oa, layers] of [['text_model', 'transformer', 2], ['vision_model', 'visual.transformer', 1]] as const) {
    for (let i = 0; i < layers; i++) {
      const [p, q] = [`${hfTower}.encoder.layers.${i}`, `${oa}.resblocks.${i}`];
      for (const w of ['weight', 'bias']) {
        out.set(`${q}.attn.in_proj_${w}`, cat(['q', 'k', 'v'].map((n) => get(`${p}.self_attn.${n}_proj.${w}`))));
        out.set(`${q}.attn.out_proj.${w}`, get(`${p}.self_attn.out_proj.${w}`));
        out.set(`${q}.ln_1.${w}`, get(`${p}.layer_norm1.${w}`));
        out.set(`${q}.ln_2.${w}`, get(`${p}.layer_norm2.${w}`));
        out.set(`${q}.mlp.c_fc.${w}`, get(`${p}.mlp.fc1.${w}`));
        out.set(`${q}.mlp.c_proj.${w}`, get(`${p}.mlp.fc2.${w}`));
      }
    }
  }
  const rename: Record<string, string> = {
    'text_model.embeddings.token_embedding.weight': 'token_embedding.weight',
    'text_model.embeddings.position_embedding.weight': 'positional_embedding',
    'text_model.final_layer_norm.weight': 'ln_final.weight', 'text_model.final_layer_norm.bias': 'ln_final.bias',
    'vision_model.embeddings.class_embedding': 'visual.class_embedding',
    'vision_model.embeddings.patch_embedding.weight': 'visual.conv1.weight',
    'vision_model.embeddings.position_embedding.weight': 'visual.positional_embedding',
    'vision_model.pre_layrnorm.weight': 'visual.ln_pre.weight', 'vision_model.pre_layrnorm.bias': 'visual.ln_pre.bias',
    'vision_model.post_layernorm.weight': 'visual.ln_post.weight', 'vision_model.post_layernorm.bias': 'visual.ln_post.bias',
    logit_scale: 'logit_scale',
  };
  for (const [from, to] of Object.entries(rename)) out.set(to, get(from));
  out.set('text_projection', t2d(get('text_projection.weight')));
  out.set('visual.proj', t2d(get('visual_projection.weight')));
  return out;
}

let root: string;
let hf: Map<string, RawTensor>;
let openai: Map<string, RawTensor>;
beforeAll(async () => {
  await useBackend('cpu');
  root = await mkdtemp(join(tmpdir(), 'semedit-clip-openai-'));
  hf = tinyClipWeights(OPENAI_TINY, 11);
  openai = toOpenAi(hf);
});
afterAll(() => rm(root, { recursive: true, force: true }));

describe('loadOpenAiClip', () => {
  it("infers build_model's config and loads the same model as the transformers-keyed weights, bit for bit", async () => {
    expect(resolveClipConfig(openAiClipConfig(openai))).toEqual(resolveClipConfig(OPENAI_TINY));
    const file = join(root, 'ViT-tiny.safetensors');
    const jitExtras = [['input_resolution', 8], ['context_length', 7], ['vocab_size', 50]] as const;
    const withExtras = new Map(openai);
    for (const [k, v] of jitExtras) withExtras.set(k, { dtype: 'int64', shape: [], data: new BigInt64Array([BigInt(v)]) });
    await writeSafetensors(file, withExtras);
    const clip = await loadOpenAiClip(file);
    const cfg = resolveClipConfig(OPENAI_TINY);
    const reference = new ClipModel(cfg, buildClipModelParams(hf, cfg).params);
    const pixels = tf.randomNormal([2, 8, 8, 3], 0, 1, 'float32', 1);
    tf.tidy(() => {
      const [a, b] = [clip.forward(IDS, pixels), reference.forward(IDS, pixels)];
      expect(tf.max(tf.abs(tf.sub(a.logitsPerImage, b.logitsPerImage))).dataSync()[0]).toBe(0);
      expect(tf.max(tf.abs(tf.sub(a.textEmbeds, b.textEmbeds))).dataSync()[0]).toBe(0);
    });
    expect(clip.leftovers).toEqual([]);
    [clip, reference, pixels].forEach((x) => x.dispose());
  });

  it('splits the packed in_proj into q, k, v thirds and transposes the projections to [out, in]', () => {
    const converted = openAiClipToHf(openai);
    for (const key of ['text_model.encoder.layers.1.self_attn.k_proj.bias', 'vision_model.encoder.layers.0.self_attn.v_proj.weight', 'text_projection.weight', 'visual_projection.weight']) {
      expect(Array.from(converted.get(key)!.data as Float32Array)).toEqual(Array.from(hf.get(key)!.data as Float32Array));
      expect(converted.get(key)!.shape).toEqual(hf.get(key)!.shape);
    }
  });

  it('rejects unknown keys, ResNet image towers, a missing tensor and a packed projection not divisible by 3', async () => {
    const unknown = new Map(openai).set('visual.transformer.resblocks.0.attn.rotary', { dtype: 'float32', shape: [1], data: new Float32Array(1) });
    const u = (() => { try { openAiClipToHf(unknown, 'x.pt'); } catch (e) { return e as UnexpectedWeightsError; } throw new Error('no error'); })();
    expect(u).toBeInstanceOf(UnexpectedWeightsError);
    expect([u.keys, u.file]).toEqual([['visual.transformer.resblocks.0.attn.rotary'], 'x.pt']);
    const resnet = new Map(openai).set('visual.layer1.0.conv1.weight', { dtype: 'float32', shape: [1, 1, 1, 1], data: new Float32Array(1) });
    expect(() => openAiClipToHf(resnet)).toThrow(CheckpointFormatError);
    expect(() => openAiClipToHf(resnet)).toThrow(/ModifiedResNet/);
    const noLn = new Map(openai);
    noLn.delete('ln_final.weight');
    expect(() => openAiClipConfig(noLn, 'y.pt')).toThrow(MissingWeightError);
    const file = join(root, 'missing.safetensors');
    const noBlock = new Map(openai);
    noBlock.delete('transformer.resblocks.1.mlp.c_proj.bias');
    await writeSafetensors(file, noBlock);
    await expect(loadOpenAiClip(file)).rejects.toThrow(MissingWeightError);
    const bad = new Map(openai).set('transformer.resblocks.0.attn.in_proj_bias', { dtype: 'float32', shape: [100], data: new Float32Array(100) });
    expect(() => openAiClipToHf(bad)).toThrow(ShapeMismatchError);
  });
});
