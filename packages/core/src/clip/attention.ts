/**
 * CLIP's multi-head self-attention (`CLIPAttention`) on the shared attention kernel of `nn/`, and the additive
 * masks the text tower uses: the causal mask and the padding mask from an `attention_mask`, both filled with
 * float32's lowest value as transformers does.
 * @module
 */
import * as tf from '@tensorflow/tfjs-core';
import { scaledDotProductAttention } from '../nn/attention.js';
import { linear, type LinearParams } from '../nn/linear.js';

/**
 * `torch.finfo(torch.float32).min`, the value transformers writes into masked attention logits.
 *
 * @example
 * ```ts
 * Math.fround(FLOAT32_MIN) === FLOAT32_MIN; // true: representable in float32
 * ```
 */
export const FLOAT32_MIN = -3.4028234663852886e38;

/**
 * `CLIPAttention` parameters (the HF names): q, k, v and output projections, all `[hidden, hidden]`.
 *
 * @example
 * ```ts
 * const y = clipAttention(layer.self_attn, x2d, { batch: 2, seqLen: 77, heads: 12 });
 * ```
 */
export interface ClipAttentionParams {
  q_proj: LinearParams;
  k_proj: LinearParams;
  v_proj: LinearParams;
  out_proj: LinearParams;
}

/**
 * Options of {@link clipAttention}.
 *
 * @example
 * ```ts
 * const o: ClipAttentionOptions = { batch: 1, seqLen: 77, heads: 8, bias: causalBias };
 * ```
 */
export interface ClipAttentionOptions {
  /** Batch size B (the input is `[B·L, C]`). */
  batch: number;
  /** Sequence length L. */
  seqLen: number;
  /** Number of heads; `C / heads` is the head size. */
  heads: number;
  /** Additive logit bias, `[B or 1, 1, L, L]` (0 = attend, {@link FLOAT32_MIN} = masked); none for the vision tower. */
  bias?: tf.Tensor4D;
}

/**
 * Multi-head self-attention as `CLIPAttention.forward`: `q = q_proj(x) · d^-½` (scaled before the product),
 * `softmax(q kᵀ + bias) v`, then `out_proj`.
 * Symbols: B batch, L tokens, H heads, d = C/H head size.
 *
 * @param p    q/k/v/out projections
 * @param x    `[B·L, C]` hidden states, rows ordered batch-major
 * @param opts `batch`, `seqLen`, `heads`, optional additive `bias`
 * @returns `[B·L, C]`
 * @example
 * ```ts
 * const y = clipAttention(p, x, { batch: 1, seqLen: 17, heads: 4 }); // x, y: [17, 32]
 * ```
 */
export function clipAttention(p: ClipAttentionParams, x: tf.Tensor2D, opts: ClipAttentionOptions): tf.Tensor2D {
  const { batch: b, seqLen: l, heads } = opts;
  const c = x.shape[1];
  // Projections on [B·L, C], then the shared attention kernel on [B, L, C] (q scaled before the product, as CLIP).
  const split = (t: tf.Tensor2D) => tf.reshape(t, [b, l, c]) as tf.Tensor3D;
  const out = scaledDotProductAttention(split(linear(p.q_proj, x)), split(linear(p.k_proj, x)), split(linear(p.v_proj, x)), {
    heads, scale: (c / heads) ** -0.5, bias: opts.bias,
  });
  return linear(p.out_proj, tf.reshape(out, [b * l, c]) as tf.Tensor2D);
}

/**
 * The text tower's additive attention bias: the causal mask (key j > query i masked) and, when an
 * `attention_mask` is given, every padding key masked too. Each mask adds {@link FLOAT32_MIN}, as transformers'
 * two additive masks do, so a key masked by both gets -Infinity (float32 overflow) exactly as in the reference.
 *
 * @param seqLen        L
 * @param attentionMask optional per-row 0/1 masks, B rows of L (1 = attend)
 * @returns `[B, 1, L, L]` with a mask, `[1, 1, L, L]` without
 * @example
 * ```ts
 * textAttentionBias(3).arraySync(); // [[[[0, min, min], [0, 0, min], [0, 0, 0]]]]
 * ```
 */
export function textAttentionBias(seqLen: number, attentionMask?: readonly (readonly number[])[]): tf.Tensor4D {
  const rows = attentionMask ?? [undefined];
  const data = new Float32Array(rows.length * seqLen * seqLen);
  rows.forEach((mask, b) => {
    for (let i = 0; i < seqLen; i++) {
      for (let j = 0; j < seqLen; j++) {
        const causal = j > i ? FLOAT32_MIN : 0;
        const padding = mask !== undefined && mask[j] === 0 ? FLOAT32_MIN : 0;
        data[(b * seqLen + i) * seqLen + j] = causal + padding; // float32 store: MIN + MIN -> -Infinity
      }
    }
  });
  return tf.tensor4d(data, [rows.length, 1, seqLen, seqLen]);
}
