/**
 * Timestep embeddings: diffusers' `get_timestep_embedding` (the `Timesteps` module, sinusoidal) and
 * `TimestepEmbedding` (linear → SiLU → linear), plus the normalization of the timestep argument.
 * @module
 */
import * as tf from '@tensorflow/tfjs-core';
import { OptionError, ShapeMismatchError } from '../errors.js';
import { silu } from '../nn/activations.js';
import { linear, type LinearParams } from '../nn/linear.js';

/**
 * A timestep argument: one value for every batch row, one per row, or a tensor of either (float timesteps as
 * Euler-type schedulers produce are fine).
 *
 * @example
 * ```ts
 * const t: TimestepInput = [981, 17];
 * ```
 */
export type TimestepInput = number | readonly number[] | tf.Tensor;

/**
 * Options of {@link timestepProj}.
 *
 * @example
 * ```ts
 * const o: TimestepProjOptions = { dim: 320, flipSinToCos: true, freqShift: 0 };
 * ```
 */
export interface TimestepProjOptions {
  /** Embedding width (`block_out_channels[0]`). */
  dim: number;
  /** Put the cosines first (`flip_sin_to_cos`, true for SD). */
  flipSinToCos: boolean;
  /** `downscale_freq_shift` (`freq_shift`, 0 for SD; 1 in the original DDPM). */
  freqShift: number;
  /** Multiplies the arguments (default 1). */
  scale?: number;
  /** Longest period (default 10000). */
  maxPeriod?: number;
}

/**
 * Turns a timestep argument into a float32 `[B]` tensor, broadcasting a single value to the batch.
 *
 * @param t     number, list, or tensor of shape `[]`, `[1]` or `[B]`
 * @param batch the batch size B
 * @throws ShapeMismatchError when a list or tensor has neither 1 nor B values
 * @example
 * ```ts
 * timestepsTensor(537, 2).print(); // [537, 537]
 * ```
 */
export function timestepsTensor(t: TimestepInput, batch: number): tf.Tensor1D {
  if (typeof t === 'number') {
    if (!Number.isFinite(t)) throw new OptionError('timestep', `must be finite, got ${t}`);
    return tf.fill([batch], t, 'float32') as tf.Tensor1D;
  }
  const v = t instanceof tf.Tensor ? tf.cast(tf.reshape(t, [-1]), 'float32') : tf.tensor1d(Array.from(t), 'float32');
  if (v.shape[0] === batch) return v as tf.Tensor1D;
  if (v.shape[0] === 1) return tf.tile(v, [batch]) as tf.Tensor1D;
  throw new ShapeMismatchError('timestep', [batch], t instanceof tf.Tensor ? t.shape : [v.shape[0]!]);
}

/**
 * Sinusoidal timestep embedding (`get_timestep_embedding`): with `half = dim/2`,
 * `freq_i = exp(-ln(maxPeriod) · i / (half - freqShift))`, `emb = [sin(scale·t·freq), cos(scale·t·freq)]`,
 * halves swapped when `flipSinToCos`, a zero column appended for odd `dim`. The frequencies are computed in
 * float32 steps like PyTorch's, so the products `t · freq` round the same way.
 *
 * @param t    `[B]` timesteps (float32)
 * @param opts width, order, shift
 * @returns `[B, dim]`
 * @example
 * ```ts
 * timestepProj(tf.tensor1d([0]), { dim: 4, flipSinToCos: true, freqShift: 0 }).print(); // [[1, 1, 0, 0]]
 * ```
 */
export function timestepProj(t: tf.Tensor1D, opts: TimestepProjOptions): tf.Tensor2D {
  const half = Math.floor(opts.dim / 2);
  const f = Math.fround;
  const logPeriod = f(-Math.log(opts.maxPeriod ?? 10000));
  const denom = f(half - opts.freqShift);
  const freqs = new Float32Array(half);
  for (let i = 0; i < half; i++) freqs[i] = f(Math.exp(f(f(logPeriod * i) / denom)));
  const args = tf.mul(tf.reshape(t, [-1, 1]), tf.tensor2d(freqs, [1, half])); // [B, half]
  const scaled = (opts.scale ?? 1) === 1 ? args : tf.mul(args, opts.scale ?? 1);
  const [sin, cos] = [tf.sin(scaled), tf.cos(scaled)];
  let emb = tf.concat(opts.flipSinToCos ? [cos, sin] : [sin, cos], 1) as tf.Tensor2D;
  if (opts.dim % 2 === 1) emb = tf.pad(emb, [[0, 0], [0, 1]]);
  return emb;
}

/**
 * `TimestepEmbedding` parameters (`time_embedding.linear_1`, `.linear_2`).
 *
 * @example
 * ```ts
 * const temb = timestepEmbedding(params.time_embedding, tproj);
 * ```
 */
export interface TimestepEmbeddingParams {
  linear_1: LinearParams;
  linear_2: LinearParams;
}

/**
 * `TimestepEmbedding.forward`: `linear_2(silu(linear_1(x)))`.
 *
 * @param p linear layers
 * @param x `[B, dim]` sinusoidal embedding
 * @returns `[B, timeEmbedDim]`
 * @example
 * ```ts
 * timestepEmbedding(p, tf.zeros([2, 32])).shape; // [2, 128]
 * ```
 */
export function timestepEmbedding(p: TimestepEmbeddingParams, x: tf.Tensor2D): tf.Tensor2D {
  return linear(p.linear_2, silu(linear(p.linear_1, x)));
}
