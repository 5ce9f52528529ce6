/**
 * Training semedit's own models: fresh checkpoint-layout weights for a model's expected keys and shapes, the
 * model's parameter tree with variables for leaves (built by the model's own loader, so layouts are converted
 * exactly as at load), and the way back: a checkpoint in the upstream layout (float16 PyTorch shapes) from the
 * trained variables. Together they make "train, save, load with the ordinary loader" a round trip.
 * @module
 */
import * as tf from '@tensorflow/tfjs-core';
import { createGenerator, MissingWeightError } from '@semedit/core';
import { float32ToHalfBits, type RawTensor, type TensorInput } from '@semedit/core/io';

/** Checkpoint keys and their PyTorch shapes. @example `const s: WeightShapes = { 'fc.weight': [8, 4] };` */
export type WeightShapes = Record<string, number[]>;

/**
 * How one fresh weight starts: `ones`, `zeros`, `normal` (standard deviation `std`) or PyTorch's default for
 * linear and conv layers, `uniform` in ±1/√fan_in.
 *
 * @example
 * ```ts
 * const i: WeightInit = { kind: 'normal', std: 0.02 };
 * ```
 */
export type WeightInit = { kind: 'ones' } | { kind: 'zeros' } | { kind: 'normal'; std: number } | { kind: 'uniform' };

/**
 * The default initialisation by key and shape: norm scales 1, biases 0, embeddings N(0, 0.02), other weights
 * PyTorch's default.
 *
 * @example
 * ```ts
 * defaultInit('conv_in.bias', [32]); // { kind: 'zeros' }
 * ```
 */
export function defaultInit(key: string, shape: readonly number[]): WeightInit {
  if (key.endsWith('.bias')) return { kind: 'zeros' };
  if (shape.length === 1 && /norm|layrnorm|ln/.test(key)) return { kind: 'ones' };
  if (/embedding/.test(key) && shape.length <= 2) return { kind: 'normal', std: 0.02 };
  return { kind: 'uniform' };
}

/**
 * Fresh float32 checkpoint-layout weights for `shapes`, seeded.
 *
 * @param shapes the model's expected keys and PyTorch shapes (e.g. `unetWeightShapes(cfg)`)
 * @param seed   the generator's seed
 * @param init   per-key override of {@link defaultInit} (return `undefined` for the default)
 * @example
 * ```ts
 * const weights = initWeights(vaeWeightShapes(cfg), 0);
 * const vae = AutoencoderKL.fromWeights(weights, cfg);
 * ```
 */
export function initWeights(shapes: WeightShapes, seed: number, init?: (key: string, shape: readonly number[]) => WeightInit | undefined): Map<string, RawTensor> {
  const gen = createGenerator(seed);
  const out = new Map<string, RawTensor>();
  for (const key of Object.keys(shapes).sort()) {
    const shape = shapes[key]!;
    const size = shape.reduce((a, b) => a * b, 1);
    const how = init?.(key, shape) ?? defaultInit(key, shape);
    let data: Float32Array;
    if (how.kind === 'ones') data = new Float32Array(size).fill(1);
    else if (how.kind === 'zeros') data = new Float32Array(size);
    else if (how.kind === 'normal') data = gen.normal(size).map((v) => v * how.std);
    else {
      const fanIn = shape.length > 1 ? size / shape[0]! : (shape[0] ?? 1); // a scalar has fan-in 1
      const bound = 1 / Math.sqrt(fanIn);
      data = gen.uniform(size).map((u) => (2 * u - 1) * bound);
    }
    out.set(key, { dtype: 'float32', shape: [...shape], data });
  }
  return out;
}

/**
 * Every tensor leaf of a parameter tree by its dotted path (`down_blocks.0.resnets.0.conv1.weight`).
 *
 * @example
 * ```ts
 * checkpointOf(leavesByPath(vae.params), vaeWeightShapes(vae.config));
 * ```
 */
export function leavesByPath(tree: object): Map<string, tf.Tensor> {
  const out = new Map<string, tf.Tensor>();
  const walk = (node: unknown, path: string): void => {
    if (node instanceof tf.Tensor) out.set(path, node);
    else if (node && typeof node === 'object') for (const [k, v] of Object.entries(node)) walk(v, path ? `${path}.${k}` : k);
  };
  walk(tree, '');
  return out;
}

/**
 * Replaces every tensor leaf of a parameter tree by a trainable variable (the leaf is disposed), in place.
 * Returns the variables by their dotted tree path (`down_blocks.0.resnets.0.conv1.weight`).
 *
 * @param tree a parameter tree as a model's loader built it
 * @param name a prefix for the variables' tfjs names
 * @example
 * ```ts
 * const vars = makeTrainable(vae.params, 'vae');
 * vars.get('decoder.conv_out.weight')!.shape; // [3, 3, 32, 3]
 * ```
 */
export function makeTrainable(tree: object, name: string): Map<string, tf.Variable> {
  const vars = new Map<string, tf.Variable>();
  const suffix = Math.random().toString(36).slice(2);
  for (const [path, leaf] of leavesByPath(tree)) {
    const variable = tf.tidy(() => tf.variable(tf.cast(leaf, 'float32'), true, `${name}.${path}.${suffix}`));
    leaf.dispose();
    const parts = path.split('.');
    let node = tree as Record<string, unknown>;
    for (const part of parts.slice(0, -1)) node = node[part] as Record<string, unknown>;
    node[parts[parts.length - 1]!] = variable;
    vars.set(path, variable);
  }
  return vars;
}

/** Embedding tables (`nn.Embedding`), which loaders keep as stored: rows are ids, not output features. */
const EMBEDDING_TABLE = /(^|\.)(token_embedding|position_embedding)\.weight$/;

/** Converts one internal-layout tensor back to its checkpoint layout and shape. */
function toCheckpointLayout(key: string, t: tf.Tensor, shape: readonly number[]): tf.Tensor {
  if (shape.length === 4 && t.rank === 4) return tf.transpose(t, [3, 2, 0, 1]);
  if (shape.length === 4 && t.rank === 2) return tf.reshape(tf.transpose(t), [...shape]);
  if (shape.length === 2 && t.rank === 2 && !EMBEDDING_TABLE.test(key)) return tf.transpose(t);
  return tf.reshape(t, [...shape]);
}

/** The tensor for a checkpoint key among trained variables by tree path (GEGLU halves joined back). */
function leafFor(vars: ReadonlyMap<string, tf.Tensor>, key: string): tf.Tensor {
  const direct = vars.get(key);
  if (direct) return direct;
  const m = /^(.*\.ff\.net\.0\.proj)\.(weight|bias)$/.exec(key);
  const hidden = m && vars.get(`${m[1]}.hidden.${m[2]}`);
  const gate = m && vars.get(`${m[1]}.gate.${m[2]}`);
  if (hidden && gate) return tf.concat([hidden, gate], hidden.rank - 1);
  throw new MissingWeightError(key, undefined);
}

/**
 * The checkpoint a model's loader reads back: every expected key, in PyTorch's layout and shape, as float16 (or
 * float32) from the trained variables.
 *
 * @param vars   trained tensors by tree path (see {@link makeTrainable})
 * @param shapes the model's expected keys and PyTorch shapes
 * @param dtype  `float16` (default; what the shipped weights are) or `float32`
 * @throws MissingWeightError for an expected key with no variable
 * @example
 * ```ts
 * await writeSafetensors('vae/diffusion_pytorch_model.safetensors', checkpointOf(vars, vaeWeightShapes(cfg)));
 * ```
 */
export function checkpointOf(vars: ReadonlyMap<string, tf.Tensor>, shapes: WeightShapes, dtype: 'float16' | 'float32' = 'float16'): Map<string, TensorInput> {
  const out = new Map<string, TensorInput>();
  for (const key of Object.keys(shapes).sort()) {
    const t = tf.tidy(() => toCheckpointLayout(key, leafFor(vars, key), shapes[key]!));
    const data = t.dataSync() as Float32Array;
    t.dispose();
    out.set(key, dtype === 'float16' ? { dtype, shape: [...shapes[key]!], data: float32ToHalfBits(data) } : { dtype, shape: [...shapes[key]!], data: Float32Array.from(data) });
  }
  return out;
}
