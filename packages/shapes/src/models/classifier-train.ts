/**
 * Training, evaluating, saving and loading the scene classifier. Training draws batch k of the shapes data set
 * (seeded) at step k, so a resumed run sees exactly the data it would have seen; evaluation reads held-out scenes.
 * Saved weights are float16 safetensors in PyTorch's layouts with a `config.json` beside them, read back through
 * semedit's ordinary checkpoint path (layouts converted once, every key and shape checked).
 * @module
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { CheckpointFormatError, createGenerator, MissingWeightError, ShapeMismatchError } from '@semedit/core';
import { float32ToHalfBits, readCheckpoint, writeSafetensors, type TensorInput } from '@semedit/core/io';
import { buildParamTree, paramTensors } from '@semedit/core/nn';
import { shapesBatch } from '../world/dataset.js';
import { POSITIONS } from '../world/scene.js';
import { runOptions, trainModel, warmupCosine, type TrainOptions } from '../train/loop.js';
import {
  CLASSIFIER_CONFIG, classifierLogits, classifierLoss, classifierTargets, classifierWeightShapes, readScenes,
  type SceneClassifierConfig, type SceneClassifierParams, type SceneReading,
} from './classifier.js';

/** NHWC-side shape of a checkpoint tensor: conv `[o, i, kh, kw]` → `[kh, kw, i, o]`, linear `[o, i]` → `[i, o]`. */
function internalShape(key: string, s: number[]): number[] {
  if (s.length === 4) return [s[2]!, s[3]!, s[1]!, s[0]!];
  if (s.length === 2 && key.endsWith('.weight')) return [s[1]!, s[0]!];
  return s;
}

/**
 * Fresh variables for a configuration (He-normal weights, zero biases), by checkpoint key, in the internal layout.
 *
 * @example
 * ```ts
 * const vars = initClassifierVariables(CLASSIFIER_CONFIG, 0);
 * vars.get('convs.0.weight')!.shape; // [3, 3, 3, 32]
 * ```
 */
export function initClassifierVariables(config: SceneClassifierConfig, seed: number): Map<string, tf.Variable> {
  const gen = createGenerator(seed);
  const out = new Map<string, tf.Variable>();
  for (const [key, shape] of classifierWeightShapes(config)) {
    const s = internalShape(key, shape);
    const size = s.reduce((a, b) => a * b, 1);
    const fanIn = shape.length === 4 ? shape[1]! * 9 : (shape[1] ?? 1);
    const init = key.endsWith('.bias') ? new Float32Array(size) : gen.normal(size).map((v) => v * Math.sqrt(2 / fanIn));
    out.set(key, tf.tidy(() => tf.variable(tf.tensor(init, s), true, `classifier.${key}.${seed}.${Math.random().toString(36).slice(2)}`)));
  }
  return out;
}

/** The parameter tree over variables keyed by checkpoint names. */
export function classifierParamsOf(vars: ReadonlyMap<string, tf.Tensor>, config: SceneClassifierConfig): SceneClassifierParams {
  const get = (k: string): tf.Tensor => {
    const t = vars.get(k);
    if (!t) throw new MissingWeightError(k, undefined);
    return t;
  };
  return {
    convs: config.channels.map((_, i) => ({ weight: get(`convs.${i}.weight`) as tf.Tensor4D, bias: get(`convs.${i}.bias`) as tf.Tensor1D })),
    fc: { weight: get('fc.weight') as tf.Tensor2D, bias: get('fc.bias') as tf.Tensor1D },
    head: { weight: get('head.weight') as tf.Tensor2D, bias: get('head.bias') as tf.Tensor1D },
  };
}

/**
 * Options of {@link trainClassifier}.
 *
 * @example
 * ```ts
 * const o: TrainClassifierOptions = { steps: 1500, batch: 32, seed: 1, checkpoint: 'ck/classifier.safetensors' };
 * ```
 */
export interface TrainClassifierOptions extends Pick<TrainOptions, 'checkpoint' | 'checkpointEvery' | 'onProgress'> {
  steps: number;
  /** Examples per step (default 32). */
  batch?: number;
  /** The data set's seed (default 1) and the initialisation's. */
  seed?: number;
  /** Learning rate (default 2e-3, cosine-decayed to 10% over the run). */
  lr?: number;
  config?: SceneClassifierConfig;
}

/**
 * Trains the classifier (resuming from `checkpoint` when it exists); yields each step's losses and returns the
 * trained variables (the caller disposes them).
 *
 * @example
 * ```ts
 * const run = trainClassifier({ steps: 100 });
 * let r = await run.next();
 * while (!r.done) r = await run.next();
 * const vars = r.value;
 * ```
 */
export async function* trainClassifier(opts: TrainClassifierOptions): AsyncGenerator<{ step: number; losses: Record<string, number> }, Map<string, tf.Variable>> {
  const config = opts.config ?? CLASSIFIER_CONFIG;
  const seed = opts.seed ?? 1, batch = opts.batch ?? 32, lr = opts.lr ?? 2e-3;
  const vars = initClassifierVariables(config, seed);
  const params = classifierParamsOf(vars, config);
  const loss = (step: number): Record<string, tf.Scalar> => {
    const b = shapesBatch(seed, step * batch, batch, { size: config.image_size });
    try {
      return classifierLoss(classifierLogits(params, b.images), classifierTargets(b.examples));
    } finally {
      b.dispose();
    }
  };
  return yield* trainModel(vars, loss, {
    model: 'shapes-classifier', steps: opts.steps, lr: warmupCosine(lr, opts.steps, 0),
    meta: { config: JSON.stringify(config), seed: String(seed), batch: String(batch), lr: String(lr), steps: String(opts.steps) },
    ...runOptions(opts),
  }, vars, () => tf.dispose([...vars.values()]));
}

/**
 * Accuracy per attribute over evaluation examples: background, presence (every position right), and shape,
 * colour and size at the positions that hold an object; `scene` is the share read entirely right.
 *
 * @example
 * ```ts
 * classifierAccuracy((x) => classifierLogits(params, x), { n: 256 }).scene; // 0.97
 * ```
 */
export function classifierAccuracy(logitsOf: (x: tf.Tensor4D) => tf.Tensor2D, opts: { n?: number; seed?: number; split?: 'train' | 'eval'; size?: number } = {}) {
  const n = opts.n ?? 256, seed = opts.seed ?? 2, size = opts.size ?? 64;
  const right = { background: 0, presence: 0, shape: 0, colour: 0, size: 0, scene: 0 };
  let objects = 0;
  for (let start = 0; start < n; start += 32) {
    const b = shapesBatch(seed, start, Math.min(32, n - start), { split: opts.split ?? 'eval', size });
    const logits = logitsOf(b.images);
    const read = readScenes(logits);
    logits.dispose();
    b.dispose();
    read.forEach((r, i) => {
      const e = b.examples[i]!;
      const bgOk = r.background === e.scene.background;
      const placed = new Map(e.scene.objects.map((o) => [o.position, o]));
      const presenceOk = POSITIONS.every((p) => placed.has(p) === (r.objects[p] !== undefined));
      let all = bgOk && presenceOk;
      for (const o of e.scene.objects) {
        objects++;
        const got = r.objects[o.position];
        for (const k of ['shape', 'colour', 'size'] as const) {
          if (got?.[k] === o[k]) right[k]++;
          else all = false;
        }
      }
      right.background += bgOk ? 1 : 0;
      right.presence += presenceOk ? 1 : 0;
      right.scene += all ? 1 : 0;
    });
  }
  return { n, background: right.background / n, presence: right.presence / n, shape: right.shape / objects, colour: right.colour / objects, size: right.size / objects, scene: right.scene / n };
}

/**
 * Writes `config.json` and `model.safetensors` (float16, PyTorch layouts) to `dir`.
 *
 * @example
 * ```ts
 * await saveClassifier('weights/classifier', vars, CLASSIFIER_CONFIG, { steps: '1500' });
 * ```
 */
export async function saveClassifier(dir: string, vars: ReadonlyMap<string, tf.Tensor>, config: SceneClassifierConfig, metadata: Record<string, string> = {}): Promise<void> {
  await mkdir(dir, { recursive: true });
  const tensors = new Map<string, TensorInput>();
  for (const [key, shape] of classifierWeightShapes(config)) {
    const t = vars.get(key);
    if (!t) throw new MissingWeightError(key, undefined);
    const torch = tf.tidy(() => (shape.length === 4 ? tf.transpose(t, [3, 2, 0, 1]) : shape.length === 2 ? tf.transpose(t) : t.clone()));
    tensors.set(key, { dtype: 'float16', shape, data: float32ToHalfBits(torch.dataSync() as Float32Array) });
    torch.dispose();
  }
  await writeSafetensors(join(dir, 'model.safetensors'), tensors, { format: 'pt', model: 'shapes-classifier', ...metadata });
  await writeFile(join(dir, 'config.json'), `${JSON.stringify(config, null, 2)}\n`);
}

/**
 * A loaded classifier.
 *
 * @example
 * ```ts
 * const c = await loadClassifier('packages/shapes/weights/classifier');
 * c.read(images)[0]!.background; // 'blue'
 * c.dispose();
 * ```
 */
export interface SceneClassifier {
  config: SceneClassifierConfig;
  params: SceneClassifierParams;
  logits(x: tf.Tensor4D): tf.Tensor2D;
  read(x: tf.Tensor4D): SceneReading[];
  dispose(): void;
}

/**
 * Loads a classifier folder written by {@link saveClassifier}.
 *
 * @throws CheckpointFormatError for a missing or unreadable file; MissingWeightError / ShapeMismatchError for a
 *   weight that is absent or has the wrong shape
 * @example
 * ```ts
 * const c = await loadClassifier(dir);
 * ```
 */
export async function loadClassifier(dir: string): Promise<SceneClassifier> {
  let config: SceneClassifierConfig;
  try {
    config = JSON.parse(await readFile(join(dir, 'config.json'), 'utf8')) as SceneClassifierConfig;
  } catch (e) {
    throw new CheckpointFormatError(`cannot read config.json: ${(e as Error).message}`, { file: join(dir, 'config.json') });
  }
  const expected = classifierWeightShapes(config);
  const ck = await readCheckpoint(join(dir, 'model.safetensors'));
  for (const [key, shape] of expected) {
    const t = ck.tensors.get(key);
    if (!t) throw new MissingWeightError(key, join(dir, 'model.safetensors'));
    if (t.shape.join() !== shape.join()) throw new ShapeMismatchError(key, shape, t.shape);
  }
  // Numeric key parts become arrays, so the tree is the parameter type itself (convs[i], fc, head).
  const params = buildParamTree(new Map([...expected.keys()].map((k) => [k, ck.tensors.get(k)!]))) as unknown as SceneClassifierParams;
  return {
    config,
    params,
    logits: (x) => classifierLogits(params, x),
    read: (x) => {
      const l = classifierLogits(params, x);
      try {
        return readScenes(l);
      } finally {
        l.dispose();
      }
    },
    dispose: () => tf.dispose(paramTensors(params)),
  };
}
