/**
 * OpenAI CLIP checkpoints (`clip.load`'s `ViT-*.pt`: TorchScript archives or plain state dicts, and any file in
 * OpenAI's key layout): the config inferred from the tensor shapes exactly as `clip.model.build_model` does, and a
 * regex → conversion table from OpenAI keys to transformers' `CLIPModel` keys (the packed `in_proj_weight` split
 * into q/k/v, the `[in, out]` projections transposed to HF's `[out, in]`). Only ViT image towers exist in this
 * layout that we support; the ModifiedResNet ones (RN50, …) are refused by name.
 * @module
 */
import { CheckpointFormatError, MissingWeightError, ShapeMismatchError } from '../errors.js';
import { readCheckpoint } from '../io/checkpoint.js';
import type { TensorData } from '../io/dtype.js';
import { UnexpectedWeightsError } from '../io/strict.js';
import type { RawTensor } from '../io/types.js';
import { resolveClipConfig, type CLIPConfig } from './config.js';
import { buildClipModelParams } from './params.js';
import { ClipModel } from './similarity.js';

/** Rows `[start, end)` of a tensor along its first axis (a view, no copy). */
function sliceRows(t: RawTensor, start: number, end: number): RawTensor {
  const inner = t.shape.slice(1).reduce((a, b) => a * b, 1);
  const data = (t.data as unknown as { subarray(a: number, b: number): TensorData }).subarray(start * inner, end * inner);
  return { dtype: t.dtype, shape: [end - start, ...t.shape.slice(1)], data };
}

/** A 2-D tensor transposed (a copy of the same dtype). */
function transpose2d(t: RawTensor, key: string): RawTensor {
  if (t.shape.length !== 2) throw new ShapeMismatchError(key, [null, null], t.shape);
  const [rows, cols] = t.shape as [number, number];
  const src = t.data as unknown as ArrayLike<number | bigint>;
  const out = new (t.data.constructor as new (n: number) => TensorData)(rows * cols);
  const dst = out as unknown as { [i: number]: number | bigint };
  for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) dst[j * rows + i] = src[i * cols + j]!;
  return { dtype: t.dtype, shape: [cols, rows], data: out };
}

/** One converted tensor: target key and optional conversion of the source tensor. */
type Target = readonly [key: string, convert?: (t: RawTensor, key: string) => RawTensor];

/**
 * One rule of the OpenAI → transformers table: a regex on the OpenAI key and the target(s) it becomes.
 *
 * @example
 * ```ts
 * const rule: OpenAiClipRule = [/^ln_final\.(weight|bias)$/, (m) => [[`text_model.final_layer_norm.${m[1]}`]]];
 * ```
 */
export type OpenAiClipRule = readonly [RegExp, (m: RegExpExecArray) => readonly Target[]];

const tower = (visual: string | undefined) => (visual ? 'vision_model' : 'text_model');
const layer = (m: RegExpExecArray) => `${tower(m[1])}.encoder.layers.${m[2]}`;
const transpose = (t: RawTensor, key: string) => transpose2d(t, key);
/** The q, k or v third of a packed `in_proj_weight` `[3W, W]` / `in_proj_bias` `[3W]` (q, k, v order). */
const third = (i: number) => (t: RawTensor, key: string) => {
  const n = t.shape[0] ?? 0;
  if (n % 3 !== 0) throw new ShapeMismatchError(key, [null, ...t.shape.slice(1)], t.shape);
  return sliceRows(t, (i * n) / 3, ((i + 1) * n) / 3);
};

/**
 * The OpenAI → transformers key table (`convert_clip_original_pytorch_to_hf.py`'s mapping, written as rules).
 *
 * @example
 * ```ts
 * OPENAI_CLIP_RULES.length; // 17
 * ```
 */
export const OPENAI_CLIP_RULES: readonly OpenAiClipRule[] = [
  [/^(visual\.)?transformer\.resblocks\.(\d+)\.attn\.in_proj_(weight|bias)$/, (m) =>
    (['q', 'k', 'v'] as const).map((n, i) => [`${layer(m)}.self_attn.${n}_proj.${m[3]}`, third(i)] as const)],
  [/^(visual\.)?transformer\.resblocks\.(\d+)\.attn\.out_proj\.(weight|bias)$/, (m) => [[`${layer(m)}.self_attn.out_proj.${m[3]}`]]],
  [/^(visual\.)?transformer\.resblocks\.(\d+)\.ln_([12])\.(weight|bias)$/, (m) => [[`${layer(m)}.layer_norm${m[3]}.${m[4]}`]]],
  [/^(visual\.)?transformer\.resblocks\.(\d+)\.mlp\.c_fc\.(weight|bias)$/, (m) => [[`${layer(m)}.mlp.fc1.${m[3]}`]]],
  [/^(visual\.)?transformer\.resblocks\.(\d+)\.mlp\.c_proj\.(weight|bias)$/, (m) => [[`${layer(m)}.mlp.fc2.${m[3]}`]]],
  [/^token_embedding\.weight$/, () => [['text_model.embeddings.token_embedding.weight']]],
  [/^positional_embedding$/, () => [['text_model.embeddings.position_embedding.weight']]],
  [/^ln_final\.(weight|bias)$/, (m) => [[`text_model.final_layer_norm.${m[1]}`]]],
  [/^text_projection$/, () => [['text_projection.weight', transpose]]],
  [/^visual\.conv1\.weight$/, () => [['vision_model.embeddings.patch_embedding.weight']]],
  [/^visual\.class_embedding$/, () => [['vision_model.embeddings.class_embedding']]],
  [/^visual\.positional_embedding$/, () => [['vision_model.embeddings.position_embedding.weight']]],
  [/^visual\.ln_pre\.(weight|bias)$/, (m) => [[`vision_model.pre_layrnorm.${m[1]}`]]],
  [/^visual\.ln_post\.(weight|bias)$/, (m) => [[`vision_model.post_layernorm.${m[1]}`]]],
  [/^visual\.proj$/, () => [['visual_projection.weight', transpose]]],
  [/^logit_scale$/, () => [['logit_scale']]],
  // Entries of the released TorchScript archives that `build_model` deletes.
  [/^(input_resolution|context_length|vocab_size)$/, () => []],
];

function refuseResNet(tensors: ReadonlyMap<string, RawTensor>, file: string | undefined): void {
  for (const k of tensors.keys()) {
    if (/^visual\.(layer\d|attnpool|conv[23]|bn\d)/.test(k)) {
      throw new CheckpointFormatError(`"${k}": ModifiedResNet image encoders (OpenAI RN50, RN101, RN50x4, …) are not supported; only ViT`, { file });
    }
  }
}

/**
 * Renames an OpenAI CLIP state dict to transformers' `CLIPModel` keys and layouts. Every key must match a rule.
 *
 * @param tensors OpenAI-keyed tensors (`visual.conv1.weight`, `transformer.resblocks.0.attn.in_proj_weight`, …)
 * @param file    checkpoint name for error messages
 * @throws CheckpointFormatError for ResNet image towers; UnexpectedWeightsError for keys no rule knows
 * @example
 * ```ts
 * const hf = openAiClipToHf((await readCheckpoint('ViT-B-32.pt')).tensors);
 * hf.get('text_model.encoder.layers.0.self_attn.q_proj.weight')!.shape; // [512, 512]
 * ```
 */
export function openAiClipToHf(tensors: ReadonlyMap<string, RawTensor>, file?: string): Map<string, RawTensor> {
  refuseResNet(tensors, file);
  const out = new Map<string, RawTensor>();
  const unknown: string[] = [];
  for (const [key, t] of tensors) {
    let matched = false;
    for (const [re, targets] of OPENAI_CLIP_RULES) {
      const m = re.exec(key);
      if (!m) continue;
      for (const [target, convert] of targets(m)) out.set(target, convert ? convert(t, key) : t);
      matched = true;
      break;
    }
    if (!matched) unknown.push(key);
  }
  if (unknown.length > 0) throw new UnexpectedWeightsError(unknown, file);
  return out;
}

/**
 * Infers a transformers `CLIPConfig` from an OpenAI state dict, as `build_model` does: widths from
 * `visual.conv1` / `ln_final`, layer counts from the `resblocks`, heads = width / 64, patch size from the conv
 * kernel, image size = patch × grid, context length and vocabulary from the embeddings; QuickGELU.
 *
 * @param tensors OpenAI-keyed tensors (shapes are enough)
 * @param file    checkpoint name for error messages
 * @throws MissingWeightError naming a tensor the inference needs
 * @example
 * ```ts
 * openAiClipConfig(tensors).vision_config?.patch_size; // 32 for ViT-B/32
 * ```
 */
export function openAiClipConfig(tensors: ReadonlyMap<string, { shape: readonly number[] }>, file?: string): CLIPConfig {
  const shape = (key: string): readonly number[] => {
    const t = tensors.get(key);
    if (!t) throw new MissingWeightError(key, file, 'needed to infer the OpenAI CLIP config');
    return t.shape;
  };
  const count = (re: RegExp) => new Set([...tensors.keys()].map((k) => re.exec(k)?.[1]).filter((x) => x !== undefined)).size;
  const dim = (key: string, axis: number) => shape(key)[axis] ?? 0;
  const visionWidth = dim('visual.conv1.weight', 0);
  const patch = dim('visual.conv1.weight', 3);
  const grid = Math.round(Math.sqrt(dim('visual.positional_embedding', 0) - 1));
  const width = dim('ln_final.weight', 0);
  const mlp = (prefix: string, w: number) => (tensors.has(`${prefix}.0.mlp.c_fc.weight`) ? dim(`${prefix}.0.mlp.c_fc.weight`, 0) : 4 * w);
  return {
    model_type: 'clip',
    projection_dim: dim('text_projection', 1),
    text_config: {
      vocab_size: dim('token_embedding.weight', 0),
      hidden_size: width,
      intermediate_size: mlp('transformer.resblocks', width),
      num_hidden_layers: count(/^transformer\.resblocks\.(\d+)\./),
      num_attention_heads: Math.floor(width / 64),
      max_position_embeddings: dim('positional_embedding', 0),
      projection_dim: dim('text_projection', 1),
      hidden_act: 'quick_gelu',
      // encode_text pools at tokens.argmax(-1): transformers keeps that rule for the legacy eos_token_id 2.
      eos_token_id: 2,
    },
    vision_config: {
      hidden_size: visionWidth,
      intermediate_size: mlp('visual.transformer.resblocks', visionWidth),
      num_hidden_layers: count(/^visual\.transformer\.resblocks\.(\d+)\./),
      num_attention_heads: Math.floor(visionWidth / 64),
      num_channels: dim('visual.conv1.weight', 1),
      image_size: patch * grid,
      patch_size: patch,
      projection_dim: dim('text_projection', 1),
      hidden_act: 'quick_gelu',
    },
  };
}

/**
 * Options of {@link loadOpenAiClip}.
 *
 * @example
 * ```ts
 * const o: LoadOpenAiClipOptions = { root: 'state_dict' };
 * ```
 */
export interface LoadOpenAiClipOptions {
  /** For pickled files that wrap the state dict, the sub-tree holding it. */
  root?: string;
  /** Called after each tensor is read. */
  onProgress?: (done: number, total: number, name: string) => void;
}

/**
 * Loads an OpenAI CLIP checkpoint (a `clip.load` TorchScript `.pt`, a `torch.save`d state dict, or a
 * safetensors file with OpenAI keys) as a {@link ClipModel}. fp16 weights are widened to fp32, as
 * `clip.load(..., device='cpu')` does.
 *
 * @param path the checkpoint file
 * @param opts `root`, `onProgress`
 * @throws CheckpointFormatError, MissingWeightError, ShapeMismatchError, UnexpectedWeightsError, ClipConfigError
 * @example
 * ```ts
 * const clip = await loadOpenAiClip('ViT-B-32.pt');
 * clip.config.vision.imageSize; // 224
 * ```
 */
export async function loadOpenAiClip(path: string, opts: LoadOpenAiClipOptions = {}): Promise<ClipModel> {
  const ck = await readCheckpoint(path, { root: opts.root, onProgress: opts.onProgress });
  refuseResNet(ck.tensors, path);
  const cfg = resolveClipConfig(openAiClipConfig(ck.tensors, path), { file: `${path} (config inferred from shapes)` });
  const { params, leftovers } = buildClipModelParams(openAiClipToHf(ck.tensors, path), cfg, { file: path });
  return new ClipModel(cfg, params, leftovers);
}
