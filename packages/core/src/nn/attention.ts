/**
 * Multi-head scaled dot-product attention, chunked and hookable, on the wasm fast path.
 *
 * The score tensor `[B, heads, Nq, Nk]` of a 64×64 latent's self-attention is 1 GiB per batch row in float32,
 * so the probabilities are computed one chunk at a time: a chunk splits heads and/or queries, never batch rows
 * (design.md §4), and holds at most `maxScoreElements` scores. Every product is a rank-2 `matMul` per (row,
 * head) with K pre-transposed (`[d, Nk]`): on tfjs-backend-wasm those run on XNNPACK at ~35 GFLOPS on this
 * machine, while a batched `matMul` or one with `transposeB` runs at ~2 GFLOPS (measured, design.md §2): a 32×32
 * self-attention (B 2, C 640, 8 heads) takes 210 ms here against 2440 ms for {@link referenceAttention}, and a
 * 64×64 one (C 320) 1.4 s with at most 2^24 scores alive.
 * Per-head tensors are cut by halving splits: wasm's `Slice` copies its whole source for every slice, so
 * `unstack` into n pieces costs n times the tensor, halving 2·log2(n) times.
 * {@link referenceAttention} is the slow, obviously correct version the fast one is tested against.
 * On a backend with a fused attention kernel (native), batched matmuls are fast too: each chunk then runs as two
 * batched products over its heads instead of two per head (the same chunks, softmax and hook calls).
 * @module
 */
import * as tf from '@tensorflow/tfjs-core';
import { OptionError, ShapeMismatchError } from '../errors.js';
import { fusedAttention, hasFusedAttention } from './fused-attention.js';

/**
 * Default bound on the scores one chunk materializes: 2^24 float32 values (64 MiB).
 *
 * @example
 * ```ts
 * planAttentionChunks({ batch: 2, heads: 8, queries: 4096, keys: 4096 }, DEFAULT_MAX_SCORE_ELEMENTS).length; // 16
 * ```
 */
export const DEFAULT_MAX_SCORE_ELEMENTS = 1 << 24;

/**
 * Which part of the probabilities a chunk covers: heads `[start, end)` and queries `[start, end)`; always every
 * batch row and every key.
 *
 * @example
 * ```ts
 * const s: AttentionSlice = { heads: [0, 8], queries: [0, 2048] };
 * ```
 */
export interface AttentionSlice {
  heads: readonly [number, number];
  queries: readonly [number, number];
}

/**
 * Sees (and may replace) one chunk of attention probabilities `[B, headsInSlice, queriesInSlice, Nk]`; must
 * return a tensor of the same shape (or the one it was given).
 *
 * @example
 * ```ts
 * const double: ProbsHook = (probs) => tf.mul(probs, 2) as tf.Tensor4D;
 * ```
 */
export type ProbsHook = (probs: tf.Tensor4D, slice: AttentionSlice) => tf.Tensor4D;

/**
 * Options of {@link scaledDotProductAttention} and {@link referenceAttention}.
 *
 * @example
 * ```ts
 * const o: SdpaOptions = { heads: 8, maxScoreElements: 1 << 22 };
 * ```
 */
export interface SdpaOptions {
  /** Number of heads h; the channel count must be divisible by it (head size d = C / h). */
  heads: number;
  /** Logit scale, default `d^-0.5`. */
  scale?: number;
  /** Most scores one chunk may hold (default {@link DEFAULT_MAX_SCORE_ELEMENTS}). */
  maxScoreElements?: number;
  /** Called once per chunk with its probabilities, after the softmax and before the product with V. */
  onProbs?: ProbsHook;
  /**
   * Additive logit bias `[B or 1, 1, Nq, Nk]` (0 = attend, a very negative value = masked), added after the scale
   * and before the softmax, the same for every head (CLIP's causal and padding masks).
   */
  bias?: tf.Tensor4D;
}

/**
 * Splits the probabilities of an attention call into chunks of at most `maxScoreElements` scores: as many whole
 * heads as fit, or, when one head does not fit, one head and as many queries as fit (at least one).
 *
 * @param dims             batch B, heads h, queries Nq and keys Nk
 * @param maxScoreElements the bound (B · headsInChunk · queriesInChunk · Nk)
 * @returns chunks in head-major order, covering every (head, query) once
 * @example
 * ```ts
 * planAttentionChunks({ batch: 2, heads: 8, queries: 4096, keys: 4096 }, 1 << 24);
 * // [{ heads: [0, 1], queries: [0, 2048] }, { heads: [0, 1], queries: [2048, 4096] }, { heads: [1, 2], ... }, ...]
 * ```
 */
export function planAttentionChunks(
  dims: { batch: number; heads: number; queries: number; keys: number },
  maxScoreElements: number = DEFAULT_MAX_SCORE_ELEMENTS,
): AttentionSlice[] {
  if (!Number.isInteger(maxScoreElements) || maxScoreElements < 1) {
    throw new OptionError('maxScoreElements', `must be a positive integer, got ${maxScoreElements}`);
  }
  const { batch, heads, queries, keys } = dims;
  const chunks: AttentionSlice[] = [];
  const perHead = batch * queries * keys;
  if (perHead <= maxScoreElements) {
    const step = Math.min(heads, Math.floor(maxScoreElements / perHead));
    for (let h = 0; h < heads; h += step) chunks.push({ heads: [h, Math.min(h + step, heads)], queries: [0, queries] });
    return chunks;
  }
  const step = Math.max(1, Math.floor(maxScoreElements / (batch * keys)));
  for (let h = 0; h < heads; h++) {
    for (let q = 0; q < queries; q += step) chunks.push({ heads: [h, h + 1], queries: [q, Math.min(q + step, queries)] });
  }
  return chunks;
}

/** Splits `[n, ...rest]` into n tensors `[...rest]` by halving (see the module note on wasm's Slice). */
function splitAxis0(x: tf.Tensor, n: number): tf.Tensor[] {
  if (n === 1) return [tf.reshape(x, x.shape.slice(1))];
  const a = n >> 1;
  const [lo, hi] = tf.split(x, [a, n - a], 0);
  return [...splitAxis0(lo!, a), ...splitAxis0(hi!, n - a)];
}

function checkShapes(q: tf.Tensor3D, k: tf.Tensor3D, v: tf.Tensor3D, heads: number): { b: number; n: number; m: number; d: number } {
  const [b, n, c] = q.shape;
  const m = k.shape[1];
  if (k.shape[0] !== b || k.shape[2] !== c) throw new ShapeMismatchError('attention key', [b, null, c], k.shape);
  if (v.shape[0] !== b || v.shape[1] !== m || v.shape[2] !== c) throw new ShapeMismatchError('attention value', [b, m, c], v.shape);
  if (!Number.isInteger(heads) || heads < 1 || c % heads !== 0) throw new OptionError('heads', `${heads} does not divide the ${c} channels`);
  return { b, n, m, d: c / heads };
}

function checkHookOutput(out: tf.Tensor, want: readonly number[]): void {
  if (out.rank !== want.length || out.shape.some((s, i) => s !== want[i])) {
    throw new ShapeMismatchError('attention hook output', want, out.shape);
  }
}

/** Checks an additive bias against `[B or 1, 1, Nq, Nk]`. */
function checkBias(bias: tf.Tensor4D | undefined, b: number, n: number, m: number): tf.Tensor4D | undefined {
  if (bias && ((bias.shape[0] !== b && bias.shape[0] !== 1) || bias.shape[1] !== 1 || bias.shape[2] !== n || bias.shape[3] !== m)) {
    throw new ShapeMismatchError('attention bias', [b, 1, n, m], bias.shape);
  }
  return bias;
}

/** The bias of batch row `r`, queries `[q0, q1)`, as `[q1-q0, Nk]`. */
function biasRows(bias: tf.Tensor4D, r: number, q0: number, q1: number): tf.Tensor2D {
  const [rows, , , m] = bias.shape;
  return tf.reshape(tf.slice(bias, [rows === 1 ? 0 : r, 0, q0, 0], [1, 1, q1 - q0, m]), [q1 - q0, m]);
}

/**
 * Multi-head attention `softmax(q kᵀ · scale) v` per head, chunked (see {@link planAttentionChunks}) with an
 * optional hook on each chunk's probabilities. Without a hook, a backend's fused kernel runs instead when it has one
 * (see {@link fusedAttention}). Symbols: B batch, Nq queries, Nk keys, h heads, d = C/h.
 *
 * @param q    `[B, Nq, C]` queries (heads interleaved as `[h, d]` in the channel axis, as diffusers' `to_q`)
 * @param k    `[B, Nk, C]` keys
 * @param v    `[B, Nk, C]` values
 * @param opts heads, scale, chunk bound, probability hook
 * @returns `[B, Nq, C]`
 * @example
 * ```ts
 * const out = scaledDotProductAttention(q, k, v, { heads: 8, onProbs: (p, s) => { console.log(p.shape, s); return p; } });
 * // [2, 8, 1024, 77] { heads: [0, 8], queries: [0, 1024] }
 * ```
 */
export function scaledDotProductAttention(q: tf.Tensor3D, k: tf.Tensor3D, v: tf.Tensor3D, opts: SdpaOptions): tf.Tensor3D {
  const { b, n, m, d } = checkShapes(q, k, v, opts.heads);
  const h = opts.heads;
  const scale = opts.scale ?? 1 / Math.sqrt(d);
  const bias = checkBias(opts.bias, b, n, m);
  // A backend's fused kernel (native's blocked attention), unless a hook needs to see the probabilities.
  if (!opts.onProbs && q.dtype === 'float32' && hasFusedAttention()) return fusedAttention(q, k, v, { heads: h, scale, ...(bias ? { bias } : {}) });
  const chunks = planAttentionChunks({ batch: b, heads: h, queries: n, keys: m }, opts.maxScoreElements);
  // A backend with the fused kernel also has fast batched matmuls: each chunk is two of them, not two per head.
  if (q.dtype === 'float32' && hasFusedAttention()) return batchedChunks(q, k, v, { b, n, m, d, h, scale, bias, chunks, onProbs: opts.onProbs });
  // Per (row, head) operands, index i = row * h + head: q_i [Nq, d] (scale folded in), kT_i [d, Nk], v_i [Nk, d].
  const qs = splitAxis0(tf.reshape(tf.transpose(tf.reshape(tf.mul(q, scale), [b, n, h, d]), [0, 2, 1, 3]), [b * h, n, d]), b * h);
  const kT = splitAxis0(tf.reshape(tf.transpose(tf.reshape(k, [b, m, h, d]), [0, 2, 3, 1]), [b * h, d, m]), b * h);
  const vs = splitAxis0(tf.reshape(tf.transpose(tf.reshape(v, [b, m, h, d]), [0, 2, 1, 3]), [b * h, m, d]), b * h);
  const pieces: tf.Tensor[][] = Array.from({ length: b * h }, () => []);
  for (const slice of chunks) {
    const [h0, h1] = slice.heads;
    const [q0, q1] = slice.queries;
    const index: number[] = [];
    for (let r = 0; r < b; r++) for (let j = h0; j < h1; j++) index.push(r * h + j);
    const outs = tf.tidy(() => {
      let probs = index.map((i) => {
        const qi = q1 - q0 === n ? qs[i]! : tf.slice(qs[i]!, [q0, 0], [q1 - q0, d]);
        const logits = tf.matMul(qi as tf.Tensor2D, kT[i] as tf.Tensor2D); // [q1-q0, Nk]
        return tf.softmax(bias ? tf.add(logits, biasRows(bias, Math.floor(i / h), q0, q1)) : logits);
      });
      if (opts.onProbs) {
        const shape = [b, h1 - h0, q1 - q0, m] as const;
        const stacked = tf.reshape(tf.stack(probs), [...shape]) as tf.Tensor4D;
        const hooked = opts.onProbs(stacked, slice);
        checkHookOutput(hooked, shape);
        if (hooked !== stacked) probs = splitAxis0(tf.reshape(hooked, [index.length, q1 - q0, m]), index.length) as tf.Tensor2D[];
      }
      return probs.map((p, j) => tf.matMul(p as tf.Tensor2D, vs[index[j]!] as tf.Tensor2D)); // [q1-q0, d]
    });
    outs.forEach((o, j) => pieces[index[j]!]!.push(o));
  }
  const perHead = pieces.map((list) => (list.length === 1 ? list[0]! : tf.concat(list, 0))); // [Nq, d] each
  const all = tf.reshape(perHead.length === 1 ? perHead[0]! : tf.concat(perHead, 0), [b, h, n, d]);
  return tf.reshape(tf.transpose(all, [0, 2, 1, 3]), [b, n, h * d]);
}

/**
 * The chunked attention with batched matmuls over `[B·headsInChunk, queries, d]` (native's path when a hook watches
 * the probabilities): the same products, softmax and hook calls as the per-head path, in one call per chunk.
 */
function batchedChunks(
  q: tf.Tensor3D, k: tf.Tensor3D, v: tf.Tensor3D,
  a: { b: number; n: number; m: number; d: number; h: number; scale: number; bias: tf.Tensor4D | undefined; chunks: AttentionSlice[]; onProbs: ProbsHook | undefined },
): tf.Tensor3D {
  const { b, n, m, d, h } = a;
  const q4 = tf.transpose(tf.reshape(tf.mul(q, a.scale), [b, n, h, d]), [0, 2, 1, 3]); // [B, h, Nq, d]
  const kT4 = tf.transpose(tf.reshape(k, [b, m, h, d]), [0, 2, 3, 1]); // [B, h, d, Nk]
  const v4 = tf.transpose(tf.reshape(v, [b, m, h, d]), [0, 2, 1, 3]); // [B, h, Nk, d]
  const byHeads = new Map<number, tf.Tensor4D[]>(); // first head of a chunk -> its query pieces [B, hc, nq, d]
  for (const slice of a.chunks) {
    const [h0, h1] = slice.heads;
    const [q0, q1] = slice.queries;
    const hc = h1 - h0, nq = q1 - q0;
    const out = tf.tidy(() => {
      const qi = tf.reshape(tf.slice(q4, [0, h0, q0, 0], [b, hc, nq, d]), [b * hc, nq, d]);
      const ki = tf.reshape(tf.slice(kT4, [0, h0, 0, 0], [b, hc, d, m]), [b * hc, d, m]);
      let logits = tf.reshape(tf.matMul(qi, ki), [b, hc, nq, m]);
      if (a.bias) logits = tf.add(logits, tf.slice(a.bias, [0, 0, q0, 0], [a.bias.shape[0], 1, nq, m]));
      let probs = tf.softmax(logits) as tf.Tensor4D;
      if (a.onProbs) {
        const hooked = a.onProbs(probs, slice);
        checkHookOutput(hooked, [b, hc, nq, m]);
        probs = hooked;
      }
      const vi = tf.reshape(tf.slice(v4, [0, h0, 0, 0], [b, hc, m, d]), [b * hc, m, d]);
      return tf.reshape(tf.matMul(tf.reshape(probs, [b * hc, nq, m]), vi), [b, hc, nq, d]) as tf.Tensor4D;
    });
    const list = byHeads.get(h0) ?? [];
    list.push(out);
    byHeads.set(h0, list);
  }
  // Chunks are head-major: queries join within a head group, then the groups along the heads.
  const groups = [...byHeads.keys()].sort((x, y) => x - y).map((h0) => {
    const list = byHeads.get(h0)!;
    return list.length === 1 ? list[0]! : tf.concat(list, 2);
  });
  const all = groups.length === 1 ? groups[0]! : tf.concat(groups, 1); // [B, h, Nq, d]
  return tf.reshape(tf.transpose(all, [0, 2, 1, 3]), [b, n, h * d]);
}

/**
 * The attention probabilities `softmax(q kᵀ · scale)` of every head at once, with batched matmuls: the slow,
 * obviously correct reference for {@link scaledDotProductAttention}.
 *
 * @param q    `[B, Nq, C]`
 * @param k    `[B, Nk, C]`
 * @param opts heads and scale
 * @returns `[B, h, Nq, Nk]`
 * @example
 * ```ts
 * referenceAttentionProbs(q, k, { heads: 8 }).shape; // [2, 8, 1024, 77]
 * ```
 */
export function referenceAttentionProbs(q: tf.Tensor3D, k: tf.Tensor3D, opts: SdpaOptions): tf.Tensor4D {
  const { b, n, m, d } = checkShapes(q, k, k, opts.heads);
  const h = opts.heads;
  const qh = tf.transpose(tf.reshape(q, [b, n, h, d]), [0, 2, 1, 3]);
  const kh = tf.transpose(tf.reshape(k, [b, m, h, d]), [0, 2, 1, 3]);
  const logits = tf.mul(tf.matMul(qh, kh, false, true), opts.scale ?? 1 / Math.sqrt(d));
  return tf.softmax(opts.bias ? tf.add(logits, opts.bias) : logits) as tf.Tensor4D;
}

/**
 * Unchunked reference attention (batched matmuls, `transposeB`): `softmax(q kᵀ · scale) v`, with the hook
 * called once on the whole `[B, h, Nq, Nk]` probabilities.
 *
 * @param q    `[B, Nq, C]`
 * @param k    `[B, Nk, C]`
 * @param v    `[B, Nk, C]`
 * @param opts heads, scale, hook (`maxScoreElements` is ignored)
 * @returns `[B, Nq, C]`
 * @example
 * ```ts
 * const ref = referenceAttention(q, k, v, { heads: 8 }); // same values as scaledDotProductAttention
 * ```
 */
export function referenceAttention(q: tf.Tensor3D, k: tf.Tensor3D, v: tf.Tensor3D, opts: SdpaOptions): tf.Tensor3D {
  const { b, n, m, d } = checkShapes(q, k, v, opts.heads);
  const h = opts.heads;
  let probs = referenceAttentionProbs(q, k, opts);
  if (opts.onProbs) {
    const hooked = opts.onProbs(probs, { heads: [0, h], queries: [0, n] });
    checkHookOutput(hooked, probs.shape);
    probs = hooked;
  }
  const vh = tf.transpose(tf.reshape(v, [b, m, h, d]), [0, 2, 1, 3]);
  return tf.reshape(tf.transpose(tf.matMul(probs, vh), [0, 2, 1, 3]), [b, n, h * d]);
}
