/**
 * StyleGAN2 parameter trees. The tree mirrors stylegan2-ada-pytorch's `Generator.state_dict()` names
 * (`mapping.fc0.weight` is `params.mapping.fc0.weight`, `synthesis.b8.conv0.affine.bias` is
 * `params.synthesis.b8.conv0.affine.bias`), with layouts converted once at load: FC weights `[out, in]` → `[in, out]`,
 * conv kernels OIHW → HWIO, `const` CHW → HWC. Values stay as stored (the equalized-lr gains are applied in the
 * forward, as the reference does). `resample_filter` buffers are checked against the config at load and not kept.
 * {@link expectedNvlabsShapes} lists every key with its PyTorch shape for strict loading; {@link buildStyleGan2Params}
 * builds the tree from flat tensors.
 * @module
 */
import * as tf from '@tensorflow/tfjs-core';
import type { RawTensor } from '../io/types.js';
import { takeExpected, type TakeOptions } from '../io/strict.js';
import { convWeightToHwio, linearWeightToInOut, rawToTensor } from '../tensor/layout.js';
import type { ResolvedStyleGan2Config } from './config.js';
import { InvalidConfigError } from '../errors.js';

/**
 * An equalized-lr fully connected layer (`FullyConnectedLayer`), weight as stored but transposed.
 *
 * @example
 * ```ts
 * const fc: FullyConnectedParams = { weight: tf.zeros([32, 64]), bias: tf.ones([64]) };
 * ```
 */
export interface FullyConnectedParams {
  /** `[in, out]` (stored `[out, in]`, transposed). */
  weight: tf.Tensor2D;
  /** `[out]`. */
  bias: tf.Tensor1D;
}

/**
 * A `SynthesisLayer` (modulated 3×3 conv + noise + bias + lrelu).
 *
 * @example
 * ```ts
 * params.synthesis.b8?.conv0?.weight.shape; // [3, 3, in, out]
 * ```
 */
export interface SynthesisLayerParams {
  /** W → style (S space), `[w_dim, in]`. */
  affine: FullyConnectedParams;
  /** `[3, 3, in, out]` (HWIO). */
  weight: tf.Tensor4D;
  /** `[out]`. */
  bias: tf.Tensor1D;
  /** `[res, res]`, absent when `use_noise` is false. */
  noise_const?: tf.Tensor2D;
  /** Scalar, absent when `use_noise` is false. */
  noise_strength?: tf.Scalar;
}

/**
 * A `ToRGBLayer` (modulated 1×1 conv without demodulation + bias).
 *
 * @example
 * ```ts
 * params.synthesis.b4?.torgb.weight.shape; // [1, 1, in, img_channels]
 * ```
 */
export interface ToRgbParams {
  affine: FullyConnectedParams;
  /** `[1, 1, in, img_channels]`. */
  weight: tf.Tensor4D;
  /** `[img_channels]`. */
  bias: tf.Tensor1D;
}

/**
 * A `SynthesisBlock`: the 4×4 block has `const` and `conv1`, the others `conv0` (upsampling) and `conv1`.
 *
 * @example
 * ```ts
 * params.synthesis.b4?.const?.shape; // [4, 4, C]
 * ```
 */
export interface SynthesisBlockParams {
  /** `[4, 4, C]` learned input (4×4 block only). */
  const?: tf.Tensor3D;
  conv0?: SynthesisLayerParams;
  conv1: SynthesisLayerParams;
  torgb: ToRgbParams;
}

/**
 * `MappingNetwork`: `fc0..fc{num_layers-1}`, `embed` when conditional, and the `w_avg` buffer.
 *
 * @example
 * ```ts
 * params.mapping.fc0?.weight.shape; // [z_dim, w_dim]
 * ```
 */
export interface MappingParams {
  [fc: `fc${number}`]: FullyConnectedParams | undefined;
  /** Label embedding (`c_dim > 0`). */
  embed?: FullyConnectedParams;
  /** `[w_dim]`, the truncation centre; absent in rosinality checkpoints without `latent_avg`. */
  w_avg?: tf.Tensor1D;
}

/**
 * The whole generator tree.
 *
 * @example
 * ```ts
 * const fc7 = params.mapping.fc7!; const b32 = params.synthesis.b32!;
 * ```
 */
export interface StyleGan2Params {
  mapping: MappingParams;
  synthesis: { [block: `b${number}`]: SynthesisBlockParams | undefined };
}

/**
 * Every key of an NVLabs `G.state_dict()` for this config, with its PyTorch shape (`resample_filter` buffers
 * included; `mapping.w_avg` included unless `withWAvg` is false).
 *
 * @param cfg         resolved config
 * @param withWAvg    whether `mapping.w_avg` is expected (default true)
 * @param withFilters whether the `resample_filter` buffers are expected (default true)
 * @example
 * ```ts
 * expectedNvlabsShapes(cfg)['synthesis.b8.conv0.weight']; // [64, 64, 3, 3]
 * ```
 */
export function expectedNvlabsShapes(cfg: ResolvedStyleGan2Config, withWAvg = true, withFilters = true): Record<string, number[]> {
  const s: Record<string, number[]> = {};
  const fc = (p: string, i: number, o: number) => ((s[`${p}.weight`] = [o, i]), (s[`${p}.bias`] = [o]));
  const f = cfg.resampleFilter.length;
  const features = [cfg.zDim + (cfg.cDim > 0 ? cfg.embedFeatures : 0), ...Array(cfg.numLayers - 1).fill(cfg.layerFeatures), cfg.wDim];
  if (cfg.cDim > 0) fc('mapping.embed', cfg.cDim, cfg.embedFeatures);
  for (let i = 0; i < cfg.numLayers; i++) fc(`mapping.fc${i}`, features[i]!, features[i + 1]!);
  if (withWAvg) s['mapping.w_avg'] = [cfg.wDim];
  cfg.blockResolutions.forEach((res, bi) => {
    const out = cfg.blockChannels[bi]!;
    const inC = bi === 0 ? out : cfg.blockChannels[bi - 1]!;
    const b = `synthesis.b${res}`;
    if (withFilters) s[`${b}.resample_filter`] = [f, f];
    if (bi === 0) s[`${b}.const`] = [out, 4, 4];
    const layer = (name: string, cin: number) => {
      fc(`${b}.${name}.affine`, cfg.wDim, cin);
      s[`${b}.${name}.weight`] = [out, cin, 3, 3];
      s[`${b}.${name}.bias`] = [out];
      if (withFilters) s[`${b}.${name}.resample_filter`] = [f, f];
      if (cfg.useNoise) ((s[`${b}.${name}.noise_const`] = [res, res]), (s[`${b}.${name}.noise_strength`] = []));
    };
    if (bi > 0) layer('conv0', inC);
    layer('conv1', out);
    fc(`${b}.torgb.affine`, cfg.wDim, out);
    s[`${b}.torgb.weight`] = [cfg.imgChannels, out, 1, 1];
    s[`${b}.torgb.bias`] = [cfg.imgChannels];
  });
  return s;
}

/**
 * The normalized 2-D resampling filter of a config (`outer(taps, taps) / sum`), as a `[f, f]` array, row-major.
 *
 * @param taps 1-D taps, e.g. `[1, 3, 3, 1]`
 * @example
 * ```ts
 * resampleFilter2d([1, 1])[0]; // 0.25
 * ```
 */
export function resampleFilter2d(taps: readonly number[]): Float32Array {
  const n = taps.length;
  const out = new Float32Array(n * n);
  let sum = 0;
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) sum += taps[i]! * taps[j]!;
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) out[i * n + j] = (taps[i]! * taps[j]!) / sum;
  return out;
}

/**
 * Checks a stored FIR filter buffer against the config's filter times `gain`; throws naming the key if not equal
 * (within 1e-6 relative): this implementation builds its filter from the config.
 *
 * @param key  the buffer's key
 * @param raw  the stored `[f, f]` buffer
 * @param cfg  resolved config
 * @param gain the factor the checkpoint stores the filter with (NVLabs 1, rosinality `up²`)
 * @param file checkpoint name for errors
 * @example
 * ```ts
 * checkStoredFilter('synthesis.b8.resample_filter', raw, cfg, 1, 'G.pkl');
 * ```
 */
export function checkStoredFilter(key: string, raw: RawTensor, cfg: ResolvedStyleGan2Config, gain: number, file?: string): void {
  const want = resampleFilter2d(cfg.resampleFilter);
  const got = raw.data as Float32Array;
  const ok = got.length === want.length && want.every((v, i) => Math.abs(got[i]! - v * gain) <= 1e-6 * Math.max(1, Math.abs(v * gain)));
  if (!ok) {
    throw new InvalidConfigError('StyleGAN2 Generator', 'resample_filter', `does not match the stored buffer "${key}"${file ? ` in ${file}` : ''} (stored [${Array.from(got).slice(0, 4).join(', ')}, ...])`);
  }
}

/**
 * Builds the parameter tree from flat tensors in NVLabs key names: strict (every key present with its shape,
 * leftovers are errors), filters checked, layouts converted once.
 *
 * @param flat  tensors by NVLabs key (`mapping.fc0.weight`, ...)
 * @param cfg   resolved config
 * @param opts  `file` for errors, `allowLeftovers`; `filterGain` the factor stored filters carry (default 1);
 *              `storedFilters: false` when the caller checked and removed the filter buffers
 * @example
 * ```ts
 * const params = buildStyleGan2Params((await readCheckpoint('G.safetensors')).tensors, cfg);
 * ```
 */
export function buildStyleGan2Params(
  flat: ReadonlyMap<string, RawTensor>, cfg: ResolvedStyleGan2Config, opts: TakeOptions & { filterGain?: number; storedFilters?: boolean } = {},
): StyleGan2Params {
  const expected = expectedNvlabsShapes(cfg, flat.has('mapping.w_avg'), opts.storedFilters ?? true);
  const { tensors } = takeExpected(flat, expected, opts);
  const made: tf.Tensor[] = [];
  const keep = <T extends tf.Tensor>(t: T): T => (made.push(t), t);
  const get = (k: string) => tensors.get(k)!;
  const fc = (p: string): FullyConnectedParams => ({
    weight: keep(linearWeightToInOut(get(`${p}.weight`), `${p}.weight`)),
    bias: keep(rawToTensor(get(`${p}.bias`), `${p}.bias`) as tf.Tensor1D),
  });
  try {
    const mapping: MappingParams = {};
    if (cfg.cDim > 0) mapping.embed = fc('mapping.embed');
    for (let i = 0; i < cfg.numLayers; i++) mapping[`fc${i}`] = fc(`mapping.fc${i}`);
    if (tensors.has('mapping.w_avg')) mapping.w_avg = keep(rawToTensor(get('mapping.w_avg'), 'mapping.w_avg') as tf.Tensor1D);
    const synthesis: StyleGan2Params['synthesis'] = {};
    for (const [k, raw] of tensors) if (k.endsWith('resample_filter')) checkStoredFilter(k, raw, cfg, opts.filterGain ?? 1, opts.file);
    cfg.blockResolutions.forEach((res, bi) => {
      const b = `synthesis.b${res}`;
      const layer = (name: string): SynthesisLayerParams => {
        const p = `${b}.${name}`;
        const l: SynthesisLayerParams = {
          affine: fc(`${p}.affine`), weight: keep(convWeightToHwio(get(`${p}.weight`), `${p}.weight`)),
          bias: keep(rawToTensor(get(`${p}.bias`), `${p}.bias`) as tf.Tensor1D),
        };
        if (cfg.useNoise) {
          l.noise_const = keep(rawToTensor(get(`${p}.noise_const`), `${p}.noise_const`) as tf.Tensor2D);
          l.noise_strength = keep(tf.tidy(() => tf.reshape(rawToTensor(get(`${p}.noise_strength`), `${p}.noise_strength`), []) as tf.Scalar));
        }
        return l;
      };
      const block: SynthesisBlockParams = {
        conv1: layer('conv1'),
        torgb: {
          affine: fc(`${b}.torgb.affine`), weight: keep(convWeightToHwio(get(`${b}.torgb.weight`), `${b}.torgb.weight`)),
          bias: keep(rawToTensor(get(`${b}.torgb.bias`), `${b}.torgb.bias`) as tf.Tensor1D),
        },
      };
      if (bi === 0) block.const = keep(tf.tidy(() => tf.transpose(rawToTensor(get(`${b}.const`), `${b}.const`), [1, 2, 0]) as tf.Tensor3D));
      else block.conv0 = layer('conv0');
      synthesis[`b${res}`] = block;
    });
    return { mapping, synthesis };
  } catch (e) {
    tf.dispose(made);
    throw e;
  }
}
