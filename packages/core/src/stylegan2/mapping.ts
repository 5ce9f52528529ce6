/**
 * StyleGAN2's mapping network Z → W (stylegan2-ada `MappingNetwork`, rosinality `Generator.style`), truncation
 * toward `w_avg` (or any centre, e.g. rosinality's `mean_latent`), the mean latent, and style mixing.
 *
 *   w = f(z) = FC_L(... FC_1(normalize_2nd_moment(z)))    FC(x) = lrelu(x·(W·g) + b·λ, 0.2)·√2,  g = λ/√in
 *   w' = w̄ + ψ·(w − w̄)                                     truncation on the first `cutoff` rows of W+
 *
 * Symbols: λ the equalized-lr multiplier (0.01 for the mapping), ψ the truncation psi, w̄ = `w_avg`.
 * @module
 */
import * as tf from '@tensorflow/tfjs-core';
import { OptionError, ShapeMismatchError } from '../errors.js';
import type { ResolvedStyleGan2Config } from './config.js';
import type { FullyConnectedParams, MappingParams } from './params.js';

/**
 * Options of {@link fullyConnected}.
 *
 * @example
 * ```ts
 * const o: FullyConnectedOptions = { lrMultiplier: 0.01, activation: 'lrelu' };
 * ```
 */
export interface FullyConnectedOptions {
  /** Equalized-lr multiplier λ (default 1). */
  lrMultiplier?: number;
  /** `'linear'` (default) or `'lrelu'` (slope 0.2, gain √2). */
  activation?: 'linear' | 'lrelu';
}

/**
 * stylegan2-ada `FullyConnectedLayer` / rosinality `EqualLinear`: `x·(W·λ/√in) + b·λ`, then the activation.
 *
 * @param p    `weight [in, out]`, `bias [out]` as stored
 * @param x    `[N, in]`
 * @param opts `lrMultiplier`, `activation`
 * @returns `[N, out]`
 * @example
 * ```ts
 * fullyConnected(params.mapping.fc0!, z, { lrMultiplier: 0.01, activation: 'lrelu' }).shape; // [N, w_dim]
 * ```
 */
export function fullyConnected(p: FullyConnectedParams, x: tf.Tensor2D, opts: FullyConnectedOptions = {}): tf.Tensor2D {
  const [fin] = p.weight.shape;
  if (x.rank !== 2 || x.shape[1] !== fin) throw new ShapeMismatchError('fullyConnected input', [null, fin], x.shape);
  const lr = opts.lrMultiplier ?? 1;
  return tf.tidy(() => {
    const w = tf.mul(p.weight, lr / Math.sqrt(fin)) as tf.Tensor2D;
    const y = tf.add(tf.matMul(x, w), tf.mul(p.bias, lr)) as tf.Tensor2D;
    return opts.activation === 'lrelu' ? (tf.mul(tf.leakyRelu(y, 0.2), Math.SQRT2) as tf.Tensor2D) : y;
  });
}

/**
 * `normalize_2nd_moment` / rosinality `PixelNorm`: `x · rsqrt(mean(x², features) + 1e-8)`.
 *
 * @param x `[N, C]`
 * @example
 * ```ts
 * normalize2ndMoment(tf.tensor2d([[3, 4]])); // ≈ [[0.8485, 1.1314]]
 * ```
 */
export function normalize2ndMoment(x: tf.Tensor2D): tf.Tensor2D {
  return tf.tidy(() => tf.mul(x, tf.rsqrt(tf.add(tf.mean(tf.square(x), 1, true), 1e-8))) as tf.Tensor2D);
}

/**
 * Options of {@link mapping}.
 *
 * @example
 * ```ts
 * const o: MappingOptions = { truncationPsi: 0.7, truncationCutoff: 8 };
 * ```
 */
export interface MappingOptions {
  /** Labels `[N, c_dim]` for conditional generators. */
  c?: tf.Tensor2D;
  /** ψ (default 1 = no truncation). */
  truncationPsi?: number;
  /** Truncate only the first `cutoff` W+ rows (default: all, as `truncation_cutoff=None`). */
  truncationCutoff?: number | null;
  /** Truncation centre `[w_dim]` or `[1, w_dim]` (default the generator's `w_avg`). */
  truncationLatent?: tf.Tensor;
}

/**
 * Z → W without broadcasting or truncation (rosinality `get_latent`); leading dims are kept.
 *
 * @param p   mapping params
 * @param cfg resolved config
 * @param z   `[..., z_dim]` (e.g. `[N, z_dim]` or `[N, num_ws, z_dim]` for W+ from one z per row)
 * @param c   labels `[N, c_dim]` (conditional generators, `z` rank 2)
 * @returns `[..., w_dim]`
 * @example
 * ```ts
 * mappingW(params.mapping, cfg, tf.randomNormal([4, 512])).shape; // [4, 512]
 * ```
 */
export function mappingW(p: MappingParams, cfg: ResolvedStyleGan2Config, z: tf.Tensor, c?: tf.Tensor2D): tf.Tensor {
  if (z.rank < 2 || z.shape[z.rank - 1] !== cfg.zDim) throw new ShapeMismatchError('z', [null, cfg.zDim], z.shape);
  if (cfg.cDim > 0 && (!c || z.rank !== 2 || c.shape[0] !== z.shape[0] || c.shape[1] !== cfg.cDim)) {
    throw new ShapeMismatchError('c', [z.shape[0] ?? null, cfg.cDim], c?.shape ?? []);
  }
  return tf.tidy(() => {
    const lead = z.shape.slice(0, -1);
    const n = lead.reduce((a, b) => a * b, 1);
    let x = cfg.zDim > 0 ? normalize2ndMoment(tf.reshape(z, [n, cfg.zDim])) : undefined;
    if (cfg.cDim > 0 && c && p.embed) {
      const y = normalize2ndMoment(fullyConnected(p.embed, c));
      x = x ? (tf.concat([x, y], 1) as tf.Tensor2D) : y;
    }
    if (!x) throw new OptionError('z_dim', 'z_dim and c_dim are both 0');
    for (let i = 0; i < cfg.numLayers; i++) {
      const fc = p[`fc${i}`];
      if (!fc) throw new OptionError('params', `mapping.fc${i} is missing`);
      x = fullyConnected(fc, x, { lrMultiplier: cfg.lrMultiplier, activation: 'lrelu' });
    }
    return tf.reshape(x, [...lead, cfg.wDim]);
  });
}

/**
 * Truncation `w̄ + ψ·(w − w̄)` on W+ codes (on the first `cutoff` rows, or all).
 *
 * @param ws     `[N, num_ws, w_dim]`
 * @param center `[w_dim]` or `[1, w_dim]`
 * @param psi    ψ
 * @param cutoff rows to truncate (default all)
 * @example
 * ```ts
 * truncate(ws, wAvg, 0.7, 8).shape; // ws.shape
 * ```
 */
export function truncate(ws: tf.Tensor3D, center: tf.Tensor, psi: number, cutoff: number | null = null): tf.Tensor3D {
  const [n, numWs, wDim] = ws.shape;
  if (center.size !== wDim) throw new ShapeMismatchError('truncation latent', [wDim], center.shape);
  return tf.tidy(() => {
    const m = tf.reshape(center, [1, 1, wDim]);
    const t = tf.add(m, tf.mul(psi, tf.sub(ws, m))) as tf.Tensor3D;
    if (cutoff === null || cutoff >= numWs) return t;
    const k = Math.max(0, cutoff);
    return tf.concat([tf.slice(t, [0, 0, 0], [n, k, wDim]), tf.slice(ws, [0, k, 0], [n, numWs - k, wDim])], 1) as tf.Tensor3D;
  });
}

/**
 * The full mapping `G.mapping(z, c, truncation_psi, truncation_cutoff)`: W broadcast to `num_ws` rows, then truncated.
 *
 * @param p    mapping params
 * @param cfg  resolved config
 * @param z    `[N, z_dim]`
 * @param opts `c`, `truncationPsi`, `truncationCutoff`, `truncationLatent`
 * @returns `[N, num_ws, w_dim]`
 * @example
 * ```ts
 * mapping(params.mapping, cfg, z, { truncationPsi: 0.7 }).shape; // [4, 18, 512] for FFHQ-1024
 * ```
 */
export function mapping(p: MappingParams, cfg: ResolvedStyleGan2Config, z: tf.Tensor2D, opts: MappingOptions = {}): tf.Tensor3D {
  if (z.rank !== 2) throw new ShapeMismatchError('z', [null, cfg.zDim], z.shape);
  const psi = opts.truncationPsi ?? 1;
  const center = opts.truncationLatent ?? p.w_avg;
  if (psi !== 1 && !center) throw new OptionError('truncationLatent', 'is required for truncation: this generator has no w_avg');
  return tf.tidy(() => {
    const w = mappingW(p, cfg, z, opts.c);
    const ws = tf.tile(tf.reshape(w, [z.shape[0], 1, cfg.wDim]), [1, cfg.numWs, 1]) as tf.Tensor3D;
    return psi === 1 ? ws : truncate(ws, center!, psi, opts.truncationCutoff ?? null);
  });
}

/**
 * Mean of W over a batch of z (rosinality `mean_latent(n)`, with the z draw passed in).
 *
 * @param p   mapping params
 * @param cfg resolved config
 * @param z   `[n, z_dim]`
 * @returns `[1, w_dim]`
 * @example
 * ```ts
 * const mean = meanLatent(params.mapping, cfg, randn([4096, 512], createGenerator(0)) as tf.Tensor2D);
 * ```
 */
export function meanLatent(p: MappingParams, cfg: ResolvedStyleGan2Config, z: tf.Tensor2D): tf.Tensor2D {
  return tf.tidy(() => tf.mean(mappingW(p, cfg, z), 0, true) as tf.Tensor2D);
}

/**
 * Style mixing: rows `[0, injectIndex)` from `a`, the rest from `b` (rosinality `inject_index`).
 *
 * @param a           `[N, num_ws, w_dim]`
 * @param b           `[N, num_ws, w_dim]`
 * @param injectIndex first row taken from `b`
 * @example
 * ```ts
 * mixStyles(wsA, wsB, 3).shape; // wsA.shape
 * ```
 */
export function mixStyles(a: tf.Tensor3D, b: tf.Tensor3D, injectIndex: number): tf.Tensor3D {
  const [n, numWs, wDim] = a.shape;
  if (b.shape.join() !== a.shape.join()) throw new ShapeMismatchError('mixStyles b', a.shape, b.shape);
  if (!Number.isInteger(injectIndex) || injectIndex < 0 || injectIndex > numWs) throw new OptionError('injectIndex', `must be an integer in [0, ${numWs}], got ${injectIndex}`);
  if (injectIndex === 0) return tf.clone(b);
  if (injectIndex === numWs) return tf.clone(a);
  return tf.tidy(() => tf.concat([tf.slice(a, [0, 0, 0], [n, injectIndex, wDim]), tf.slice(b, [0, injectIndex, 0], [n, numWs - injectIndex, wDim])], 1) as tf.Tensor3D);
}
