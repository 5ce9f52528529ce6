/**
 * CLIP parameter trees, keyed exactly like transformers' state dicts (`text_model.encoder.layers.0.self_attn.q_proj`
 * → `params.text_model.encoder.layers[0].self_attn.q_proj`), and their strict construction from a flat map of
 * checkpoint tensors in HF layout: every expected key present with its shape, leftovers reported, linear weights
 * transposed once to `[in, out]`, the patch conv to HWIO (style.md 3.2, rules 2-3).
 * @module
 */
import * as tf from '@tensorflow/tfjs-core';
import type { RawTensor } from '../io/types.js';
import { takeExpected } from '../io/strict.js';
import { convWeightToHwio, linearWeightToInOut, rawToTensor } from '../tensor/layout.js';
import type { ResolvedClipTextConfig, ResolvedClipVisionConfig } from './config.js';
import type { ClipEncoderLayerParams, ClipEncoderParams } from './encoder.js';
import type { LayerNormParams, LinearParams } from './layers.js';

/**
 * `CLIPTextTransformer` parameters (`text_model.*`).
 *
 * @example
 * ```ts
 * params.text_model.embeddings.token_embedding.weight.shape; // [49408, 768]
 * ```
 */
export interface ClipTextTransformerParams {
  embeddings: {
    /** `[vocab_size, hidden]`. */
    token_embedding: { weight: tf.Tensor2D };
    /** `[max_position_embeddings, hidden]`. */
    position_embedding: { weight: tf.Tensor2D };
  };
  encoder: ClipEncoderParams;
  final_layer_norm: LayerNormParams;
}

/**
 * `CLIPVisionTransformer` parameters (`vision_model.*`; `pre_layrnorm` spelled as transformers spells it).
 *
 * @example
 * ```ts
 * params.vision_model.embeddings.patch_embedding.weight.shape; // [32, 32, 3, 768] (HWIO)
 * ```
 */
export interface ClipVisionTransformerParams {
  embeddings: {
    /** `[hidden]`, the CLS token. */
    class_embedding: tf.Tensor1D;
    /** Patch conv kernel, HWIO `[patch, patch, channels, hidden]` (no bias). */
    patch_embedding: { weight: tf.Tensor4D };
    /** `[num_patches + 1, hidden]`. */
    position_embedding: { weight: tf.Tensor2D };
  };
  pre_layrnorm: LayerNormParams;
  encoder: ClipEncoderParams;
  post_layernorm: LayerNormParams;
}

/**
 * `CLIPTextModel(WithProjection)` parameters; `text_projection.weight` is `[hidden, projection_dim]` (bias-free).
 *
 * @example
 * ```ts
 * const { params } = buildClipTextParams(flat, cfg, { projection: true });
 * ```
 */
export interface ClipTextModelParams {
  text_model: ClipTextTransformerParams;
  text_projection?: { weight: tf.Tensor2D };
}

/**
 * `CLIPVisionModel(WithProjection)` parameters; `visual_projection.weight` is `[hidden, projection_dim]`.
 *
 * @example
 * ```ts
 * const { params } = buildClipVisionParams(flat, cfg, { projection: true });
 * ```
 */
export interface ClipVisionModelParams {
  vision_model: ClipVisionTransformerParams;
  visual_projection?: { weight: tf.Tensor2D };
}

/**
 * `CLIPModel` parameters: both towers, both projections and `logit_scale` (stored as a log value).
 *
 * @example
 * ```ts
 * tf.exp(params.logit_scale).dataSync()[0]; // ≈ 100 for trained CLIPs
 * ```
 */
export interface ClipModelParams {
  text_model: ClipTextTransformerParams;
  vision_model: ClipVisionTransformerParams;
  text_projection: { weight: tf.Tensor2D };
  visual_projection: { weight: tf.Tensor2D };
  logit_scale: tf.Scalar;
}

/**
 * Options of the build functions.
 *
 * @example
 * ```ts
 * const o: BuildParamsOptions = { file: 'model.safetensors', projection: true, allowLeftovers: [/^vision_model\./] };
 * ```
 */
export interface BuildParamsOptions {
  /** Checkpoint name for error messages. */
  file?: string;
  /** Take the tower's projection (`text_projection` / `visual_projection`): true, or its output size. Default false. */
  projection?: boolean | number;
  /** Further keys that may be left unused (e.g. the other tower of a full CLIP checkpoint). */
  allowLeftovers?: readonly RegExp[];
}

/**
 * A built tree and the checkpoint keys it did not use (all of them allowed).
 *
 * @example
 * ```ts
 * const { params, leftovers } = buildClipTextParams(flat, cfg); // leftovers: ['text_projection.weight']
 * ```
 */
export interface BuiltParams<P> {
  params: P;
  leftovers: string[];
}

/** Buffers real checkpoints carry that are not parameters (`position_ids`, int64 `[1, L]`). */
const BUFFERS = /^(text|vision)_model\.embeddings\.position_ids$/;

type Shapes = Record<string, (number | null)[]>;

function encoderShapes(prefix: string, layers: number, hidden: number, inter: number): Shapes {
  const s: Shapes = {};
  for (let i = 0; i < layers; i++) {
    const p = `${prefix}.encoder.layers.${i}`;
    for (const proj of ['q_proj', 'k_proj', 'v_proj', 'out_proj']) {
      s[`${p}.self_attn.${proj}.weight`] = [hidden, hidden];
      s[`${p}.self_attn.${proj}.bias`] = [hidden];
    }
    for (const ln of ['layer_norm1', 'layer_norm2']) [s[`${p}.${ln}.weight`], s[`${p}.${ln}.bias`]] = [[hidden], [hidden]];
    [s[`${p}.mlp.fc1.weight`], s[`${p}.mlp.fc1.bias`]] = [[inter, hidden], [inter]];
    [s[`${p}.mlp.fc2.weight`], s[`${p}.mlp.fc2.bias`]] = [[hidden, inter], [hidden]];
  }
  return s;
}

/**
 * Every tensor a CLIP text model takes, with its checkpoint shape (HF layout, linear weights `[out, in]`).
 *
 * @param cfg        resolved text config
 * @param projection include `text_projection.weight` with this output size (false: none)
 * @example
 * ```ts
 * clipTextExpectedShapes(cfg, 16)['text_projection.weight']; // [16, 32]
 * ```
 */
export function clipTextExpectedShapes(cfg: ResolvedClipTextConfig, projection: number | false): Shapes {
  const h = cfg.hiddenSize;
  return {
    'text_model.embeddings.token_embedding.weight': [cfg.vocabSize, h],
    'text_model.embeddings.position_embedding.weight': [cfg.maxPositionEmbeddings, h],
    ...encoderShapes('text_model', cfg.numHiddenLayers, h, cfg.intermediateSize),
    'text_model.final_layer_norm.weight': [h],
    'text_model.final_layer_norm.bias': [h],
    ...(projection === false ? {} : { 'text_projection.weight': [projection, h] }),
  };
}

/**
 * Every tensor a CLIP vision model takes, with its checkpoint shape (HF layout; patch conv OIHW).
 *
 * @param cfg        resolved vision config
 * @param projection include `visual_projection.weight` with this output size (false: none)
 * @example
 * ```ts
 * clipVisionExpectedShapes(cfg, false)['vision_model.embeddings.class_embedding']; // [768]
 * ```
 */
export function clipVisionExpectedShapes(cfg: ResolvedClipVisionConfig, projection: number | false): Shapes {
  const h = cfg.hiddenSize;
  return {
    'vision_model.embeddings.class_embedding': [h],
    'vision_model.embeddings.patch_embedding.weight': [h, cfg.numChannels, cfg.patchSize, cfg.patchSize],
    'vision_model.embeddings.position_embedding.weight': [cfg.numPatches + 1, h],
    'vision_model.pre_layrnorm.weight': [h],
    'vision_model.pre_layrnorm.bias': [h],
    ...encoderShapes('vision_model', cfg.numHiddenLayers, h, cfg.intermediateSize),
    'vision_model.post_layernorm.weight': [h],
    'vision_model.post_layernorm.bias': [h],
    ...(projection === false ? {} : { 'visual_projection.weight': [projection, h] }),
  };
}

/** Converts taken tensors into tree nodes by key. */
class TreeBuilder {
  constructor(private readonly taken: ReadonlyMap<string, RawTensor>) {}

  private raw(key: string): RawTensor {
    return this.taken.get(key)!; // every key was checked present by takeExpected
  }
  tensor<T extends tf.Tensor>(key: string): T {
    return rawToTensor(this.raw(key), key) as T;
  }
  linear(key: string, bias = true): LinearParams {
    const weight = linearWeightToInOut(this.raw(`${key}.weight`), `${key}.weight`);
    return bias ? { weight, bias: this.tensor<tf.Tensor1D>(`${key}.bias`) } : { weight };
  }
  conv(key: string): tf.Tensor4D {
    return convWeightToHwio(this.raw(key), key);
  }
  norm(key: string): LayerNormParams {
    return { weight: this.tensor(`${key}.weight`), bias: this.tensor(`${key}.bias`) };
  }
  encoder(prefix: string, layers: number): ClipEncoderParams {
    const out: ClipEncoderLayerParams[] = [];
    for (let i = 0; i < layers; i++) {
      const p = `${prefix}.encoder.layers.${i}`;
      out.push({
        self_attn: {
          q_proj: this.linear(`${p}.self_attn.q_proj`),
          k_proj: this.linear(`${p}.self_attn.k_proj`),
          v_proj: this.linear(`${p}.self_attn.v_proj`),
          out_proj: this.linear(`${p}.self_attn.out_proj`),
        },
        layer_norm1: this.norm(`${p}.layer_norm1`),
        mlp: { fc1: this.linear(`${p}.mlp.fc1`), fc2: this.linear(`${p}.mlp.fc2`) },
        layer_norm2: this.norm(`${p}.layer_norm2`),
      });
    }
    return { layers: out };
  }
  textTransformer(cfg: ResolvedClipTextConfig): ClipTextTransformerParams {
    return {
      embeddings: {
        token_embedding: { weight: this.tensor('text_model.embeddings.token_embedding.weight') },
        position_embedding: { weight: this.tensor('text_model.embeddings.position_embedding.weight') },
      },
      encoder: this.encoder('text_model', cfg.numHiddenLayers),
      final_layer_norm: this.norm('text_model.final_layer_norm'),
    };
  }
  visionTransformer(cfg: ResolvedClipVisionConfig): ClipVisionTransformerParams {
    return {
      embeddings: {
        class_embedding: this.tensor('vision_model.embeddings.class_embedding'),
        patch_embedding: { weight: this.conv('vision_model.embeddings.patch_embedding.weight') },
        position_embedding: { weight: this.tensor('vision_model.embeddings.position_embedding.weight') },
      },
      pre_layrnorm: this.norm('vision_model.pre_layrnorm'),
      encoder: this.encoder('vision_model', cfg.numHiddenLayers),
      post_layernorm: this.norm('vision_model.post_layernorm'),
    };
  }
}

function projectionSize(opt: boolean | number | undefined, fallback: number): number | false {
  if (opt === undefined || opt === false) return false;
  return opt === true ? fallback : opt;
}

/**
 * Builds a text model's tree from HF-keyed checkpoint tensors, strictly. Tolerated leftovers: the
 * `position_ids` buffer, `text_projection.weight` when no projection is asked for, and `opts.allowLeftovers`.
 *
 * @param flat tensors by HF key (`text_model.*`, `text_projection.weight`), as read from the checkpoint
 * @param cfg  resolved text config
 * @param opts `file`, `projection`, `allowLeftovers`
 * @throws MissingWeightError, ShapeMismatchError (naming key and file), UnexpectedWeightsError
 * @example
 * ```ts
 * const { tensors } = await readCheckpoint('text_encoder/model.safetensors');
 * const { params } = buildClipTextParams(tensors, cfg, { projection: true, file: 'model.safetensors' });
 * ```
 */
export function buildClipTextParams(
  flat: ReadonlyMap<string, RawTensor>,
  cfg: ResolvedClipTextConfig,
  opts: BuildParamsOptions = {},
): BuiltParams<ClipTextModelParams> {
  const projection = projectionSize(opts.projection, cfg.projectionDim);
  const allow = [BUFFERS, ...(projection === false ? [/^text_projection\.weight$/] : []), ...(opts.allowLeftovers ?? [])];
  const { tensors, leftovers } = takeExpected(flat, clipTextExpectedShapes(cfg, projection), { file: opts.file, allowLeftovers: allow });
  const b = new TreeBuilder(tensors);
  const params: ClipTextModelParams = { text_model: b.textTransformer(cfg) };
  if (projection !== false) params.text_projection = { weight: b.linear('text_projection', false).weight };
  return { params, leftovers };
}

/**
 * Builds a vision model's tree from HF-keyed checkpoint tensors, strictly (see {@link buildClipTextParams}).
 *
 * @param flat tensors by HF key (`vision_model.*`, `visual_projection.weight`)
 * @param cfg  resolved vision config
 * @param opts `file`, `projection`, `allowLeftovers`
 * @throws MissingWeightError, ShapeMismatchError, UnexpectedWeightsError
 * @example
 * ```ts
 * const { params } = buildClipVisionParams(tensors, cfg, { projection: true, allowLeftovers: [/^text_/, /^logit_scale$/] });
 * ```
 */
export function buildClipVisionParams(
  flat: ReadonlyMap<string, RawTensor>,
  cfg: ResolvedClipVisionConfig,
  opts: BuildParamsOptions = {},
): BuiltParams<ClipVisionModelParams> {
  const projection = projectionSize(opts.projection, cfg.projectionDim);
  const allow = [BUFFERS, ...(projection === false ? [/^visual_projection\.weight$/] : []), ...(opts.allowLeftovers ?? [])];
  const { tensors, leftovers } = takeExpected(flat, clipVisionExpectedShapes(cfg, projection), { file: opts.file, allowLeftovers: allow });
  const b = new TreeBuilder(tensors);
  const params: ClipVisionModelParams = { vision_model: b.visionTransformer(cfg) };
  if (projection !== false) params.visual_projection = { weight: b.linear('visual_projection', false).weight };
  return { params, leftovers };
}

/**
 * Builds a full `CLIPModel` tree (both towers, both projections of size `projectionDim`, `logit_scale`; a
 * `logit_scale` stored with shape `[1]` is read as the scalar).
 *
 * @param flat          tensors by HF key
 * @param cfg           resolved text and vision configs and the joint `projectionDim`
 * @param opts          `file`, `allowLeftovers`
 * @throws MissingWeightError, ShapeMismatchError, UnexpectedWeightsError
 * @example
 * ```ts
 * const { params } = buildClipModelParams(tensors, resolveClipConfig(json));
 * ```
 */
export function buildClipModelParams(
  flat: ReadonlyMap<string, RawTensor>,
  cfg: { text: ResolvedClipTextConfig; vision: ResolvedClipVisionConfig; projectionDim: number },
  opts: Omit<BuildParamsOptions, 'projection'> = {},
): BuiltParams<ClipModelParams> {
  const expected = {
    ...clipTextExpectedShapes(cfg.text, cfg.projectionDim),
    ...clipVisionExpectedShapes(cfg.vision, cfg.projectionDim),
    logit_scale: [],
  };
  // logit_scale is 0-d in transformers and OpenAI CLIP; some files store it as [1]: read that as the scalar.
  const scale = flat.get('logit_scale');
  const source = scale?.shape.length === 1 && scale.shape[0] === 1 ? new Map(flat).set('logit_scale', { ...scale, shape: [] }) : flat;
  const { tensors, leftovers } = takeExpected(source, expected, { file: opts.file, allowLeftovers: [BUFFERS, ...(opts.allowLeftovers ?? [])] });
  const b = new TreeBuilder(tensors);
  const params: ClipModelParams = {
    text_model: b.textTransformer(cfg.text),
    vision_model: b.visionTransformer(cfg.vision),
    text_projection: { weight: b.linear('text_projection', false).weight },
    visual_projection: { weight: b.linear('visual_projection', false).weight },
    logit_scale: b.tensor<tf.Scalar>('logit_scale'),
  };
  return { params, leftovers };
}

/**
 * Disposes every tensor of a parameter tree.
 *
 * @param params any CLIP parameter tree
 * @example
 * ```ts
 * disposeClipParams(model.params);
 * ```
 */
export function disposeClipParams(params: ClipTextModelParams | ClipVisionModelParams | ClipModelParams): void {
  tf.dispose(params as unknown as tf.TensorContainer);
}
