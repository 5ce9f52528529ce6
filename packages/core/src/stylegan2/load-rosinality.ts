/**
 * Loading rosinality/stylegan2-pytorch generators (`.pt` training checkpoints with `g_ema`, StyleCLIP checkpoints
 * with a `decoder.` prefix, safetensors with rosinality keys). The network is the same as NVLabs' (same mapping,
 * modulated convs, upsampling, ToRGB skips; the README of the rosinality fixture lists the correspondences), so
 * keys are renamed by {@link ROSINALITY_RENAME_TABLE} to the NVLabs tree and a few values converted once:
 * - conv kernels `[1, out, in, k, k]` → `[out, in, k, k]` times rosinality's `scale = 1/√(in·k²)` (it multiplies
 *   the kernel before demodulating; folding it in gives exactly its `scale·w·s` product);
 * - ToRGB kernels `[1, C, in, 1, 1]` → `[C, in, 1, 1]` unscaled (its `1/√in` is NVLabs' ToRGB weight gain);
 * - `input.input [1, C, 4, 4]` → `const [C, 4, 4]`, `noise.weight [1]` → scalar `noise_strength`,
 *   `noises.noise_k [1, 1, H, W]` → that layer's `noise_const [H, W]`, ToRGB bias `[1, C, 1, 1]` → `[C]`;
 * - blur / upsample kernels are checked against the config's filter (stored times `up² = 4`) and dropped;
 * - a checkpoint's top-level `latent_avg` becomes `mapping.w_avg`.
 * @module
 */
import type { RawTensor } from '../io/types.js';
import { detectCheckpointFormat, readCheckpoint } from '../io/checkpoint.js';
import { readTorchCheckpoint } from '../io/torch.js';
import { materializeTensors } from '../io/torch-tensors.js';
import { renameKeys, selectPrefix, type RenameRule } from '../io/strict.js';
import { ShapeMismatchError, MissingWeightError } from '../errors.js';
import { resolveStyleGan2Config, rosinalityToConfig, type ResolvedStyleGan2Config, type RosinalityGeneratorConfig, type StyleGan2Config } from './config.js';
import { MissingGeneratorError } from './errors.js';
import { StyleGan2 } from './generator.js';
import { buildStyleGan2Params, checkStoredFilter } from './params.js';

const LAYER_SUFFIX: Record<string, string> = {
  'conv.modulation.': 'affine.', 'conv.weight': 'weight', 'conv.blur.kernel': 'resample_filter',
  'noise.weight': 'noise_strength', 'activate.bias': 'bias',
};
const LAYER = String.raw`(conv\.modulation\.|conv\.weight$|conv\.blur\.kernel$|noise\.weight$|activate\.bias$)`;
const RGB = String.raw`(conv\.modulation\.|conv\.weight$|bias$|upsample\.kernel$)`;
/** Resolution of rosinality's `convs.{i}` (pairs per block from 8×8). */
const convRes = (i: number) => 8 << (i >> 1);
const rgb = (res: number, suffix: string) =>
  suffix === 'upsample.kernel' ? `synthesis.b${res}.resample_filter` : `synthesis.b${res}.torgb.${suffix === 'conv.modulation.' ? 'affine.' : suffix.replace('conv.', '')}`;

/**
 * rosinality `Generator` state-dict keys → NVLabs keys (first matching rule wins; the matched part is replaced).
 *
 * @example
 * ```ts
 * renameKeys(new Map([['convs.3.conv.modulation.bias', t]]), ROSINALITY_RENAME_TABLE).map.keys(); // 'synthesis.b16.conv1.affine.bias'
 * ```
 */
export const ROSINALITY_RENAME_TABLE: readonly RenameRule[] = [
  [/^style\.(\d+)\./, (m) => `mapping.fc${Number(m[1]) - 1}.`],
  [/^input\.input$/, 'synthesis.b4.const'],
  [new RegExp(`^conv1\\.${LAYER}`), (m) => `synthesis.b4.conv1.${LAYER_SUFFIX[m[1]!]}`],
  [new RegExp(`^convs\\.(\\d+)\\.${LAYER}`), (m) => `synthesis.b${convRes(Number(m[1]))}.conv${Number(m[1]) % 2}.${LAYER_SUFFIX[m[2]!]}`],
  [new RegExp(`^to_rgb1\\.${RGB}`), (m) => rgb(4, m[1]!)],
  [new RegExp(`^to_rgbs\\.(\\d+)\\.${RGB}`), (m) => rgb(8 << Number(m[1]), m[2]!)],
  [/^noises\.noise_(\d+)$/, (m) => {
    const k = Number(m[1]);
    return k === 0 ? 'synthesis.b4.conv1.noise_const' : `synthesis.b${convRes(k - 1)}.conv${(k - 1) % 2}.noise_const`;
  }],
];

function squeezeLeading(raw: RawTensor, lead: number, key: string, want: (number | null)[]): RawTensor {
  const ok = raw.shape.length === want.length && raw.shape.slice(0, lead).every((d) => d === 1);
  if (!ok) throw new ShapeMismatchError(key, want, raw.shape);
  return { ...raw, shape: raw.shape.slice(lead) };
}

function scaled(raw: RawTensor, factor: number): RawTensor {
  const src = raw.data as Float32Array;
  const out = new Float32Array(src.length);
  for (let i = 0; i < src.length; i++) out[i] = src[i]! * factor;
  return { dtype: 'float32', shape: raw.shape, data: out };
}

/**
 * The rosinality config a state dict implies: `style_dim` and `n_mlp` from the mapping, `size` from the ToRGB
 * count, widths from the conv kernels (so channel tables other than rosinality's load too); `lr_mlp` 0.01 and
 * `blur_kernel` [1, 3, 3, 1] are rosinality's defaults (the stored blur kernels are checked against it at load).
 *
 * @param flat rosinality tensors by key
 * @param file checkpoint name for errors
 * @example
 * ```ts
 * inferRosinalityConfig(g_ema); // { config: { size: 32, style_dim: 32, n_mlp: 8 }, channels: { 4: 64, 8: 64, 16: 32, 32: 16 } }
 * ```
 */
export function inferRosinalityConfig(flat: ReadonlyMap<string, RawTensor>, file?: string): { config: RosinalityGeneratorConfig; channels: Record<string, number> } {
  const need = (k: string) => {
    const t = flat.get(k);
    if (!t) throw new MissingWeightError(k, file, 'needed to infer the rosinality config');
    return t;
  };
  const styleDim = need('style.1.weight').shape[1]!;
  let nMlp = 0;
  while (flat.has(`style.${nMlp + 1}.weight`)) nMlp++;
  let nRgb = 0;
  while (flat.has(`to_rgbs.${nRgb}.conv.weight`)) nRgb++;
  const channels: Record<string, number> = { 4: need('conv1.conv.weight').shape[1]! };
  for (let i = 0; i < nRgb; i++) channels[String(8 << i)] = need(`convs.${2 * i}.conv.weight`).shape[1]!;
  return { config: { size: 4 << nRgb, style_dim: styleDim, n_mlp: nMlp, lr_mlp: 0.01, blur_kernel: [1, 3, 3, 1] }, channels };
}

/**
 * Renames and converts rosinality tensors to NVLabs keys and layouts (see the module comment).
 *
 * @param flat      rosinality tensors by key
 * @param cfg       resolved config (for the filter check)
 * @param latentAvg optional `latent_avg` tensor → `mapping.w_avg`
 * @param file      checkpoint name for errors
 * @example
 * ```ts
 * const nv = rosinalityToNvlabs(gEma, cfg); nv.get('synthesis.b4.const')!.shape; // [C, 4, 4]
 * ```
 */
export function rosinalityToNvlabs(
  flat: ReadonlyMap<string, RawTensor>, cfg: ResolvedStyleGan2Config, latentAvg?: RawTensor, file?: string,
): Map<string, RawTensor> {
  const { map } = renameKeys(flat, ROSINALITY_RENAME_TABLE, file !== undefined ? { file } : {});
  const out = new Map<string, RawTensor>();
  for (const [k, raw] of map) {
    if (k.endsWith('resample_filter')) {
      checkStoredFilter(k, raw, cfg, 4, file);
      continue;
    }
    if (k === 'synthesis.b4.const') out.set(k, squeezeLeading(raw, 1, k, [1, null, 4, 4]));
    else if (/\.conv[01]\.weight$/.test(k)) {
      const w = squeezeLeading(raw, 1, k, [1, null, null, null, null]);
      const [, cin, kh, kw] = w.shape as [number, number, number, number];
      out.set(k, scaled(w, 1 / Math.sqrt(cin * kh * kw)));
    } else if (k.endsWith('.torgb.weight')) out.set(k, squeezeLeading(raw, 1, k, [1, null, null, 1, 1]));
    else if (k.endsWith('.torgb.bias')) out.set(k, { ...squeezeLeading(raw, 1, k, [1, null, 1, 1]), shape: [raw.shape[1]!] });
    else if (k.endsWith('.noise_strength')) out.set(k, { ...squeezeLeading(raw, 1, k, [1]), shape: [] });
    else if (k.endsWith('.noise_const')) out.set(k, squeezeLeading(raw, 2, k, [1, 1, null, null]));
    else out.set(k, raw);
  }
  if (latentAvg) out.set('mapping.w_avg', { ...latentAvg, shape: [latentAvg.shape.reduce((a, b) => a * b, 1)] });
  return out;
}

/**
 * Options of {@link loadRosinalityGenerator} and {@link rosinalityGeneratorFromTensors}.
 *
 * @example
 * ```ts
 * const o: LoadRosinalityOptions = { root: 'state_dict', prefix: 'decoder.' }; // a StyleCLIP mapper checkpoint
 * ```
 */
export interface LoadRosinalityOptions {
  /** Generator arguments; default: inferred from the weights ({@link inferRosinalityConfig}). */
  config?: RosinalityGeneratorConfig;
  /** Explicit widths per resolution (non-standard channel tables), with `config`. */
  channels?: Record<string, number>;
  /** Pickled checkpoints: the entry holding the state dict (default `g_ema`; `state_dict` for StyleCLIP files). */
  root?: string;
  /** Key prefix inside it (e.g. `decoder.`), default none. */
  prefix?: string;
  /** Top-level tensor used as `w_avg` when present (default `latent_avg`). */
  latentAvgKey?: string;
}

/**
 * Builds a generator from rosinality tensors (already read).
 *
 * @param flat      rosinality tensors by key
 * @param opts      `config`, `channels`
 * @param latentAvg optional mean latent → `w_avg`
 * @param file      checkpoint name for errors
 * @example
 * ```ts
 * const G = rosinalityGeneratorFromTensors((await readCheckpoint('g.safetensors')).tensors);
 * ```
 */
export function rosinalityGeneratorFromTensors(
  flat: ReadonlyMap<string, RawTensor>, opts: LoadRosinalityOptions = {}, latentAvg?: RawTensor, file?: string,
): StyleGan2 {
  const inferred = opts.config ? { config: opts.config, channels: opts.channels } : inferRosinalityConfig(flat, file);
  const config: StyleGan2Config = rosinalityToConfig(inferred.config, inferred.channels, file);
  const cfg = resolveStyleGan2Config(config, file);
  const nv = rosinalityToNvlabs(flat, cfg, latentAvg, file);
  return new StyleGan2(cfg, buildStyleGan2Params(nv, cfg, { file, storedFilters: false }), 'rosinality');
}

/**
 * Loads a rosinality generator from a `.pt` (entry `g_ema`, plus `latent_avg` when present), a StyleCLIP
 * checkpoint (`root: 'state_dict', prefix: 'decoder.'`) or a safetensors file of rosinality keys.
 *
 * @param path checkpoint file
 * @param opts `config`, `channels`, `root`, `prefix`, `latentAvgKey`
 * @throws MissingGeneratorError when the entry or prefix holds no generator; strict-loading errors otherwise
 * @example
 * ```ts
 * const G = await loadRosinalityGenerator('stylegan2-ffhq-config-f.pt');
 * G.numWs; // 18
 * ```
 */
export async function loadRosinalityGenerator(path: string, opts: LoadRosinalityOptions = {}): Promise<StyleGan2> {
  const format = await detectCheckpointFormat(path);
  let all: Map<string, RawTensor>;
  let prefix = opts.prefix ?? '';
  let latentAvg: RawTensor | undefined;
  if (format === 'safetensors' || format === 'tfjs') {
    all = (await readCheckpoint(path)).tensors;
    latentAvg = all.get(opts.latentAvgKey ?? 'latent_avg');
  } else {
    // Read only the generator's tensors (real training checkpoints also hold g, d and optimizer states).
    const ck = await readTorchCheckpoint(path);
    try {
      const refs = ck.tensorRefs();
      prefix = `${opts.root ?? 'g_ema'}/${prefix}`;
      const avgKey = opts.latentAvgKey ?? 'latent_avg';
      const wanted = new Map([...refs].filter(([k]) => k.startsWith(prefix) || k === avgKey));
      if (![...wanted.keys()].some((k) => k.startsWith(prefix))) {
        const tops = [...new Set([...refs.keys()].map((k) => k.split('/')[0]!.split('.')[0]!))];
        throw new MissingGeneratorError(path, prefix, tops);
      }
      all = await materializeTensors(wanted);
      latentAvg = all.get(avgKey);
    } finally {
      await ck.close();
    }
  }
  const flat = prefix ? selectPrefix(all, prefix) : all;
  if (!flat.has('style.1.weight')) {
    const tops = [...new Set([...all.keys()].map((k) => k.split('/')[0]!.split('.')[0]!))];
    throw new MissingGeneratorError(path, prefix || 'style.1.weight', tops);
  }
  return rosinalityGeneratorFromTensors(flat, opts, latentAvg, path);
}
