/**
 * Reading one model folder of a diffusers pipeline (`unet/`, `vae/`): `config.json` plus the weights, as
 * diffusers' `from_pretrained` names them: `diffusion_pytorch_model[.<variant>].safetensors` (preferred) or
 * `.bin`, or a sharded `…safetensors.index.json` / `…bin.index.json` with its shards.
 * @module
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CheckpointFormatError } from '../errors.js';
import { readCheckpoint } from '../io/checkpoint.js';
import type { RawTensor } from '../io/types.js';

/**
 * Options of {@link readModelFolder}.
 *
 * @example
 * ```ts
 * const o: ModelFolderOptions = { variant: 'fp16' };
 * ```
 */
export interface ModelFolderOptions {
  /** Weights variant, e.g. `fp16` for `diffusion_pytorch_model.fp16.safetensors`. */
  variant?: string;
  /** Weights file name stem (default `diffusion_pytorch_model`). */
  weightsName?: string;
}

/**
 * What {@link readModelFolder} found.
 *
 * @example
 * ```ts
 * const { config, weights, weightsFiles } = await readModelFolder('sd15/unet');
 * ```
 */
export interface ModelFolder {
  /** Parsed `config.json`. */
  config: Record<string, unknown>;
  /** Path of `config.json`. */
  configFile: string;
  /** Every tensor, float16/bfloat16 widened to float32. */
  weights: Map<string, RawTensor>;
  /** The weights file(s) read. */
  weightsFiles: string[];
}

/**
 * The weights files a folder holds for a variant, in diffusers' order of preference; the first that exists wins.
 *
 * @param dir  the model folder
 * @param opts variant, file stem
 * @example
 * ```ts
 * weightsCandidates('unet', { variant: 'fp16' })[0]; // 'unet/diffusion_pytorch_model.fp16.safetensors'
 * ```
 */
export function weightsCandidates(dir: string, opts: ModelFolderOptions = {}): string[] {
  const stem = `${opts.weightsName ?? 'diffusion_pytorch_model'}${opts.variant ? `.${opts.variant}` : ''}`;
  return [`${stem}.safetensors`, `${stem}.safetensors.index.json`, `${stem}.bin`, `${stem}.bin.index.json`].map((f) => join(dir, f));
}

function readJson(path: string): Record<string, unknown> {
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>;
  } catch (e) {
    throw new CheckpointFormatError(`cannot read JSON: ${(e as Error).message}`, { file: path });
  }
}

/**
 * Reads `config.json` and the weights of a diffusers model folder. Shards of an index are merged (a key in two
 * shards, or a shard missing, is an error naming the file).
 *
 * @param dir  the model folder (e.g. `…/unet`)
 * @param opts variant, file stem
 * @throws CheckpointFormatError when `config.json` or every weights candidate is missing or unreadable
 * @example
 * ```ts
 * const folder = await readModelFolder('sd15/unet', { variant: 'fp16' });
 * folder.weightsFiles; // ['sd15/unet/diffusion_pytorch_model.fp16.safetensors']
 * ```
 */
export async function readModelFolder(dir: string, opts: ModelFolderOptions = {}): Promise<ModelFolder> {
  const configFile = join(dir, 'config.json');
  if (!existsSync(configFile)) throw new CheckpointFormatError('model folder has no config.json', { file: dir });
  const config = readJson(configFile);
  const candidates = weightsCandidates(dir, opts);
  const found = candidates.find((f) => existsSync(f));
  if (!found) {
    throw new CheckpointFormatError(`no weights file in the model folder (looked for ${candidates.map((c) => c.slice(dir.length + 1)).join(', ')})`, { file: dir });
  }
  if (!found.endsWith('.index.json')) {
    const ck = await readCheckpoint(found);
    return { config, configFile, weights: ck.tensors, weightsFiles: [found] };
  }
  const index = readJson(found);
  const map = index['weight_map'];
  if (!map || typeof map !== 'object') throw new CheckpointFormatError('index has no "weight_map" object', { file: found });
  const shards = [...new Set(Object.values(map as Record<string, string>))].map((s) => join(dir, s));
  const weights = new Map<string, RawTensor>();
  for (const shard of shards) {
    if (!existsSync(shard)) throw new CheckpointFormatError(`shard listed in ${found} is missing`, { file: shard });
    for (const [k, v] of (await readCheckpoint(shard)).tensors) {
      if (weights.has(k)) throw new CheckpointFormatError(`tensor "${k}" appears in two shards`, { file: shard });
      weights.set(k, v);
    }
  }
  return { config, configFile, weights, weightsFiles: shards };
}
