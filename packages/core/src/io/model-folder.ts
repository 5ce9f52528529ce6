/**
 * Reading one model folder of a Hugging Face repository: `config.json` plus the weights under the names the
 * library that wrote it uses. diffusers (`unet/`, `vae/`) writes `diffusion_pytorch_model[.<variant>].safetensors`
 * or `.bin`; transformers (`text_encoder/`, a CLIP repository) writes `model[.<variant>].safetensors` or
 * `pytorch_model[.<variant>].bin`; either may be sharded behind a `….index.json` whose `weight_map` names the
 * shards. One reader serves every model loader and the memory check, so they agree on which files a folder holds.
 * @module
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CheckpointFormatError } from '../errors.js';
import { readCheckpoint } from './checkpoint.js';
import type { RawTensor } from './types.js';

/**
 * The file stems a library writes weights under: one for safetensors, one for PyTorch pickles.
 *
 * @example
 * ```ts
 * const names: WeightsNames = { safetensors: 'model', bin: 'pytorch_model' }; // transformers
 * ```
 */
export interface WeightsNames {
  /** Stem of the safetensors file (`diffusion_pytorch_model`, `model`). */
  safetensors: string;
  /** Stem of the PyTorch file (`diffusion_pytorch_model`, `pytorch_model`). */
  bin: string;
}

/**
 * Where diffusers and transformers put a folder's weights.
 *
 * @example
 * ```ts
 * readModelFolder('sd15/text_encoder', { names: WEIGHTS_NAMES.transformers });
 * ```
 */
export const WEIGHTS_NAMES: { readonly diffusers: WeightsNames; readonly transformers: WeightsNames } = {
  diffusers: { safetensors: 'diffusion_pytorch_model', bin: 'diffusion_pytorch_model' },
  transformers: { safetensors: 'model', bin: 'pytorch_model' },
};

/**
 * Options of {@link readModelFolder} and {@link modelFolderFiles}.
 *
 * @example
 * ```ts
 * const o: ModelFolderOptions = { variant: 'fp16' };
 * ```
 */
export interface ModelFolderOptions {
  /** Weights variant, e.g. `fp16` for `diffusion_pytorch_model.fp16.safetensors`. */
  variant?: string | undefined;
  /** File stems (default {@link WEIGHTS_NAMES}.diffusers). */
  names?: WeightsNames | undefined;
  /** Called after each tensor is read (progress bars). */
  onProgress?: ((done: number, total: number, name: string) => void) | undefined;
}

/**
 * The files of a model folder, found without reading any tensor.
 *
 * @example
 * ```ts
 * const f: ModelFolderFiles = modelFolderFiles('sd15/unet');
 * f.weightsFiles; // ['sd15/unet/diffusion_pytorch_model.safetensors']
 * ```
 */
export interface ModelFolderFiles {
  /** Path of `config.json`. */
  configFile: string;
  /** The weights file chosen (the index file for sharded weights). */
  file: string;
  /** The files that hold tensors (the shards for sharded weights), each once. */
  weightsFiles: string[];
  /** For sharded weights: the shard each tensor key is mapped to. */
  weightMap?: Map<string, string>;
}

/**
 * What {@link readModelFolder} found.
 *
 * @example
 * ```ts
 * const { config, weights, weightsFiles } = await readModelFolder('sd15/unet');
 * ```
 */
export interface ModelFolder extends ModelFolderFiles {
  /** Parsed `config.json`. */
  config: Record<string, unknown>;
  /** Every tensor, float16/bfloat16 widened to float32. */
  weights: Map<string, RawTensor>;
}

/**
 * The weights files a folder may hold for a variant, in the order of preference of `from_pretrained`: the first
 * that exists wins.
 *
 * @param dir  the model folder
 * @param opts variant, file stems
 * @example
 * ```ts
 * weightsCandidates('unet', { variant: 'fp16' })[0]; // 'unet/diffusion_pytorch_model.fp16.safetensors'
 * ```
 */
export function weightsCandidates(dir: string, opts: ModelFolderOptions = {}): string[] {
  const names = opts.names ?? WEIGHTS_NAMES.diffusers;
  const v = opts.variant ? `.${opts.variant}` : '';
  const st = `${names.safetensors}${v}.safetensors`;
  const bin = `${names.bin}${v}.bin`;
  return [st, `${st}.index.json`, bin, `${bin}.index.json`].map((f) => join(dir, f));
}

function readJsonObject(path: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new CheckpointFormatError(`cannot read the file (${(e as Error).message})`, { file: path });
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new CheckpointFormatError(`not JSON (${(e as Error).message})`, { file: path });
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) throw new CheckpointFormatError('not a JSON object', { file: path });
  return json as Record<string, unknown>;
}

/** The `weight_map` of a shard index: key -> shard file in the folder (no path may leave it). */
function readWeightMap(indexFile: string): Map<string, string> {
  const map = readJsonObject(indexFile)['weight_map'];
  if (typeof map !== 'object' || map === null || Array.isArray(map)) throw new CheckpointFormatError('no "weight_map" object', { file: indexFile });
  const out = new Map<string, string>();
  for (const [key, shard] of Object.entries(map as Record<string, unknown>)) {
    if (typeof shard !== 'string' || shard === '' || shard.includes('/') || shard.includes('\\') || shard === '..') {
      throw new CheckpointFormatError(`weight_map["${key}"] is not a shard file name in the folder`, { file: indexFile });
    }
    out.set(key, shard);
  }
  return out;
}

/**
 * Finds a model folder's `config.json` and weights files (shards listed by the index) without reading a tensor.
 *
 * @param dir  the model folder
 * @param opts variant, file stems
 * @throws CheckpointFormatError when `config.json`, every weights candidate or a listed shard is missing, or the
 *   index is malformed
 * @example
 * ```ts
 * modelFolderFiles('sd15/text_encoder', { names: WEIGHTS_NAMES.transformers }).weightsFiles;
 * // ['sd15/text_encoder/model.safetensors']
 * ```
 */
export function modelFolderFiles(dir: string, opts: ModelFolderOptions = {}): ModelFolderFiles {
  const configFile = join(dir, 'config.json');
  if (!existsSync(configFile)) throw new CheckpointFormatError('model folder has no config.json', { file: dir });
  const candidates = weightsCandidates(dir, opts);
  const file = candidates.find((f) => existsSync(f));
  if (!file) {
    throw new CheckpointFormatError(`no weights file in the model folder (looked for ${candidates.map((c) => c.slice(dir.length + 1)).join(', ')})`, { file: dir });
  }
  if (!file.endsWith('.index.json')) return { configFile, file, weightsFiles: [file] };
  const weightMap = readWeightMap(file);
  const weightsFiles = [...new Set(weightMap.values())].map((s) => join(dir, s));
  for (const shard of weightsFiles) {
    if (!existsSync(shard)) throw new CheckpointFormatError(`shard listed in ${file} is missing`, { file: shard });
  }
  return { configFile, file, weightsFiles, weightMap };
}

/**
 * Reads `config.json` and the weights of a model folder. For sharded weights every key must sit in the shard the
 * index maps it to, and no key may appear in two shards.
 *
 * @param dir  the model folder (e.g. `…/unet`)
 * @param opts variant, file stems, progress callback
 * @throws CheckpointFormatError when a file is missing, unreadable or inconsistent with the index
 * @example
 * ```ts
 * const folder = await readModelFolder('sd15/unet', { variant: 'fp16' });
 * folder.weightsFiles; // ['sd15/unet/diffusion_pytorch_model.fp16.safetensors']
 * ```
 */
export async function readModelFolder(dir: string, opts: ModelFolderOptions = {}): Promise<ModelFolder> {
  const files = modelFolderFiles(dir, opts);
  const config = readJsonObject(files.configFile);
  const read = opts.onProgress ? { onProgress: opts.onProgress } : {};
  if (!files.weightMap) return { ...files, config, weights: (await readCheckpoint(files.file, read)).tensors };
  const weights = new Map<string, RawTensor>();
  for (const shard of files.weightsFiles) {
    const shardName = shard.slice(dir.length + 1);
    for (const [k, v] of (await readCheckpoint(shard, read)).tensors) {
      if (weights.has(k)) throw new CheckpointFormatError(`tensor "${k}" appears in two shards`, { file: shard });
      const mapped = files.weightMap.get(k);
      if (mapped !== undefined && mapped !== shardName) {
        throw new CheckpointFormatError(`"${k}" is mapped to ${mapped} by the index but found in ${shardName}`, { file: shard });
      }
      weights.set(k, v);
    }
  }
  for (const [k, shard] of files.weightMap) {
    if (!weights.has(k)) throw new CheckpointFormatError(`"${k}" is mapped to ${shard} by the index but is not in it`, { file: join(dir, shard) });
  }
  return { ...files, config, weights };
}
