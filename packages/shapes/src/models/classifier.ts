/**
 * The scene classifier that scores edits in the shapes world: from an image it reads the background colour and,
 * for each of the five positions, whether an object is there and its shape, colour and size. A small CNN (3x3 convs,
 * the first at stride 1 and the rest at stride 2, ReLU, then one hidden linear layer) whose logits are laid out as
 * `[background (8) | per position: presence (1), shape (5), colour (8), size (2)]`.
 *
 * Checkpoints keep PyTorch's layouts (`convs.<i>.weight` `[out, in, 3, 3]`, `fc.weight` `[out, in]`), converted once
 * at load like every other model's.
 * @module
 */
import * as tf from '@tensorflow/tfjs-core';
import { ConfigError, ShapeMismatchError } from '@semedit/core';
import { conv2d, linear, type Conv2dParams, type LinearParams } from '@semedit/core/nn';
import { COLOUR_NAMES, POSITIONS, SHAPES, SIZES, type ColourName, type PositionName, type ShapeName, type SizeName } from '../world/scene.js';

/**
 * The classifier's `config.json` (snake_case, as a checkpoint's config).
 *
 * @example
 * ```ts
 * const c: SceneClassifierConfig = { image_size: 64, channels: [32, 32, 64, 64, 128], hidden: 256 };
 * ```
 */
export interface SceneClassifierConfig {
  image_size: number;
  /** Output channels of each conv; the first runs at stride 1, the others halve the size. */
  channels: number[];
  hidden: number;
}

/** The default configuration. @example `CLASSIFIER_CONFIG.image_size; // 64` */
export const CLASSIFIER_CONFIG: SceneClassifierConfig = { image_size: 64, channels: [32, 32, 64, 64, 128], hidden: 256 };

/** Logits per position: presence, shapes, colours, sizes. */
const SLOT = 1 + SHAPES.length + COLOUR_NAMES.length + SIZES.length;
/** All logits. @example `CLASSIFIER_OUTPUTS; // 88` */
export const CLASSIFIER_OUTPUTS = COLOUR_NAMES.length + POSITIONS.length * SLOT;

/**
 * The classifier's parameters (checkpoint names).
 *
 * @example
 * ```ts
 * params.convs[0]!.weight.shape; // [3, 3, 3, 32]
 * ```
 */
export interface SceneClassifierParams {
  convs: Conv2dParams[];
  fc: LinearParams;
  head: LinearParams;
}

/**
 * The parameter shapes a configuration needs, by checkpoint key, in PyTorch's layout.
 *
 * @example
 * ```ts
 * classifierWeightShapes(CLASSIFIER_CONFIG).get('head.weight'); // [88, 256]
 * ```
 */
export function classifierWeightShapes(c: SceneClassifierConfig): Map<string, number[]> {
  checkConfig(c);
  const out = new Map<string, number[]>();
  let cin = 3;
  c.channels.forEach((ch, i) => {
    out.set(`convs.${i}.weight`, [ch, cin, 3, 3]);
    out.set(`convs.${i}.bias`, [ch]);
    cin = ch;
  });
  const side = c.image_size / 2 ** (c.channels.length - 1);
  out.set('fc.weight', [c.hidden, side * side * cin]);
  out.set('fc.bias', [c.hidden]);
  out.set('head.weight', [CLASSIFIER_OUTPUTS, c.hidden]);
  out.set('head.bias', [CLASSIFIER_OUTPUTS]);
  return out;
}

function checkConfig(c: SceneClassifierConfig): void {
  const bad = (key: string, what: string): never => {
    throw new ConfigError('E_CONFIG', `SceneClassifier config: ${key} ${what}`, 'SceneClassifier', [key]);
  };
  if (!Number.isInteger(c.image_size) || c.image_size < 8) bad('image_size', `must be an integer >= 8, got ${c.image_size}`);
  if (!Array.isArray(c.channels) || c.channels.length < 2 || c.channels.some((x) => !Number.isInteger(x) || x < 1)) {
    bad('channels', `must be at least two positive integers, got ${JSON.stringify(c.channels)}`);
  }
  if (c.image_size % 2 ** (c.channels.length - 1) !== 0) bad('image_size', `(${c.image_size}) must be divisible by 2^${c.channels.length - 1}`);
  if (!Number.isInteger(c.hidden) || c.hidden < 1) bad('hidden', `must be a positive integer, got ${c.hidden}`);
}

/**
 * The classifier's logits.
 *
 * @param p parameters
 * @param x `[B, S, S, 3]` images in [-1, 1]
 * @returns `[B, CLASSIFIER_OUTPUTS]`
 * @example
 * ```ts
 * classifierLogits(params, images).shape; // [16, 88]
 * ```
 */
export function classifierLogits(p: SceneClassifierParams, x: tf.Tensor4D): tf.Tensor2D {
  if (x.shape[3] !== 3) throw new ShapeMismatchError('classifier input', [null, null, null, 3], x.shape);
  return tf.tidy(() => {
    let h: tf.Tensor4D = x;
    p.convs.forEach((c, i) => {
      h = tf.relu(conv2d(c, h, i === 0 ? {} : { stride: 2, padding: 1 }));
    });
    const flat = tf.reshape(h, [h.shape[0], -1]) as tf.Tensor2D;
    return linear(p.head, tf.relu(linear(p.fc, flat)));
  });
}

/**
 * What the classifier reads in one image.
 *
 * @example
 * ```ts
 * const r: SceneReading = { background: 'blue', objects: { left: { shape: 'star', colour: 'red', size: 'big', p: 0.98 } } };
 * ```
 */
export interface SceneReading {
  background: ColourName;
  /** The positions where it sees an object (presence probability > 0.5), with that probability. */
  objects: Partial<Record<PositionName, { shape: ShapeName; colour: ColourName; size: SizeName; p: number }>>;
}

const argmax = (v: ArrayLike<number>, from: number, n: number): number => {
  let best = 0;
  for (let i = 1; i < n; i++) if (v[from + i]! > v[from + best]!) best = i;
  return best;
};

/**
 * Reads the scenes from logits.
 *
 * @param logits `[B, CLASSIFIER_OUTPUTS]`
 * @example
 * ```ts
 * readScenes(classifierLogits(params, images))[0]!.objects.left?.shape; // 'star'
 * ```
 */
export function readScenes(logits: tf.Tensor2D): SceneReading[] {
  const [b, n] = logits.shape;
  if (n !== CLASSIFIER_OUTPUTS) throw new ShapeMismatchError('classifier logits', [null, CLASSIFIER_OUTPUTS], logits.shape);
  const v = logits.dataSync();
  return Array.from({ length: b }, (_, i) => {
    const row = v.subarray(i * n, (i + 1) * n);
    const objects: SceneReading['objects'] = {};
    POSITIONS.forEach((pos, k) => {
      const at = COLOUR_NAMES.length + k * SLOT;
      const p = 1 / (1 + Math.exp(-row[at]!));
      if (p <= 0.5) return;
      objects[pos] = {
        shape: SHAPES[argmax(row, at + 1, SHAPES.length)]!,
        colour: COLOUR_NAMES[argmax(row, at + 1 + SHAPES.length, COLOUR_NAMES.length)]!,
        size: SIZES[argmax(row, at + 1 + SHAPES.length + COLOUR_NAMES.length, SIZES.length)]!,
        p,
      };
    });
    return { background: COLOUR_NAMES[argmax(row, 0, COLOUR_NAMES.length)]!, objects };
  });
}

/**
 * The training targets of scenes: class indices (or -1 where a position is empty) and presence per position.
 *
 * @example
 * ```ts
 * classifierTargets([{ background: 2, labels: [{ shape: 3, colour: 0, size: 1, position: 0 }] }]).presence; // [[1, 0, 0, 0, 0]]
 * ```
 */
export function classifierTargets(examples: readonly { background: number; labels: readonly { shape: number; colour: number; size: number; position: number }[] }[]) {
  const presence = examples.map(() => new Array<number>(POSITIONS.length).fill(0));
  const slot = (k: 'shape' | 'colour' | 'size') => examples.map((e) => {
    const out = new Array<number>(POSITIONS.length).fill(-1);
    for (const l of e.labels) out[l.position] = l[k];
    return out;
  });
  examples.forEach((e, i) => e.labels.forEach((l) => (presence[i]![l.position] = 1)));
  return { background: examples.map((e) => e.background), presence, shape: slot('shape'), colour: slot('colour'), size: slot('size') };
}

/** Cross-entropy of `logits` `[B, n]` against `labels` (-1: ignored), averaged over `count`. */
function crossEntropy(logits: tf.Tensor2D, labels: number[], count: number): tf.Scalar {
  const n = logits.shape[1];
  const oneHot = tf.tensor2d(labels.flatMap((l) => Array.from({ length: n }, (_, j) => (j === l ? 1 : 0))), [labels.length, n]);
  return tf.div(tf.neg(tf.sum(tf.mul(oneHot, tf.logSoftmax(logits)))), Math.max(1, count)) as tf.Scalar;
}

/**
 * The classifier's training losses: background cross-entropy, presence binary cross-entropy per position, and
 * the attribute cross-entropies at the positions that hold an object (each averaged over the batch).
 *
 * @param logits  `[B, CLASSIFIER_OUTPUTS]`
 * @param targets from {@link classifierTargets}
 * @returns named scalar losses
 * @example
 * ```ts
 * const l = classifierLoss(classifierLogits(params, batch.images), classifierTargets(batch.examples));
 * ```
 */
export function classifierLoss(logits: tf.Tensor2D, targets: ReturnType<typeof classifierTargets>): Record<string, tf.Scalar> {
  const b = logits.shape[0];
  const cols = (from: number, n: number): tf.Tensor2D => tf.slice(logits, [0, from], [b, n]);
  const out: Record<string, tf.Scalar> = { background: crossEntropy(cols(0, COLOUR_NAMES.length), targets.background, b) };
  const presenceLogits: tf.Tensor[] = [];
  const parts: Record<'shape' | 'colour' | 'size', tf.Scalar[]> = { shape: [], colour: [], size: [] };
  POSITIONS.forEach((_, k) => {
    const at = COLOUR_NAMES.length + k * SLOT;
    presenceLogits.push(cols(at, 1));
    const col = (attr: 'shape' | 'colour' | 'size') => targets[attr].map((row) => row[k]!); // -1 where the position is empty
    parts.shape.push(crossEntropy(cols(at + 1, SHAPES.length), col('shape'), b));
    parts.colour.push(crossEntropy(cols(at + 1 + SHAPES.length, COLOUR_NAMES.length), col('colour'), b));
    parts.size.push(crossEntropy(cols(at + 1 + SHAPES.length + COLOUR_NAMES.length, SIZES.length), col('size'), b));
  });
  const z = tf.concat(presenceLogits, 1);
  const y = tf.tensor2d(targets.presence);
  // Binary cross-entropy with logits, stable form: max(z, 0) - z·y + log(1 + exp(-|z|)).
  out['presence'] = tf.div(tf.sum(tf.add(tf.sub(tf.relu(z), tf.mul(z, y)), tf.log1p(tf.exp(tf.neg(tf.abs(z)))))), b) as tf.Scalar;
  for (const k of ['shape', 'colour', 'size'] as const) out[k] = tf.addN(parts[k]) as tf.Scalar;
  return out;
}
