/**
 * Loading StyleCLIP latent mappers, strictly, from (a) StyleCLIP's coach checkpoints (`torch.save({'state_dict':
 * net.state_dict(), 'opts': vars(opts)})`: keys `mapper.*` plus the generator under `decoder.*`), (b) a bare
 * `LevelsMapper.state_dict()` in safetensors (or any format `readCheckpoint` reads), or (c) this package's own
 * training checkpoints ({@link trainLatentMapper}'s safetensors, keys `mapper.*`). Nothing is executed.
 * @module
 */
import * as tf from '@tensorflow/tfjs-core';
import { CheckpointFormatError, MissingWeightError, ShapeMismatchError } from '@semedit/core';
import { readCheckpoint, readTorchCheckpoint, UnexpectedWeightsError, type RawTensor } from '@semedit/core/io';
import { linearWeightToInOut, rawToTensor } from '@semedit/core/tensor';
import {
  applyLatentMapper, latentMapperForward, mapperParamEntries, mapperParamsFromEntries, MAPPER_LAYER_KEYS, type LatentMapperParams,
} from './mapper.js';

/**
 * The mapper options StyleCLIP's `TrainOptions` stores and inference reads (snake_case kept verbatim).
 *
 * @example
 * ```ts
 * const o: MapperOptions = { mapper_type: 'LevelsMapper', no_coarse_mapper: false, no_medium_mapper: false, no_fine_mapper: true };
 * ```
 */
export interface MapperOptions {
  mapper_type: 'LevelsMapper' | 'SingleMapper';
  no_coarse_mapper: boolean;
  no_medium_mapper: boolean;
  no_fine_mapper: boolean;
}

const GROUP_FLAGS = [
  ['course_mapping', 'no_coarse_mapper'],
  ['medium_mapping', 'no_medium_mapper'],
  ['fine_mapping', 'no_fine_mapper'],
] as const;

/**
 * A loaded latent mapper: parameters, options, and the forward passes (each in one `tf.tidy`).
 *
 * @example
 * ```ts
 * const mapper = await loadLatentMapper('purple_hair.pt');
 * const wHat = mapper.apply(w); // [B, 18, 512] = w + 0.1 · M(w)
 * mapper.dispose();
 * ```
 */
export class LatentMapper {
  /**
   * @param params     the parameter tree
   * @param options    mapper type and disabled groups
   * @param latentDim  D (512 for FFHQ)
   * @param leftovers  checkpoint keys that were not mapper weights (e.g. the `decoder.*` generator)
   * @param trainOpts  the checkpoint's whole `opts` dict, when it had one (description, lambdas, …)
   */
  constructor(
    readonly params: LatentMapperParams,
    readonly options: MapperOptions,
    readonly latentDim: number,
    readonly leftovers: readonly string[] = [],
    readonly trainOpts: Readonly<Record<string, unknown>> = {},
  ) {}

  /**
   * The mapper output `M(w)`.
   *
   * @param w `[B, n_latent, D]`
   * @example
   * ```ts
   * mapper.forward(w).shape; // [B, 18, 512]
   * ```
   */
  forward(w: tf.Tensor3D): tf.Tensor3D {
    return tf.tidy(() => latentMapperForward(this.params, w));
  }

  /**
   * The edited latent `w + strength · M(w)` (StyleCLIP: strength 0.1).
   *
   * @param w        `[B, n_latent, D]`
   * @param strength residual factor, default 0.1
   * @example
   * ```ts
   * const wHat = mapper.apply(w);
   * ```
   */
  apply(w: tf.Tensor3D, strength?: number): tf.Tensor3D {
    return tf.tidy(() => applyLatentMapper(this.params, w, strength === undefined ? {} : { strength }));
  }

  /**
   * Frees the parameters.
   *
   * @example
   * ```ts
   * mapper.dispose();
   * ```
   */
  dispose(): void {
    tf.dispose([...mapperParamEntries(this.params).values()]);
  }
}

function bool(v: unknown, fallback: boolean): boolean {
  return typeof v === 'boolean' ? v : fallback;
}

async function readOpts(path: string): Promise<Record<string, unknown>> {
  const ck = await readTorchCheckpoint(path);
  try {
    const o = ck.object;
    const opts = o instanceof Map ? o.get('opts') : undefined;
    if (!(opts instanceof Map)) return {};
    return Object.fromEntries([...opts.entries()].filter(([k]) => typeof k === 'string')) as Record<string, unknown>;
  } finally {
    await ck.close();
  }
}

/**
 * Builds a {@link LatentMapper} from raw tensors keyed like `LevelsMapper.state_dict()` (optionally under
 * `state_dict/` and `mapper.` prefixes). Group presence decides which sub-mappers exist; when `trainOpts` names
 * `no_*_mapper` flags or a `mapper_type`, they must agree with the keys.
 *
 * @param raw       tensors by key
 * @param file      name for error messages
 * @param trainOpts the checkpoint's `opts` dict, if any
 * @throws MissingWeightError / ShapeMismatchError / UnexpectedWeightsError / CheckpointFormatError naming the key and file
 * @example
 * ```ts
 * const mapper = latentMapperFromTensors((await readCheckpoint('mapper.safetensors')).tensors, 'mapper.safetensors');
 * ```
 */
export function latentMapperFromTensors(
  raw: ReadonlyMap<string, RawTensor>, file?: string, trainOpts: Record<string, unknown> = {},
): LatentMapper {
  const mapperKeys = new Map<string, RawTensor>();
  const leftovers: string[] = [];
  const unknown: string[] = [];
  for (const [key, t] of raw) {
    const k = key.replace(/^state_dict\//, '').replace(/^mapper\./, '');
    if (/^(course_mapping|medium_mapping|fine_mapping|mapping)\.mapping\.[1-4]\.(weight|bias)$/.test(k)) mapperKeys.set(k, t);
    else if (/^(state_dict\/)?(decoder\.|latent_avg$)/.test(key)) leftovers.push(key);
    else unknown.push(key);
  }
  if (unknown.length > 0) throw new UnexpectedWeightsError(unknown, file);
  const groups = (['course_mapping', 'medium_mapping', 'fine_mapping', 'mapping'] as const).filter((g) =>
    [...mapperKeys.keys()].some((k) => k.startsWith(`${g}.`)));
  if (groups.length === 0) throw new MissingWeightError('mapper.course_mapping.mapping.1.weight', file, 'no StyleCLIP mapper weights in this file');
  const single = groups.includes('mapping');
  if (single && groups.length > 1) throw new CheckpointFormatError(`holds both SingleMapper and LevelsMapper weights (${groups.join(', ')})`, { file });
  if (trainOpts['work_in_stylespace'] === true) throw new CheckpointFormatError('StyleSpace mappers (work_in_stylespace) are not supported', { file });
  const type = single ? 'SingleMapper' : 'LevelsMapper';
  if (typeof trainOpts['mapper_type'] === 'string' && trainOpts['mapper_type'] !== type) {
    throw new CheckpointFormatError(`opts.mapper_type is "${String(trainOpts['mapper_type'])}" but the weights are a ${type}`, { file });
  }
  const options: MapperOptions = { mapper_type: type, no_coarse_mapper: false, no_medium_mapper: false, no_fine_mapper: false };
  if (!single) {
    for (const [group, flag] of GROUP_FLAGS) {
      const present = groups.includes(group);
      const disabled = bool(trainOpts[flag], !present);
      if (disabled === present) throw new CheckpointFormatError(`opts.${flag} is ${disabled} but the ${group} weights are ${present ? 'present' : 'absent'}`, { file });
      options[flag] = disabled;
    }
  }
  const first = mapperKeys.get(`${groups[0]!}.mapping.1.weight`);
  if (!first) throw new MissingWeightError(`${groups[0]!}.mapping.1.weight`, file);
  const dim = first.shape[1] ?? 0;
  const made = new Map<string, tf.Tensor>();
  try {
    for (const g of groups) {
      for (const k of MAPPER_LAYER_KEYS) {
        for (const [name, shape] of [['weight', [dim, dim]], ['bias', [dim]]] as const) {
          const key = `${g}.mapping.${k}.${name}`;
          const t = mapperKeys.get(key);
          if (!t) throw new MissingWeightError(`mapper.${key}`, file);
          if (t.shape.length !== shape.length || t.shape.some((d, i) => d !== shape[i])) throw new ShapeMismatchError(key, shape, t.shape, file);
          made.set(key, name === 'weight' ? linearWeightToInOut(t, key) : rawToTensor(t, key));
        }
      }
    }
  } catch (e) {
    tf.dispose([...made.values()]);
    throw e;
  }
  return new LatentMapper(mapperParamsFromEntries(made), options, dim, leftovers, trainOpts);
}

/**
 * Loads a StyleCLIP latent mapper from a coach checkpoint (`.pt`, its `opts` read for the mapper type and the
 * `--no_*_mapper` flags), a bare `LevelsMapper`/`SingleMapper` state dict (safetensors or torch), or a checkpoint
 * written by {@link trainLatentMapper}.
 *
 * @param path checkpoint file
 * @example
 * ```ts
 * const mapper = await loadLatentMapper('mapper.pt');
 * mapper.options.no_fine_mapper; // true for hair-style mappers
 * mapper.leftovers.length;       // the decoder.* generator keys it carries
 * ```
 */
export async function loadLatentMapper(path: string): Promise<LatentMapper> {
  const ck = await readCheckpoint(path);
  let trainOpts: Record<string, unknown> = {};
  if (ck.format === 'zip' || ck.format === 'legacy' || ck.format === 'pickle') trainOpts = await readOpts(path);
  else if (ck.metadata['opts']) {
    try {
      trainOpts = JSON.parse(ck.metadata['opts']) as Record<string, unknown>;
    } catch {
      throw new CheckpointFormatError('__metadata__.opts is not valid JSON', { file: path });
    }
  }
  const mapperOnly = new Map([...ck.tensors].filter(([k]) => !/^(state_dict\/)?optimizer\./.test(k)));
  return latentMapperFromTensors(mapperOnly, path, trainOpts);
}
