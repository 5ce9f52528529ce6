/**
 * CLIP's MLP and the activations its `hidden_act` names, on the shared `nn/` layers (linear on `[in, out]`
 * weights, LayerNorm, GELU variants), re-exported here for CLIP's callers. Activations stay 2-D
 * `[rows, channels]` so every matmul is a plain rank-2 one (wasm's fast path).
 * @module
 */
import type * as tf from '@tensorflow/tfjs-core';
import { gelu, geluTanh, quickGelu } from '../nn/activations.js';
import { layerNorm, type NormParams } from '../nn/group-norm.js';
import { linear, type LinearParams } from '../nn/linear.js';
import type { ClipHiddenAct } from './config.js';

export { gelu, geluTanh, layerNorm, linear, quickGelu, type LinearParams };

/**
 * LayerNorm parameters (`weight`, `bias`, both `[C]`): the shared norm parameters of `nn/`.
 *
 * @example
 * ```ts
 * const p: LayerNormParams = { weight: tf.ones([8]) as tf.Tensor1D, bias: tf.zeros([8]) as tf.Tensor1D };
 * ```
 */
export type LayerNormParams = NormParams;

/**
 * `CLIPMLP` parameters: `fc1` (hidden → intermediate), `fc2` (intermediate → hidden).
 *
 * @example
 * ```ts
 * const y = clipMlp({ fc1, fc2 }, x, 'quick_gelu');
 * ```
 */
export interface ClipMlpParams {
  fc1: LinearParams;
  fc2: LinearParams;
}

/**
 * Applies the activation a config's `hidden_act` names.
 *
 * @param name `quick_gelu`, `gelu`, `gelu_new` or `gelu_pytorch_tanh`
 * @param x    any shape
 * @example
 * ```ts
 * activation('gelu', x);
 * ```
 */
export function activation<T extends tf.Tensor>(name: ClipHiddenAct, x: T): T {
  switch (name) {
    case 'quick_gelu':
      return quickGelu(x);
    case 'gelu':
      return gelu(x);
    case 'gelu_new':
    case 'gelu_pytorch_tanh':
      return geluTanh(x);
  }
}

/**
 * `CLIPMLP`: `fc2(act(fc1(x)))`.
 *
 * @param p   `fc1`, `fc2`
 * @param x   `[rows, hidden]`
 * @param act the config's `hidden_act`
 * @returns `[rows, hidden]`
 * @example
 * ```ts
 * const y = clipMlp(layer.mlp, x2d, cfg.hiddenAct);
 * ```
 */
export function clipMlp(p: ClipMlpParams, x: tf.Tensor2D, act: ClipHiddenAct): tf.Tensor2D {
  return linear(p.fc2, activation(act, linear(p.fc1, x)));
}
