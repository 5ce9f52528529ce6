/**
 * Loading NVLabs stylegan2-ada-pytorch generators: network snapshots (`.pkl`, read by the data-only unpickler:
 * the `G_ema` record's tensors and its `init_kwargs` as the config; the embedded module source is never run) and
 * safetensors (or any checkpoint) with NVLabs key names plus a config.
 * @module
 */
import type { RawTensor } from '../io/types.js';
import { PickleObject } from '../io/pickle.js';
import { readTorchCheckpoint } from '../io/torch.js';
import { detectCheckpointFormat, readCheckpoint } from '../io/checkpoint.js';
import { OptionError } from '../errors.js';
import { flattenNvlabsKwargs, resolveStyleGan2Config, type NvlabsGeneratorKwargs, type StyleGan2Config } from './config.js';
import { MissingGeneratorError } from './errors.js';
import { StyleGan2 } from './generator.js';
import { buildStyleGan2Params } from './params.js';

/**
 * Options of {@link loadNvlabsGenerator}.
 *
 * @example
 * ```ts
 * const o: LoadNvlabsOptions = { entry: 'G' };                                     // the non-EMA generator of a .pkl
 * const s: LoadNvlabsOptions = { kwargs: JSON.parse(readFileSync('config.json', 'utf8')).kwargs };
 * ```
 */
export interface LoadNvlabsOptions {
  /** Flat config; required for files that do not carry one (safetensors), overrides a `.pkl`'s own. */
  config?: StyleGan2Config;
  /** Nested `Generator` kwargs (`mapping_kwargs`, `synthesis_kwargs`), instead of `config`. */
  kwargs?: NvlabsGeneratorKwargs;
  /** `.pkl` entry holding the generator (default `G_ema`). */
  entry?: string;
}

const NVLABS_RECORD = 'torch_utils.persistence._reconstruct_persistent_obj';

/** Converts unpickled values (Maps, arrays) to plain JSON-like values. */
function plain(v: unknown): unknown {
  if (v instanceof Map) return Object.fromEntries([...v].map(([k, x]) => [String(k), plain(x)]));
  if (Array.isArray(v)) return v.map(plain);
  return v;
}

/**
 * The `meta` of an NVLabs persistent record (`class_name`, `state`), or undefined for anything else.
 *
 * @param v an unpickled value
 * @example
 * ```ts
 * nvlabsRecordMeta(pkl.get('G_ema'))?.get('class_name'); // 'Generator'
 * ```
 */
export function nvlabsRecordMeta(v: unknown): Map<unknown, unknown> | undefined {
  if (!(v instanceof PickleObject) || v.qualifiedName !== NVLABS_RECORD) return undefined;
  const meta = v.args[0];
  return meta instanceof Map ? meta : undefined;
}

/**
 * Builds a generator from flat tensors in NVLabs key names (`mapping.fc0.weight`, `synthesis.b4.const`, ...).
 *
 * @param flat   tensors by key (strict: every key, every shape; leftovers are errors)
 * @param config flat config
 * @param file   checkpoint name for errors
 * @example
 * ```ts
 * const G = nvlabsGeneratorFromTensors((await readCheckpoint('G.safetensors')).tensors, cfg);
 * ```
 */
export function nvlabsGeneratorFromTensors(flat: ReadonlyMap<string, RawTensor>, config: StyleGan2Config, file?: string): StyleGan2 {
  const cfg = resolveStyleGan2Config(config, file);
  return new StyleGan2(cfg, buildStyleGan2Params(flat, cfg, file !== undefined ? { file } : {}), 'nvlabs');
}

/**
 * Loads an NVLabs generator from a network snapshot `.pkl` (entry `G_ema` by default, config from its
 * `init_kwargs`) or from a safetensors / PyTorch file in NVLabs key names (config from the options).
 *
 * @param path `.pkl`, `.safetensors`, `.pt`, ...
 * @param opts `config` / `kwargs`, `entry`
 * @throws MissingGeneratorError when a `.pkl` has no such entry (or it is not a Generator record);
 *   UnknownConfigKeyError, MissingWeightError, ShapeMismatchError, UnexpectedWeightsError from strict loading
 * @example
 * ```ts
 * const G = await loadNvlabsGenerator('stylegan2-ffhq-config-f.pkl');
 * G.config.imgResolution; // 1024
 * ```
 */
export async function loadNvlabsGenerator(path: string, opts: LoadNvlabsOptions = {}): Promise<StyleGan2> {
  const given = opts.config ?? (opts.kwargs ? flattenNvlabsKwargs(opts.kwargs as unknown as Record<string, unknown>, path) : undefined);
  const format = await detectCheckpointFormat(path);
  if (format !== 'pickle') {
    if (!given) throw new OptionError('config', `${path} carries no generator config; pass config or kwargs`);
    return nvlabsGeneratorFromTensors((await readCheckpoint(path)).tensors, given, path);
  }
  const entry = opts.entry ?? 'G_ema';
  const ck = await readTorchCheckpoint(path);
  try {
    const root = ck.object;
    const found = root instanceof Map ? [...root.keys()].map(String) : [];
    const meta = root instanceof Map ? nvlabsRecordMeta(root.get(entry)) : undefined;
    if (!meta || meta.get('class_name') !== 'Generator') throw new MissingGeneratorError(path, entry, found);
    let config = given;
    if (!config) {
      const state = meta.get('state');
      const kw = state instanceof Map ? state.get('_init_kwargs') ?? state.get('init_kwargs') : undefined;
      if (!(kw instanceof Map)) throw new MissingGeneratorError(path, `${entry} init_kwargs`, found);
      config = flattenNvlabsKwargs(plain(kw) as Record<string, unknown>, `${path} ${entry}.init_kwargs`);
    }
    const tensors = await ck.tensors({ root: entry });
    return nvlabsGeneratorFromTensors(tensors, config, path);
  } finally {
    await ck.close();
  }
}
