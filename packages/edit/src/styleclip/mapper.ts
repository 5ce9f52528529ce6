/**
 * StyleCLIP's latent mapper (`mapper/latent_mappers.py`): `LevelsMapper` (one sub-mapper per coarse / medium /
 * fine group of W+ rows) and `SingleMapper` (one for all rows). Each sub-mapper is `PixelNorm` followed by four
 * `EqualLinear(D, D, lr_mul=0.01, activation='fused_lrelu')` (rosinality's StyleGAN2 layers). The edit is applied
 * as StyleCLIP's coach and inference script do: `ŵ = w + 0.1 · M(w)`.
 *
 * Symbols: `w` = W+ codes `[B, n_latent, D]`; `M(w)` = the mapper output ("delta"), same shape.
 * @module
 */
import * as tf from '@tensorflow/tfjs-core';
import { OptionError, ShapeMismatchError } from '@semedit/core';

/** EqualLinear's learning-rate multiplier in StyleCLIP's mapper. */
export const MAPPER_LR_MUL = 0.01;
/** The residual factor StyleCLIP applies to the mapper output (`w + 0.1 * mapper(w)`, coach and inference). */
export const MAPPER_STRENGTH = 0.1;
/** The W+ row groups of `LevelsMapper`: coarse 0–3, medium 4–7, fine 8–end (regardless of n_latent). */
export const MAPPER_GROUPS = [
  ['course_mapping', 0, 4],
  ['medium_mapping', 4, 8],
  ['fine_mapping', 8, Infinity],
] as const;

/**
 * One `EqualLinear` layer as loaded: the checkpoint's `weight` `[out, in]` transposed once to `[in, out]`, and the
 * stored (unscaled) `bias` `[out]`. The lr-multiplier scaling happens in the forward pass, so gradients are with
 * respect to the stored parameters, as in PyTorch.
 *
 * @example
 * ```ts
 * const l: EqualLinearParams = { weight: tf.zeros([512, 512]), bias: tf.zeros([512]) };
 * ```
 */
export interface EqualLinearParams {
  /** `[in, out]` (the stored `[out, in]` transposed). */
  weight: tf.Tensor2D;
  /** `[out]`, unscaled. */
  bias: tf.Tensor1D;
}

/**
 * A sub-mapper (`Mapper.mapping`, an `nn.Sequential`): entry `0` is the parameter-free PixelNorm, entries `1`–`4`
 * the EqualLinear layers (keys kept verbatim: `course_mapping.mapping.1.weight` ↔ `course_mapping.mapping['1'].weight`).
 *
 * @example
 * ```ts
 * const first = params.course_mapping!.mapping['1'].weight; // [D, D]
 * ```
 */
export interface SubMapperParams {
  mapping: Record<'1' | '2' | '3' | '4', EqualLinearParams>;
}

/**
 * The mapper's parameter tree with StyleCLIP's module names (`course_mapping` is the reference's spelling). A
 * `LevelsMapper` has the groups it was trained with (a `--no_*_mapper` group is absent and outputs zeros); a
 * `SingleMapper` has only `mapping`.
 *
 * @example
 * ```ts
 * const hasFine = params.fine_mapping !== undefined;
 * ```
 */
export interface LatentMapperParams {
  course_mapping?: SubMapperParams;
  medium_mapping?: SubMapperParams;
  fine_mapping?: SubMapperParams;
  /** `SingleMapper` only. */
  mapping?: SubMapperParams;
}

/** The four layer keys of a sub-mapper, in order. */
export const MAPPER_LAYER_KEYS = ['1', '2', '3', '4'] as const;

/**
 * rosinality's `PixelNorm` as StyleCLIP's mapper calls it on a 3-D slice: normalizes over **dim 1, the latent
 * rows** (not the features): `x · rsqrt(mean(x², rows) + 1e-8)`.
 *
 * @param x `[B, rows, D]`
 * @returns `[B, rows, D]`
 * @example
 * ```ts
 * pixelNormRows(tf.ones([2, 4, 8])); // all ones
 * ```
 */
export function pixelNormRows(x: tf.Tensor3D): tf.Tensor3D {
  return tf.mul(x, tf.rsqrt(tf.add(tf.mean(tf.square(x), 1, true), 1e-8)));
}

/**
 * `EqualLinear(activation='fused_lrelu')` on the last axis: `lrelu(x @ (W · lr_mul/√in) + b · lr_mul, 0.2) · √2`.
 *
 * @param p     the layer (`weight` `[in, out]`, `bias` `[out]`)
 * @param x     `[..., in]`
 * @param lrMul learning-rate multiplier (StyleCLIP: 0.01)
 * @returns `[..., out]`
 * @example
 * ```ts
 * const y = equalLinearLrelu(params.course_mapping!.mapping['1'], x); // same shape as x for a D→D layer
 * ```
 */
export function equalLinearLrelu(p: EqualLinearParams, x: tf.Tensor, lrMul = MAPPER_LR_MUL): tf.Tensor {
  const [inDim, outDim] = p.weight.shape;
  if (x.shape[x.rank - 1] !== inDim) throw new ShapeMismatchError('mapper input', [...x.shape.slice(0, -1), inDim], x.shape);
  const scale = lrMul / Math.sqrt(inDim);
  const flat = tf.reshape(x, [-1, inDim]);
  const y = tf.add(tf.matMul(flat, tf.mul(p.weight, scale)), tf.mul(p.bias, lrMul));
  return tf.reshape(tf.mul(tf.leakyRelu(y, 0.2), Math.SQRT2), [...x.shape.slice(0, -1), outDim]);
}

/**
 * One sub-mapper (`Mapper.forward`): PixelNorm over the rows, then the four activated EqualLinear layers.
 *
 * @param p sub-mapper parameters
 * @param x `[B, rows, D]`
 * @returns `[B, rows, D]`
 * @example
 * ```ts
 * const coarse = subMapperForward(params.course_mapping!, tf.slice(w, [0, 0, 0], [-1, 4, -1]));
 * ```
 */
export function subMapperForward(p: SubMapperParams, x: tf.Tensor3D): tf.Tensor3D {
  let h: tf.Tensor = pixelNormRows(x);
  for (const k of MAPPER_LAYER_KEYS) h = equalLinearLrelu(p.mapping[k], h);
  return h as tf.Tensor3D;
}

/**
 * The mapper output `M(w)` (`LevelsMapper.forward` / `SingleMapper.forward`): each row group through its own
 * sub-mapper, zeros for a disabled group, concatenated back; a group beyond the last row (the fine group of a W+
 * with 8 rows or fewer, as in the reference's slicing) contributes nothing. Differentiable in `w` and the
 * parameters; call inside `tf.tidy` / `tf.grad`.
 *
 * @param p mapper parameters
 * @param w `[B, n_latent, D]` W+ codes (n_latent ≥ 1)
 * @returns `[B, n_latent, D]`
 * @example
 * ```ts
 * const delta = tf.tidy(() => latentMapperForward(mapper.params, w)); // [4, 18, 512]
 * ```
 */
export function latentMapperForward(p: LatentMapperParams, w: tf.Tensor3D): tf.Tensor3D {
  if (w.rank !== 3) throw new ShapeMismatchError('w (W+)', [null, null, null], w.shape);
  if (p.mapping) return subMapperForward(p.mapping, w);
  const [, rows] = w.shape;
  if (rows < 1) throw new ShapeMismatchError('w (W+)', [null, 1, w.shape[2]], w.shape);
  const parts = MAPPER_GROUPS.map(([name, start, end]) => {
    const count = Math.max(0, Math.min(end, rows) - start);
    const x = tf.slice(w, [0, Math.min(start, rows), 0], [-1, count, -1]);
    const sub = p[name];
    // A group past the last row (e.g. the fine group of an 8-row W+) sees an empty slice: empty output, no NaN,
    // and its parameters take no part in the result (zero gradients, as in the reference).
    return sub && count > 0 ? subMapperForward(sub, x) : count > 0 ? tf.zerosLike(x) : x;
  });
  return tf.concat(parts.filter((x) => x.size > 0), 1);
}

/**
 * The edited latent `ŵ = w + strength · M(w)` (StyleCLIP's coach and inference: strength 0.1).
 *
 * @param p    mapper parameters
 * @param w    `[B, n_latent, D]`
 * @param opts `strength` (default {@link MAPPER_STRENGTH}); other values scale the edit
 * @returns `[B, n_latent, D]`
 * @example
 * ```ts
 * const wHat = tf.tidy(() => applyLatentMapper(mapper.params, w)); // then synthesize from W+
 * ```
 */
export function applyLatentMapper(p: LatentMapperParams, w: tf.Tensor3D, opts: { strength?: number } = {}): tf.Tensor3D {
  const strength = opts.strength ?? MAPPER_STRENGTH;
  if (!Number.isFinite(strength)) throw new OptionError('strength', `must be a finite number, got ${strength}`);
  return tf.add(w, tf.mul(latentMapperForward(p, w), strength));
}

/**
 * Every parameter of the tree by its StyleCLIP state-dict key (`course_mapping.mapping.1.weight`, …), as held
 * (weights `[in, out]`).
 *
 * @param p mapper parameters
 * @example
 * ```ts
 * [...mapperParamEntries(params).keys()][0]; // 'course_mapping.mapping.1.weight'
 * ```
 */
export function mapperParamEntries(p: LatentMapperParams): Map<string, tf.Tensor> {
  const out = new Map<string, tf.Tensor>();
  for (const group of ['course_mapping', 'medium_mapping', 'fine_mapping', 'mapping'] as const) {
    const sub = p[group];
    if (!sub) continue;
    for (const k of MAPPER_LAYER_KEYS) {
      out.set(`${group}.mapping.${k}.weight`, sub.mapping[k].weight);
      out.set(`${group}.mapping.${k}.bias`, sub.mapping[k].bias);
    }
  }
  return out;
}

/**
 * Builds a parameter tree from tensors keyed as {@link mapperParamEntries} returns them (weights `[in, out]`).
 *
 * @param entries tensors by state-dict key; every layer of each present group must be there
 * @throws OptionError naming a missing key
 * @example
 * ```ts
 * const p = mapperParamsFromEntries(new Map([...mapperParamEntries(params)].map(([k, t]) => [k, tf.variable(t)])));
 * ```
 */
export function mapperParamsFromEntries(entries: ReadonlyMap<string, tf.Tensor>): LatentMapperParams {
  const p: LatentMapperParams = {};
  for (const group of ['course_mapping', 'medium_mapping', 'fine_mapping', 'mapping'] as const) {
    if (![...entries.keys()].some((k) => k.startsWith(`${group}.`))) continue;
    const get = (key: string) => {
      const t = entries.get(key);
      if (!t) throw new OptionError('mapper parameters', `missing "${key}"`);
      return t;
    };
    const layer = (k: string): EqualLinearParams => ({
      weight: get(`${group}.mapping.${k}.weight`) as tf.Tensor2D,
      bias: get(`${group}.mapping.${k}.bias`) as tf.Tensor1D,
    });
    p[group] = { mapping: { '1': layer('1'), '2': layer('2'), '3': layer('3'), '4': layer('4') } };
  }
  return p;
}
