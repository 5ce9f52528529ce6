/**
 * From checkpoint tensors to parameter trees (style.md 3.2): keys are split on dots into nested objects (numeric
 * segments become array indices), so `down_blocks.0.resnets.1.conv1.weight` is `tree.down_blocks[0].resnets[1]
 * .conv1.weight`; each tensor's layout is converted once, here: conv kernels OIHW → HWIO, linear weights
 * `[out, in]` → `[in, out]`, and 1×1 conv projections that act as linear layers → `[in, out]`.
 * @module
 */
import * as tf from '@tensorflow/tfjs-core';
import { SemeditError } from '../errors.js';
import type { RawTensor } from '../io/types.js';
import { convWeightToHwio, linearWeightToInOut, rawToTensor } from '../tensor/layout.js';
import { storeWeights } from '../backend/weight-storage.js';

/**
 * Options of {@link buildParamTree}.
 *
 * @example
 * ```ts
 * const o: ParamTreeOptions = { asLinear: (key) => /proj_(in|out)\.weight$/.test(key) };
 * ```
 */
export interface ParamTreeOptions {
  /** Keys of rank-4 `[out, in, 1, 1]` weights to treat as linear layers (converted to `[in, out]`). */
  asLinear?: (key: string) => boolean;
  /** Per-key override of the conversion; return `undefined` to use the default. */
  convert?: (key: string, raw: RawTensor) => tf.Tensor | undefined;
}

/** Stored dtypes a model weight may have (widened to float32 at load). */
const FLOAT_DTYPES = new Set(['float32', 'float16', 'bfloat16', 'float64']);

/**
 * The default layout conversion of one checkpoint tensor: rank 4 → HWIO conv kernel (or `[in, out]` when
 * `asLinear`), rank-2 `*.weight` → `[in, out]`, anything else unchanged (float32). Integer and boolean tensors
 * are refused with a typed error naming the key (they cannot be weights of these models).
 *
 * @param key  the tensor's key (decides linear vs. other rank-2 tensors)
 * @param raw  the tensor as read
 * @param opts `asLinear`
 * @example
 * ```ts
 * convertWeight('conv_in.weight', raw).shape; // [3, 3, 4, 32] for raw.shape [32, 4, 3, 3]
 * ```
 */
export function convertWeight(key: string, raw: RawTensor, opts: ParamTreeOptions = {}): tf.Tensor {
  if (!FLOAT_DTYPES.has(raw.dtype)) {
    throw new SemeditError('E_DTYPE', `weight "${key}" is stored as ${raw.dtype}; a model weight must be floating point (float32, float16, bfloat16 or float64)`);
  }
  if (raw.shape.length === 4) {
    if (opts.asLinear?.(key)) {
      const [o, i, kh, kw] = raw.shape as [number, number, number, number];
      if (kh !== 1 || kw !== 1) throw new SemeditError('E_SHAPE', `"${key}" is used as a linear layer but has a ${kh}x${kw} kernel`);
      return linearWeightToInOut({ ...raw, shape: [o, i] }, key);
    }
    return convWeightToHwio(raw, key);
  }
  if (raw.shape.length === 2 && key.endsWith('.weight')) return linearWeightToInOut(raw, key);
  return rawToTensor(raw, key);
}

/**
 * Builds a nested parameter tree from flat checkpoint tensors, converting each layout once and putting each tensor
 * in the weight storage initBackend chose (see storeWeights). The caller checks the keys and shapes first (e.g.
 * with `takeExpected`) and casts the result to the model's params type.
 *
 * @param weights tensors by dotted key
 * @param opts    conversion options
 * @returns the tree (objects and arrays of tfjs tensors)
 * @example
 * ```ts
 * const tree = buildParamTree(new Map([['conv_in.bias', raw]])) as { conv_in: { bias: tf.Tensor1D } };
 * ```
 */
export function buildParamTree(weights: ReadonlyMap<string, RawTensor>, opts: ParamTreeOptions = {}): Record<string, unknown> {
  const root: Record<string, unknown> = {};
  const made: tf.Tensor[] = [];
  try {
    for (const [key, raw] of weights) {
      const parts = key.split('.');
      let node: Record<string, unknown> = root;
      parts.forEach((part, i) => {
        if (i === parts.length - 1) {
          const t = opts.convert?.(key, raw) ?? convertWeight(key, raw, opts);
          made.push(t);
          storeWeights(t, { release: true }); // per tensor, so that float32 copies are freed while loading, not after
          node[part] = t;
          return;
        }
        const nextIsIndex = /^\d+$/.test(parts[i + 1]!);
        node[part] ??= nextIsIndex ? [] : {};
        node = node[part] as Record<string, unknown>;
      });
    }
  } catch (e) {
    tf.dispose(made);
    throw e;
  }
  return root;
}

/**
 * Every tensor in a parameter tree (objects and arrays, any depth).
 *
 * @param tree a parameter tree
 * @example
 * ```ts
 * paramTensors(unet.params).length; // 304 for the tiny UNet
 * ```
 */
export function paramTensors(tree: unknown): tf.Tensor[] {
  const out: tf.Tensor[] = [];
  const walk = (node: unknown): void => {
    if (node instanceof tf.Tensor) out.push(node);
    else if (Array.isArray(node)) node.forEach(walk);
    else if (node && typeof node === 'object') Object.values(node).forEach(walk);
  };
  walk(tree);
  return out;
}
