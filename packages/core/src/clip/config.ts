import { ClipConfigError } from '../errors.js';
/**
 * CLIP configs as transformers writes them (`CLIPTextConfig`, `CLIPVisionConfig`, `CLIPConfig`; the JSON keys
 * verbatim, snake_case included) and their resolution: transformers' defaults (v4.33) filled in, every value
 * checked, and loud errors for what we do not support (style.md 3.4). Models only see the resolved form.
 * @module
 */

/**
 * Activations CLIP configs name in `hidden_act` that we implement.
 *
 * @example
 * ```ts
 * CLIP_HIDDEN_ACTS.includes('gelu'); // true
 * ```
 */
export const CLIP_HIDDEN_ACTS = ['quick_gelu', 'gelu', 'gelu_new', 'gelu_pytorch_tanh'] as const;

/**
 * An activation name from `hidden_act`: `quick_gelu` = x·σ(1.702x) (OpenAI CLIP, SD1.x), `gelu` = exact erf GELU
 * (OpenCLIP, SD2.x), `gelu_new` / `gelu_pytorch_tanh` = the tanh approximation.
 *
 * @example
 * ```ts
 * const act: ClipHiddenAct = 'quick_gelu';
 * ```
 */
export type ClipHiddenAct = (typeof CLIP_HIDDEN_ACTS)[number];

/**
 * A `CLIPTextConfig` JSON (a CLIP text `config.json`, or the `text_config` of a `CLIPConfig`). Keys not listed
 * are transformers' generic `PretrainedConfig` keys, accepted when purely informational.
 *
 * @example
 * ```ts
 * const json: CLIPTextConfig = { hidden_size: 768, num_hidden_layers: 12, num_attention_heads: 12, hidden_act: 'quick_gelu' };
 * ```
 */
export interface CLIPTextConfig {
  vocab_size?: number;
  hidden_size?: number;
  intermediate_size?: number;
  projection_dim?: number;
  num_hidden_layers?: number;
  num_attention_heads?: number;
  max_position_embeddings?: number;
  hidden_act?: string;
  layer_norm_eps?: number;
  attention_dropout?: number;
  dropout?: number;
  initializer_range?: number;
  initializer_factor?: number;
  pad_token_id?: number | null;
  bos_token_id?: number | null;
  eos_token_id?: number | null;
  model_type?: string;
  architectures?: string[] | null;
  transformers_version?: string;
  [informational: string]: unknown;
}

/**
 * A `CLIPVisionConfig` JSON (a CLIP vision `config.json`, or the `vision_config` of a `CLIPConfig`).
 *
 * @example
 * ```ts
 * const json: CLIPVisionConfig = { hidden_size: 768, image_size: 224, patch_size: 32, projection_dim: 512 };
 * ```
 */
export interface CLIPVisionConfig {
  hidden_size?: number;
  intermediate_size?: number;
  projection_dim?: number;
  num_hidden_layers?: number;
  num_attention_heads?: number;
  num_channels?: number;
  image_size?: number;
  patch_size?: number;
  hidden_act?: string;
  layer_norm_eps?: number;
  attention_dropout?: number;
  dropout?: number;
  initializer_range?: number;
  initializer_factor?: number;
  model_type?: string;
  architectures?: string[] | null;
  transformers_version?: string;
  [informational: string]: unknown;
}

/**
 * A `CLIPConfig` JSON (`model_type: "clip"`): both towers plus the shared projection size. Older hub files also
 * carry `text_config_dict` / `vision_config_dict`, which transformers lays over the sub-configs; so do we.
 *
 * @example
 * ```ts
 * const json: CLIPConfig = { projection_dim: 512, text_config: { hidden_size: 512 }, vision_config: { patch_size: 32 } };
 * ```
 */
export interface CLIPConfig {
  text_config?: CLIPTextConfig | null;
  vision_config?: CLIPVisionConfig | null;
  text_config_dict?: CLIPTextConfig | null;
  vision_config_dict?: CLIPVisionConfig | null;
  projection_dim?: number;
  logit_scale_init_value?: number;
  initializer_factor?: number;
  model_type?: string;
  architectures?: string[] | null;
  transformers_version?: string;
  [informational: string]: unknown;
}

/**
 * The resolved text config the models use.
 *
 * @example
 * ```ts
 * const cfg = resolveClipTextConfig({}); // transformers' defaults (ViT-B/32 text tower)
 * cfg.headDim; // 64
 * ```
 */
export interface ResolvedClipTextConfig {
  vocabSize: number;
  hiddenSize: number;
  intermediateSize: number;
  projectionDim: number;
  numHiddenLayers: number;
  numAttentionHeads: number;
  /** `hidden_size / num_attention_heads`. */
  headDim: number;
  maxPositionEmbeddings: number;
  hiddenAct: ClipHiddenAct;
  layerNormEps: number;
  padTokenId: number | null;
  bosTokenId: number | null;
  eosTokenId: number | null;
  /**
   * Where the pooled output is read: `argmax` = at `input_ids.argmax(-1)` (transformers' legacy rule, used when
   * `eos_token_id == 2` as in most real CLIP configs, and OpenAI CLIP's rule); `eos` = at the first
   * `eos_token_id`.
   */
  pooling: 'argmax' | 'eos';
}

/**
 * The resolved vision config the models use.
 *
 * @example
 * ```ts
 * const cfg = resolveClipVisionConfig({ image_size: 224, patch_size: 32 });
 * cfg.numPatches; // 49
 * ```
 */
export interface ResolvedClipVisionConfig {
  hiddenSize: number;
  intermediateSize: number;
  projectionDim: number;
  numHiddenLayers: number;
  numAttentionHeads: number;
  headDim: number;
  numChannels: number;
  imageSize: number;
  patchSize: number;
  /** `(image_size / patch_size)²`. */
  numPatches: number;
  hiddenAct: ClipHiddenAct;
  layerNormEps: number;
}

/**
 * The resolved `CLIPConfig`: both towers and the projection size of the joint embedding space.
 *
 * @example
 * ```ts
 * const cfg = resolveClipConfig(JSON.parse(readFileSync('clip/config.json', 'utf8')));
 * cfg.projectionDim; // 512
 * ```
 */
export interface ResolvedClipConfig {
  text: ResolvedClipTextConfig;
  vision: ResolvedClipVisionConfig;
  /** Size of `text_projection` / `visual_projection` outputs in a `CLIPModel` (the top-level `projection_dim`). */
  projectionDim: number;
  logitScaleInitValue: number;
}

/**
 * Options of the resolve functions.
 *
 * @example
 * ```ts
 * resolveClipTextConfig(json, { file: 'text_encoder/config.json' }); // errors name the file
 * ```
 */
export interface ResolveConfigOptions {
  /** The config file, for error messages. */
  file?: string;
}

/** Generic `PretrainedConfig` keys that do not change a CLIP forward pass (generation, labels, bookkeeping). */
const INFORMATIONAL = new Set([
  '_name_or_path', '_commit_hash', 'transformers_version', 'architectures', 'torch_dtype', 'use_bfloat16',
  'return_dict', 'output_hidden_states', 'output_attentions', 'torchscript', 'tf_legacy_loss', 'tie_word_embeddings',
  'is_encoder_decoder', 'is_decoder', 'add_cross_attention', 'tie_encoder_decoder', 'cross_attention_hidden_size',
  'chunk_size_feed_forward', 'max_length', 'min_length', 'do_sample', 'early_stopping', 'num_beams',
  'num_beam_groups', 'diversity_penalty', 'temperature', 'top_k', 'top_p', 'typical_p', 'repetition_penalty',
  'length_penalty', 'no_repeat_ngram_size', 'encoder_no_repeat_ngram_size', 'bad_words_ids', 'num_return_sequences',
  'output_scores', 'return_dict_in_generate', 'forced_bos_token_id', 'forced_eos_token_id', 'remove_invalid_values',
  'exponential_decay_length_penalty', 'suppress_tokens', 'begin_suppress_tokens', 'finetuning_task', 'id2label',
  'label2id', 'num_labels', 'tokenizer_class', 'prefix', 'sep_token_id', 'decoder_start_token_id',
  'task_specific_params', 'problem_type', 'gradient_checkpointing', 'initializer_range', 'initializer_factor',
  'attention_dropout', 'dropout', 'pruned_heads',
]);

const TEXT_KEYS = new Set([
  'vocab_size', 'hidden_size', 'intermediate_size', 'projection_dim', 'num_hidden_layers', 'num_attention_heads',
  'max_position_embeddings', 'hidden_act', 'layer_norm_eps', 'pad_token_id', 'bos_token_id', 'eos_token_id', 'model_type',
]);
const VISION_KEYS = new Set([
  'hidden_size', 'intermediate_size', 'projection_dim', 'num_hidden_layers', 'num_attention_heads', 'num_channels',
  'image_size', 'patch_size', 'hidden_act', 'layer_norm_eps', 'model_type',
  // Generic token ids: meaningless for the vision tower; transformers serializes them anyway.
  'pad_token_id', 'bos_token_id', 'eos_token_id',
]);
const CLIP_KEYS = new Set([
  'text_config', 'vision_config', 'text_config_dict', 'vision_config_dict', 'projection_dim', 'logit_scale_init_value',
  'model_type', 'pad_token_id', 'bos_token_id', 'eos_token_id',
]);

/** Reads and checks one config: unknown keys, types, ranges. `prefix` dots nested keys in messages. */
class Reader {
  constructor(
    private readonly json: Record<string, unknown>,
    private readonly prefix: string,
    private readonly file: string | undefined,
  ) {}

  fail(key: string, detail: string): never {
    throw new ClipConfigError(this.prefix + key, detail, this.file);
  }

  checkKeys(material: ReadonlySet<string>, modelType: string): void {
    for (const key of Object.keys(this.json)) {
      if (!material.has(key) && !INFORMATIONAL.has(key)) {
        this.fail(key, `unknown key; not a ${modelType} config key we support (remove it if it is informational)`);
      }
    }
    const pruned = this.json['pruned_heads'];
    if (pruned !== undefined && pruned !== null && (typeof pruned !== 'object' || Object.keys(pruned).length > 0)) {
      this.fail('pruned_heads', 'pruned attention heads are not supported by CLIP models');
    }
    const type = this.json['model_type'];
    if (type !== undefined && type !== modelType) this.fail('model_type', `expected "${modelType}", got ${JSON.stringify(type)}`);
  }

  int(key: string, fallback: number, min = 1): number {
    const v = this.json[key] ?? fallback;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min) this.fail(key, `must be an integer >= ${min}, got ${JSON.stringify(v)}`);
    return v;
  }

  positive(key: string, fallback: number): number {
    const v = this.json[key] ?? fallback;
    if (typeof v !== 'number' || !(v > 0) || !Number.isFinite(v)) this.fail(key, `must be a positive number, got ${JSON.stringify(v)}`);
    return v;
  }

  tokenId(key: string, fallback: number): number | null {
    const v = key in this.json ? this.json[key] : fallback;
    if (v === null) return null;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 0) this.fail(key, `must be a non-negative integer or null, got ${JSON.stringify(v)}`);
    return v;
  }

  act(): ClipHiddenAct {
    const v = this.json['hidden_act'] ?? 'quick_gelu';
    if (!(CLIP_HIDDEN_ACTS as readonly unknown[]).includes(v)) {
      this.fail('hidden_act', `unsupported activation ${JSON.stringify(v)}; supported: ${CLIP_HIDDEN_ACTS.join(', ')}`);
    }
    return v as ClipHiddenAct;
  }

  heads(hidden: number, fallback: number): { heads: number; headDim: number } {
    const heads = this.int('num_attention_heads', fallback);
    if (hidden % heads !== 0) this.fail('num_attention_heads', `hidden_size ${hidden} is not divisible by ${heads} heads`);
    return { heads, headDim: hidden / heads };
  }
}

function asObject(json: unknown, key: string, file: string | undefined): Record<string, unknown> {
  if (json === undefined || json === null) return {};
  if (typeof json !== 'object' || Array.isArray(json)) throw new ClipConfigError(key || '(root)', 'must be a JSON object', file);
  return json as Record<string, unknown>;
}

function textConfig(json: unknown, prefix: string, file: string | undefined): ResolvedClipTextConfig {
  const r = new Reader(asObject(json, prefix.slice(0, -1), file), prefix, file);
  r.checkKeys(TEXT_KEYS, 'clip_text_model');
  const hiddenSize = r.int('hidden_size', 512);
  const { heads, headDim } = r.heads(hiddenSize, 8);
  const eosTokenId = r.tokenId('eos_token_id', 49407);
  return {
    vocabSize: r.int('vocab_size', 49408),
    hiddenSize,
    intermediateSize: r.int('intermediate_size', 2048),
    projectionDim: r.int('projection_dim', 512),
    numHiddenLayers: r.int('num_hidden_layers', 12),
    numAttentionHeads: heads,
    headDim,
    maxPositionEmbeddings: r.int('max_position_embeddings', 77),
    hiddenAct: r.act(),
    layerNormEps: r.positive('layer_norm_eps', 1e-5),
    padTokenId: r.tokenId('pad_token_id', 1),
    bosTokenId: r.tokenId('bos_token_id', 49406),
    eosTokenId,
    // transformers (since v4.31): `eos_token_id == 2` is the legacy value of old configs and keeps the argmax rule.
    pooling: eosTokenId === 2 || eosTokenId === null ? 'argmax' : 'eos',
  };
}

function visionConfig(json: unknown, prefix: string, file: string | undefined): ResolvedClipVisionConfig {
  const r = new Reader(asObject(json, prefix.slice(0, -1), file), prefix, file);
  r.checkKeys(VISION_KEYS, 'clip_vision_model');
  const hiddenSize = r.int('hidden_size', 768);
  const { heads, headDim } = r.heads(hiddenSize, 12);
  const imageSize = r.int('image_size', 224);
  const patchSize = r.int('patch_size', 32);
  if (imageSize % patchSize !== 0) r.fail('patch_size', `image_size ${imageSize} is not a multiple of patch_size ${patchSize}`);
  return {
    hiddenSize,
    intermediateSize: r.int('intermediate_size', 3072),
    projectionDim: r.int('projection_dim', 512),
    numHiddenLayers: r.int('num_hidden_layers', 12),
    numAttentionHeads: heads,
    headDim,
    numChannels: r.int('num_channels', 3),
    imageSize,
    patchSize,
    numPatches: (imageSize / patchSize) ** 2,
    hiddenAct: r.act(),
    layerNormEps: r.positive('layer_norm_eps', 1e-5),
  };
}

/**
 * Resolves a `CLIPTextConfig` JSON: transformers' defaults for absent keys, every value checked.
 *
 * @param json the parsed `config.json` (or a `CLIPConfig`'s `text_config`)
 * @param opts `file` for error messages
 * @throws ClipConfigError on an unknown key, a bad value, an unsupported `hidden_act` or a wrong `model_type`
 * @example
 * ```ts
 * const cfg = resolveClipTextConfig({ hidden_size: 768, num_attention_heads: 12, eos_token_id: 2 });
 * cfg.pooling; // 'argmax'
 * ```
 */
export function resolveClipTextConfig(json: CLIPTextConfig, opts: ResolveConfigOptions = {}): ResolvedClipTextConfig {
  return textConfig(json, '', opts.file);
}

/**
 * Resolves a `CLIPVisionConfig` JSON: transformers' defaults for absent keys, every value checked.
 *
 * @param json the parsed `config.json` (or a `CLIPConfig`'s `vision_config`)
 * @param opts `file` for error messages
 * @throws ClipConfigError on an unknown key, a bad value, an unsupported `hidden_act` or a wrong `model_type`
 * @example
 * ```ts
 * resolveClipVisionConfig({ image_size: 224, patch_size: 14, hidden_size: 1024, num_attention_heads: 16 }).numPatches; // 256
 * ```
 */
export function resolveClipVisionConfig(json: CLIPVisionConfig, opts: ResolveConfigOptions = {}): ResolvedClipVisionConfig {
  return visionConfig(json, '', opts.file);
}

/**
 * Resolves a `CLIPConfig` JSON (`model_type: "clip"`), laying the legacy `*_config_dict` keys over the
 * sub-configs as transformers does.
 *
 * @param json the parsed `config.json` of a full CLIP checkpoint
 * @param opts `file` for error messages
 * @throws ClipConfigError on an unknown key or a bad value anywhere in it (nested keys are dotted)
 * @example
 * ```ts
 * const cfg = resolveClipConfig({ projection_dim: 16, text_config: { hidden_size: 32, num_attention_heads: 4 } });
 * cfg.text.hiddenSize; // 32
 * ```
 */
export function resolveClipConfig(json: CLIPConfig, opts: ResolveConfigOptions = {}): ResolvedClipConfig {
  const r = new Reader(asObject(json, '', opts.file), '', opts.file);
  r.checkKeys(CLIP_KEYS, 'clip');
  const merge = (base: string, over: string) => ({
    ...asObject(json[base], base, opts.file),
    ...asObject(json[over], over, opts.file),
  });
  return {
    text: textConfig(merge('text_config', 'text_config_dict'), 'text_config.', opts.file),
    vision: visionConfig(merge('vision_config', 'vision_config_dict'), 'vision_config.', opts.file),
    projectionDim: r.int('projection_dim', 512),
    logitScaleInitValue: typeof json.logit_scale_init_value === 'number' ? json.logit_scale_init_value : 2.6592,
  };
}
