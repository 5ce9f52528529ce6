/**
 * Loading CLIP models from Hugging Face folders: an HF CLIP model folder (`config.json` + `model.safetensors`,
 * `pytorch_model.bin`, or a sharded `*.index.json`) or a diffusers `text_encoder/` folder (same layout). A full
 * `CLIPModel` folder (`model_type: "clip"`) also loads as either tower alone, as transformers allows. Files are
 * only read; loading is strict (every weight present with its shape, leftovers reported).
 * @module
 */
import { CheckpointFormatError, ClipConfigError } from '../errors.js';
import { readModelFolder, WEIGHTS_NAMES } from '../io/model-folder.js';
import type { RawTensor } from '../io/types.js';
import { resolveClipConfig, resolveClipTextConfig, resolveClipVisionConfig, type CLIPConfig, type ResolvedClipTextConfig, type ResolvedClipVisionConfig } from './config.js';
import { buildClipModelParams, buildClipTextParams, buildClipVisionParams, type BuildParamsOptions } from './params.js';
import { ClipModel } from './similarity.js';
import { ClipTextModel, ClipTextModelWithProjection } from './text-model.js';
import { ClipVisionModel, ClipVisionModelWithProjection } from './vision-model.js';

/**
 * Options of the folder loaders.
 *
 * @example
 * ```ts
 * const o: LoadClipOptions = { variant: 'fp16' }; // reads model.fp16.safetensors
 * ```
 */
export interface LoadClipOptions {
  /** Weights file variant, as diffusers' `variant=`: `fp16` reads `model.fp16.safetensors` / `pytorch_model.fp16.bin`. */
  variant?: string;
  /** Called after each tensor is read (progress bars). */
  onProgress?: (done: number, total: number, name: string) => void;
}

/**
 * A folder's parsed `config.json` and its weights, as read (HF key names, f16/bf16 widened to f32).
 *
 * @example
 * ```ts
 * const { config, tensors, file } = await readClipFolder('sd15/text_encoder');
 * ```
 */
export interface ClipFolder {
  config: Record<string, unknown>;
  tensors: Map<string, RawTensor>;
  /** The weights file read (the index file for sharded weights). */
  file: string;
  /** The config file read. */
  configFile: string;
}

/**
 * Reads an HF folder's `config.json` and weights (the first of `model.safetensors`, its sharded index,
 * `pytorch_model.bin`, its sharded index; with `variant`, the variant's names), through the shared
 * {@link readModelFolder}.
 *
 * @param dir  the folder
 * @param opts `variant`, `onProgress`
 * @throws CheckpointFormatError when `config.json` or every weights file is missing or unreadable
 * @example
 * ```ts
 * const folder = await readClipFolder('stable-diffusion-2-1/text_encoder');
 * folder.tensors.size; // 196 for SD2.1's OpenCLIP-H text tower
 * ```
 */
export async function readClipFolder(dir: string, opts: LoadClipOptions = {}): Promise<ClipFolder> {
  const folder = await readModelFolder(dir, { variant: opts.variant, onProgress: opts.onProgress, names: WEIGHTS_NAMES.transformers });
  return { config: folder.config, tensors: folder.weights, file: folder.file, configFile: folder.configFile };
}

/** Leftovers a full CLIP checkpoint brings when one tower is loaded from it. */
const OTHER_TOWER = {
  text: [/^vision_model\./, /^visual_projection\.weight$/, /^logit_scale$/],
  vision: [/^text_model\./, /^text_projection\.weight$/, /^logit_scale$/],
};

/** A folder's text config: its config.json, or the `text_config` of a full CLIP config (validated whole). */
function textFromFolder(folder: ClipFolder): { cfg: ResolvedClipTextConfig; build: BuildParamsOptions } {
  const { config, configFile: file } = folder;
  if (config['model_type'] === 'clip') {
    return { cfg: resolveClipConfig(config as CLIPConfig, { file }).text, build: { file: folder.file, allowLeftovers: OTHER_TOWER.text } };
  }
  return { cfg: resolveClipTextConfig(config, { file }), build: { file: folder.file } };
}

/** A folder's vision config: its config.json, or the `vision_config` of a full CLIP config (validated whole). */
function visionFromFolder(folder: ClipFolder): { cfg: ResolvedClipVisionConfig; build: BuildParamsOptions } {
  const { config, configFile: file } = folder;
  if (config['model_type'] === 'clip') {
    return { cfg: resolveClipConfig(config as CLIPConfig, { file }).vision, build: { file: folder.file, allowLeftovers: OTHER_TOWER.vision } };
  }
  return { cfg: resolveClipVisionConfig(config, { file }), build: { file: folder.file } };
}

/**
 * Loads a `CLIPTextModel` (SD 1.x/2.x `text_encoder/`, an HF CLIP folder's text tower); `text_projection` is
 * left unused if present.
 *
 * @param dir  the folder
 * @param opts `variant`, `onProgress`
 * @throws CheckpointFormatError, ClipConfigError, MissingWeightError, ShapeMismatchError, UnexpectedWeightsError
 * @example
 * ```ts
 * const te = await loadClipTextModel('stable-diffusion-v1-5/text_encoder');
 * te.config.hiddenSize; // 768
 * ```
 */
export async function loadClipTextModel(dir: string, opts: LoadClipOptions = {}): Promise<ClipTextModel> {
  const folder = await readClipFolder(dir, opts);
  const { cfg, build } = textFromFolder(folder);
  const { params, leftovers } = buildClipTextParams(folder.tensors, cfg, build);
  return new ClipTextModel(cfg, params, leftovers);
}

/**
 * Loads a `CLIPTextModelWithProjection` (`text_projection.weight` required).
 *
 * @param dir  the folder
 * @param opts `variant`, `onProgress`
 * @throws CheckpointFormatError, ClipConfigError, MissingWeightError, ShapeMismatchError, UnexpectedWeightsError
 * @example
 * ```ts
 * const te = await loadClipTextModelWithProjection('sdxl/text_encoder_2');
 * ```
 */
export async function loadClipTextModelWithProjection(dir: string, opts: LoadClipOptions = {}): Promise<ClipTextModelWithProjection> {
  const folder = await readClipFolder(dir, opts);
  const { cfg, build } = textFromFolder(folder);
  const { params, leftovers } = buildClipTextParams(folder.tensors, cfg, { ...build, projection: true });
  return new ClipTextModelWithProjection(cfg, { ...params, text_projection: params.text_projection! }, leftovers);
}

/**
 * Loads a `CLIPVisionModel` (an HF CLIP folder's image tower; `visual_projection` left unused).
 *
 * @param dir  the folder
 * @param opts `variant`, `onProgress`
 * @throws CheckpointFormatError, ClipConfigError, MissingWeightError, ShapeMismatchError, UnexpectedWeightsError
 * @example
 * ```ts
 * const vision = await loadClipVisionModel('clip-vit-base-patch32');
 * ```
 */
export async function loadClipVisionModel(dir: string, opts: LoadClipOptions = {}): Promise<ClipVisionModel> {
  const folder = await readClipFolder(dir, opts);
  const { cfg, build } = visionFromFolder(folder);
  const { params, leftovers } = buildClipVisionParams(folder.tensors, cfg, build);
  return new ClipVisionModel(cfg, params, leftovers);
}

/**
 * Loads a `CLIPVisionModelWithProjection` (`visual_projection.weight` required).
 *
 * @param dir  the folder
 * @param opts `variant`, `onProgress`
 * @throws CheckpointFormatError, ClipConfigError, MissingWeightError, ShapeMismatchError, UnexpectedWeightsError
 * @example
 * ```ts
 * const vision = await loadClipVisionModelWithProjection('clip-vit-large-patch14');
 * ```
 */
export async function loadClipVisionModelWithProjection(dir: string, opts: LoadClipOptions = {}): Promise<ClipVisionModelWithProjection> {
  const folder = await readClipFolder(dir, opts);
  const { cfg, build } = visionFromFolder(folder);
  const { params, leftovers } = buildClipVisionParams(folder.tensors, cfg, { ...build, projection: true });
  return new ClipVisionModelWithProjection(cfg, { ...params, visual_projection: params.visual_projection! }, leftovers);
}

/**
 * Loads a full `CLIPModel` folder (`model_type: "clip"`: both towers, projections, `logit_scale`).
 *
 * @param dir  the folder
 * @param opts `variant`, `onProgress`
 * @throws CheckpointFormatError, ClipConfigError (also when the folder holds a single tower), MissingWeightError,
 *   ShapeMismatchError, UnexpectedWeightsError
 * @example
 * ```ts
 * const clip = await loadClipModel('clip-vit-base-patch32');
 * clip.forward(ids, pixels).logitsPerImage;
 * ```
 */
export async function loadClipModel(dir: string, opts: LoadClipOptions = {}): Promise<ClipModel> {
  const folder = await readClipFolder(dir, opts);
  if (folder.config['model_type'] !== 'clip') {
    throw new ClipConfigError('model_type', `a full CLIP model needs "clip", got ${JSON.stringify(folder.config['model_type'])}`, folder.configFile);
  }
  const cfg = resolveClipConfig(folder.config as CLIPConfig, { file: folder.configFile });
  const { params, leftovers } = buildClipModelParams(folder.tensors, cfg, { file: folder.file });
  return new ClipModel(cfg, params, leftovers);
}
