/**
 * CLIP config resolution: transformers' defaults (v4.33 CLIPTextConfig / CLIPVisionConfig / CLIPConfig), the
 * pooling rule from eos_token_id, legacy *_config_dict merging, and loud typed errors for unknown keys, bad values,
 * unsupported activations and wrong model types.
 */
import { describe, expect, it } from 'vitest';
import { resolveClipConfig, resolveClipTextConfig, resolveClipVisionConfig } from './config.js';
import { ClipConfigError } from '../errors.js';

function configError(fn: () => unknown): ClipConfigError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(ClipConfigError);
    return e as ClipConfigError;
  }
  throw new Error('expected a ClipConfigError');
}

describe('resolveClipTextConfig', () => {
  it("fills transformers' defaults (the ViT-B/32 text tower)", () => {
    expect(resolveClipTextConfig({})).toEqual({
      vocabSize: 49408, hiddenSize: 512, intermediateSize: 2048, projectionDim: 512, numHiddenLayers: 12,
      numAttentionHeads: 8, headDim: 64, maxPositionEmbeddings: 77, hiddenAct: 'quick_gelu', layerNormEps: 1e-5,
      padTokenId: 1, bosTokenId: 49406, eosTokenId: 49407, pooling: 'eos',
    });
  });

  it('pools at argmax(input_ids) for the legacy eos_token_id 2, at the first EOS otherwise', () => {
    expect(resolveClipTextConfig({ eos_token_id: 2 }).pooling).toBe('argmax');
    expect(resolveClipTextConfig({ eos_token_id: 49407 }).pooling).toBe('eos');
  });

  it('accepts a hub config with generic PretrainedConfig keys (SD 1.x text_encoder/config.json)', () => {
    const sd15 = {
      _name_or_path: 'openai/clip-vit-large-patch14', architectures: ['CLIPTextModel'], attention_dropout: 0.0,
      bos_token_id: 0, dropout: 0.0, eos_token_id: 2, hidden_act: 'quick_gelu', hidden_size: 768,
      initializer_factor: 1.0, initializer_range: 0.02, intermediate_size: 3072, layer_norm_eps: 1e-5,
      max_position_embeddings: 77, model_type: 'clip_text_model', num_attention_heads: 12, num_hidden_layers: 12,
      pad_token_id: 1, projection_dim: 768, torch_dtype: 'float32', transformers_version: '4.22.0.dev0', vocab_size: 49408,
    };
    const cfg = resolveClipTextConfig(sd15);
    expect([cfg.hiddenSize, cfg.headDim, cfg.pooling]).toEqual([768, 64, 'argmax']);
  });

  it('rejects an unknown key, naming it and the file', () => {
    const e = configError(() => resolveClipTextConfig({ rope_theta: 10000 }, { file: 'te/config.json' }));
    expect([e.key, e.file]).toEqual(['rope_theta', 'te/config.json']);
    expect(e.message).toContain('te/config.json');
  });

  it('rejects an unsupported hidden_act and lists the supported ones', () => {
    const e = configError(() => resolveClipTextConfig({ hidden_act: 'relu' }));
    expect(e.key).toBe('hidden_act');
    expect(e.message).toContain('quick_gelu');
  });

  it.each([
    [{ hidden_size: 30, num_attention_heads: 4 }, 'num_attention_heads'],
    [{ hidden_size: 0 }, 'hidden_size'],
    [{ vocab_size: 1.5 }, 'vocab_size'],
    [{ layer_norm_eps: -1 }, 'layer_norm_eps'],
    [{ eos_token_id: -3 }, 'eos_token_id'],
    [{ model_type: 'clip_vision_model' }, 'model_type'],
    [{ pruned_heads: { 0: [1] } }, 'pruned_heads'],
  ])('rejects %j at key %s', (json, key) => {
    expect(configError(() => resolveClipTextConfig(json as Record<string, unknown>)).key).toBe(key);
  });
});

describe('resolveClipVisionConfig', () => {
  it("fills transformers' defaults (ViT-B/32) and derives the patch count", () => {
    const cfg = resolveClipVisionConfig({});
    expect([cfg.hiddenSize, cfg.numAttentionHeads, cfg.imageSize, cfg.patchSize, cfg.numPatches, cfg.numChannels]).toEqual([768, 12, 224, 32, 49, 3]);
  });

  it('rejects an image size that is not a multiple of the patch size', () => {
    expect(configError(() => resolveClipVisionConfig({ image_size: 30, patch_size: 8 })).key).toBe('patch_size');
  });
});

describe('resolveClipConfig', () => {
  it('resolves both towers and the joint projection size', () => {
    const cfg = resolveClipConfig({ projection_dim: 16, text_config: { hidden_size: 32, num_attention_heads: 4 }, vision_config: { patch_size: 8, image_size: 32 } });
    expect([cfg.projectionDim, cfg.text.hiddenSize, cfg.vision.numPatches, cfg.logitScaleInitValue]).toEqual([16, 32, 16, 2.6592]);
  });

  it('lays the legacy text_config_dict / vision_config_dict over the sub-configs', () => {
    const cfg = resolveClipConfig({ text_config: { hidden_size: 64, num_attention_heads: 4 }, text_config_dict: { hidden_size: 32 }, vision_config_dict: { patch_size: 16 } });
    expect([cfg.text.hiddenSize, cfg.text.numAttentionHeads, cfg.vision.patchSize]).toEqual([32, 4, 16]);
  });

  it('names nested keys with their sub-config', () => {
    const e = configError(() => resolveClipConfig({ vision_config: { patch_size: 'big' as unknown as number } }, { file: 'clip/config.json' }));
    expect([e.key, e.file]).toEqual(['vision_config.patch_size', 'clip/config.json']);
  });

  it('rejects an unknown top-level key and a non-object sub-config', () => {
    expect(configError(() => resolveClipConfig({ logit_bias_init_value: -10 })).key).toBe('logit_bias_init_value');
    expect(configError(() => resolveClipConfig({ text_config: [] as unknown as null })).key).toBe('text_config');
  });
});
