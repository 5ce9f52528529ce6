/**
 * Training a StyleCLIP latent mapper (`mapper/training/coach.py`) with the reference losses:
 *
 *   ŵ = w + 0.1·M(w);  loss = λ_CLIP · mean CLIP(G(ŵ), text) + λ_L2 · MSE(ŵ, w) + λ_ID · ID(G(ŵ), G(w))
 *
 * (defaults 1.0, 0.8, 0.1; MSE mean-reduced), over shuffled batches of W+ latents, noise fixed. The optimizer is
 * the coach's default {@link Ranger} (RAdam + Lookahead + gradient centralisation) or, as with `--optim_name adam`,
 * PyTorch-exact {@link Adam}. Checkpoints are safetensors files holding the mapper under StyleCLIP's `mapper.*` keys
 * (`[out, in]` weights, so {@link loadLatentMapper} reads them), the optimizer state (`optimizer.<buffer>.<key>`),
 * the step and the options (`optim_name` included); a run resumes exactly.
 * @module
 */
import * as tf from '@tensorflow/tfjs-core';
import { createGenerator, OptionError, ShapeMismatchError } from '@semedit/core';
import { readCheckpoint, writeSafetensors, type RawTensor, type TensorInput } from '@semedit/core/io';
import { Adam, type AdamOptions, type OptimizerSnapshot, type StepOptimizer } from './adam.js';
import type { ClipTextLoss } from './clip-loss.js';
import { faceFeatures, identityLoss, type FaceEmbedder } from './identity-loss.js';
import { applyLatentMapper, mapperParamEntries, mapperParamsFromEntries, MAPPER_LAYER_KEYS, MAPPER_LR_MUL } from './mapper.js';
import { LatentMapper, latentMapperFromTensors, type MapperOptions } from './mapper-load.js';
import type { SynthesizeWPlus } from './optimize.js';
import { Ranger, type RangerOptions } from './ranger.js';

/**
 * The optimizers {@link trainLatentMapper} offers (StyleCLIP's `--optim_name`).
 *
 * @example
 * ```ts
 * const o: MapperOptimizerName = 'adam';
 * ```
 */
export type MapperOptimizerName = 'ranger' | 'adam';

/**
 * Every {@link MapperOptimizerName}, the default first.
 *
 * @example
 * ```ts
 * MAPPER_OPTIMIZERS.includes(flag as MapperOptimizerName); // validate a command-line value
 * ```
 */
export const MAPPER_OPTIMIZERS: readonly MapperOptimizerName[] = ['ranger', 'adam'];

/**
 * Sees each training step's tensors, which are valid only during the call (clone and `tf.keep`, or read the data,
 * to keep them). Names use the mapper's state-dict keys `k` and PyTorch's layout (weights `[out, in]`):
 * `x_hat` (the images the loss saw, `[B, H, W, 3]`), `grad.k` (d loss / d parameter, raw: before any gradient
 * centralisation), then after the update `after_step.k` and the optimizer state `state.k.exp_avg`,
 * `state.k.exp_avg_sq` (and Ranger's `state.k.slow_buffer`).
 *
 * @example
 * ```ts
 * const biases: Float32Array[] = [];
 * const observe: MapperTrainObserver = (name, t) => name === 'after_step.course_mapping.mapping.1.bias' && biases.push(t.dataSync() as Float32Array);
 * ```
 */
export type MapperTrainObserver = (name: string, t: tf.Tensor, step: number) => void;

/**
 * Options of {@link trainLatentMapper}; defaults are StyleCLIP's `TrainOptions`.
 *
 * @example
 * ```ts
 * const o: TrainMapperOptions = { steps: 2000, noFineMapper: true, checkpointPath: 'mapper.safetensors' };
 * ```
 */
export interface TrainMapperOptions {
  /** Steps (`--max_steps`), default 50 000. */
  steps?: number;
  /** Batch size, default 2. */
  batchSize?: number;
  /** Learning rate, default 0.5. */
  lr?: number;
  clipLambda?: number;
  /** Weight of MSE(ŵ, w) (`--latent_l2_lambda`), default 0.8. */
  l2Lambda?: number;
  /** Weight of the identity loss, default 0.1 when `identity` is given (it is required for a value > 0). */
  idLambda?: number;
  identity?: FaceEmbedder;
  /**
   * `LevelsMapper` (default; rows 0–3, 4–7 and 8+ each with a sub-mapper, a group past the last row idle) or
   * `SingleMapper` (one sub-mapper over all rows).
   */
  mapperType?: 'LevelsMapper' | 'SingleMapper';
  /** Disable groups, as `--no_coarse_mapper` etc. (new LevelsMappers only). */
  noCoarseMapper?: boolean;
  noMediumMapper?: boolean;
  noFineMapper?: boolean;
  /** Seed of the initial weights and of the batch order, default 0. */
  seed?: number;
  /** Checkpoint file (safetensors); written every `checkpointEvery` steps and at the end. */
  checkpointPath?: string;
  /** Default 2000 (`--save_interval`). */
  checkpointEvery?: number;
  /** A checkpoint to resume from (its options win over these). */
  resumeFrom?: string;
  /** Description stored in the checkpoint's opts. */
  description?: string;
  /** `ranger` (default, the coach's) or `adam` (`--optim_name`); a resumed run keeps its checkpoint's. */
  optimizer?: MapperOptimizerName;
  /** Ranger's hyper-parameters (defaults: the coach's `Ranger(params, lr)`). */
  ranger?: Omit<RangerOptions, 'outputAxis'>;
  /** Adam's hyper-parameters (defaults: PyTorch's). */
  adam?: AdamOptions;
  /** Start from these weights (not owned) instead of a seeded initialisation; not with `resumeFrom`. */
  init?: LatentMapper;
  /**
   * `shuffle` (default): a seeded shuffle per epoch; `sequential`: step i takes latents `[iB, (i+1)B)` (wrapping per
   * epoch), e.g. to replay the batches another run saw.
   */
  batchOrder?: 'shuffle' | 'sequential';
  /** Sees each step's tensors (see {@link MapperTrainObserver}). */
  observe?: MapperTrainObserver;
}

/**
 * What {@link trainLatentMapper} yields after each step.
 *
 * @example
 * ```ts
 * for await (const s of run) if (s.step % 50 === 0) console.log(s.loss);
 * ```
 */
export interface TrainMapperStep {
  step: number;
  steps: number;
  loss: number;
  clipLoss: number;
  l2Loss: number;
  idLoss: number;
  /** Set when a checkpoint was written after this step. */
  checkpoint?: string;
}

function newMapperParams(dim: number, groups: readonly string[], seed: number): Map<string, tf.Tensor> {
  const gen = createGenerator(seed);
  const out = new Map<string, tf.Tensor>();
  for (const g of groups) {
    for (const k of MAPPER_LAYER_KEYS) {
      // EqualLinear init: weight = randn(out, in) / lr_mul (stored [in, out] here), bias = 0.
      const w = gen.normal(dim * dim).map((v) => v / MAPPER_LR_MUL);
      out.set(`${g}.mapping.${k}.weight`, tf.tidy(() => tf.transpose(tf.tensor2d(w, [dim, dim]))));
      out.set(`${g}.mapping.${k}.bias`, tf.zeros([dim]));
    }
  }
  return out;
}

function toInput(t: tf.Tensor, transpose: boolean): TensorInput {
  const x = transpose ? tf.tidy(() => tf.transpose(t)) : t;
  const r = { dtype: 'float32' as const, shape: [...x.shape], data: x.dataSync() as Float32Array };
  if (transpose) x.dispose();
  return r;
}

async function saveCheckpoint(path: string, vars: ReadonlyMap<string, tf.Variable>, opt: StepOptimizer, step: number, opts: Record<string, unknown>): Promise<void> {
  const tensors = new Map<string, TensorInput>();
  const state = opt.snapshot();
  for (const [k, v] of vars) {
    tensors.set(`mapper.${k}`, toInput(v, k.endsWith('.weight')));
    for (const [which, buf] of Object.entries(state.buffers)) {
      const s = buf.get(k)!;
      tensors.set(`optimizer.${which}.${k}`, { dtype: 'float32', shape: s.shape, data: s.data });
    }
  }
  await writeSafetensors(path, tensors, { format: 'semedit-styleclip-mapper', step: String(step), opts: JSON.stringify(opts) });
}

/** `optimizer.<buffer>.<key>` tensors of a checkpoint as a snapshot. */
function snapshotFrom(tensors: ReadonlyMap<string, RawTensor>, step: number): OptimizerSnapshot {
  const buffers: OptimizerSnapshot['buffers'] = {};
  for (const [k, t] of tensors) {
    const m = /^optimizer\.([^.]+)\.(.+)$/.exec(k);
    if (!m) continue;
    (buffers[m[1]!] ??= new Map()).set(m[2]!, { shape: [...t.shape], data: t.data as Float32Array });
  }
  return { step, buffers };
}

function newOptimizer(name: MapperOptimizerName, vars: ReadonlyMap<string, tf.Variable>, opts: TrainMapperOptions): StepOptimizer {
  // Weights are held [in, out]: their output axis (the one gradient centralisation keeps) is 1.
  if (name === 'ranger') return new Ranger(vars, { ...opts.ranger, outputAxis: (k) => (k.endsWith('.weight') ? 1 : 0) });
  return new Adam(vars, opts.adam);
}

/** A parameter (or a tensor shaped like one) in PyTorch's layout: weights transposed back to `[out, in]`. */
function torchLayout(key: string, t: tf.Tensor): tf.Tensor {
  return key.endsWith('.weight') ? tf.transpose(t) : t;
}

/**
 * Trains (or resumes training) a latent mapper on W+ latents. Yields the losses after every step and returns the
 * trained {@link LatentMapper} (the caller disposes it). Breaking out of the loop frees everything.
 *
 * @param synthesize W+ → image (noise fixed)
 * @param clipLoss   the CLIP loss bound to the description
 * @param latents    `[N, n_latent, D]` training latents (StyleCLIP: e4e inversions of CelebA-HQ)
 * @param opts       see {@link TrainMapperOptions}
 * @example
 * ```ts
 * const run = trainLatentMapper(wPlusSynthesizer(G), new ClipTextLoss(clip, ids), latents, { steps: 100, checkpointPath: 'm.safetensors' });
 * let r = await run.next();
 * while (!r.done) r = await run.next();
 * const mapper = r.value;
 * ```
 */
export async function* trainLatentMapper(
  synthesize: SynthesizeWPlus, clipLoss: ClipTextLoss, latents: tf.Tensor3D, opts: TrainMapperOptions = {},
): AsyncGenerator<TrainMapperStep, LatentMapper, void> {
  const single = opts.mapperType === 'SingleMapper';
  if (opts.mapperType !== undefined && !single && opts.mapperType !== 'LevelsMapper') throw new OptionError('mapperType', `must be LevelsMapper or SingleMapper, got ${String(opts.mapperType)}`);
  if (latents.rank !== 3 || latents.shape[1] < 1) throw new ShapeMismatchError('latents (W+)', [null, null, null], latents.shape);
  if (opts.optimizer !== undefined && !MAPPER_OPTIMIZERS.includes(opts.optimizer)) throw new OptionError('optimizer', `must be ${MAPPER_OPTIMIZERS.join(' or ')}, got ${String(opts.optimizer)}`);
  if (opts.batchOrder !== undefined && opts.batchOrder !== 'shuffle' && opts.batchOrder !== 'sequential') throw new OptionError('batchOrder', `must be shuffle or sequential, got ${String(opts.batchOrder)}`);
  if (opts.init && opts.resumeFrom) throw new OptionError('init', 'cannot be combined with resumeFrom');
  if (opts.init && opts.init.latentDim !== latents.shape[2]) throw new ShapeMismatchError('latents (W+)', [null, null, opts.init.latentDim], latents.shape);
  const resumed = opts.resumeFrom ? await readCheckpoint(opts.resumeFrom) : undefined;
  const saved = resumed ? (JSON.parse(resumed.metadata['opts'] ?? '{}') as Record<string, unknown>) : {};
  const steps = opts.steps ?? 50_000;
  const batchSize = opts.batchSize ?? 2;
  const lr = opts.lr ?? 0.5;
  const clipLambda = opts.clipLambda ?? 1;
  const l2Lambda = opts.l2Lambda ?? 0.8;
  const idLambda = opts.idLambda ?? (opts.identity ? 0.1 : 0);
  const every = opts.checkpointEvery ?? 2000;
  const seed = typeof saved['seed'] === 'number' ? saved['seed'] : opts.seed ?? 0;
  // Checkpoints written before Ranger existed carry no optim_name: they were trained with Adam.
  const optimName: MapperOptimizerName = resumed ? (saved['optim_name'] === 'ranger' ? 'ranger' : 'adam') : opts.optimizer ?? 'ranger';
  const sequential = opts.batchOrder === 'sequential';
  if (!Number.isInteger(steps) || steps < 1) throw new OptionError('steps', `must be an integer >= 1, got ${steps}`);
  if (!Number.isInteger(batchSize) || batchSize < 1 || batchSize > latents.shape[0]) throw new OptionError('batchSize', `must be in 1..${latents.shape[0]}, got ${batchSize}`);
  if (idLambda > 0 && !opts.identity) throw new OptionError('idLambda', 'is > 0 but no identity model was given');
  const dim = latents.shape[2];
  let start = 0;
  let mapper: LatentMapper;
  if (resumed) {
    mapper = latentMapperFromTensors(new Map([...resumed.tensors].filter(([k]) => !k.startsWith('optimizer.'))), opts.resumeFrom, saved);
    start = Number(resumed.metadata['step'] ?? 0);
  } else if (opts.init) {
    mapper = new LatentMapper(opts.init.params, opts.init.options, opts.init.latentDim);
  } else {
    const options: MapperOptions = {
      mapper_type: single ? 'SingleMapper' : 'LevelsMapper', no_coarse_mapper: opts.noCoarseMapper ?? false, no_medium_mapper: opts.noMediumMapper ?? false, no_fine_mapper: opts.noFineMapper ?? false,
    };
    const groups = single ? ['mapping'] : [['course_mapping', options.no_coarse_mapper], ['medium_mapping', options.no_medium_mapper], ['fine_mapping', options.no_fine_mapper]]
      .filter(([, off]) => !off).map(([g]) => g as string);
    if (groups.length === 0) throw new OptionError('noCoarseMapper/noMediumMapper/noFineMapper', 'every mapper group is disabled');
    mapper = new LatentMapper(mapperParamsFromEntries(newMapperParams(dim, groups, seed)), options, dim);
  }
  const trainOpts = { ...mapper.options, seed, optim_name: optimName, learning_rate: lr, clip_lambda: clipLambda, latent_l2_lambda: l2Lambda, id_lambda: idLambda, batch_size: batchSize, description: opts.description ?? saved['description'] ?? '' };
  const vars = new Map([...mapperParamEntries(mapper.params)].map(([k, t]) => [k, tf.variable(t, true)]));
  if (!opts.init) mapper.dispose();
  let opt: StepOptimizer | undefined;
  try {
    opt = newOptimizer(optimName, vars, opts);
    if (resumed) opt.restore(snapshotFrom(resumed.tensors, start));
  } catch (e) {
    opt?.dispose();
    tf.dispose([...vars.values()]);
    throw e;
  }
  const observe = opts.observe;
  const params = mapperParamsFromEntries(vars);
  const n = latents.shape[0];
  const perEpoch = Math.floor(n / batchSize);
  let order: number[] = [];
  let orderEpoch = -1;
  try {
    for (let step = start; step < steps; step++) {
      // Batch order: a seeded shuffle per epoch (drop_last), so a resumed run sees the same batches.
      const epoch = Math.floor(step / perEpoch);
      if (sequential) order = Array.from({ length: n }, (_, i) => i);
      else if (epoch !== orderEpoch) {
        const u = createGenerator(seed * 1_000_003 + epoch + 1).uniform(n);
        order = Array.from({ length: n }, (_, i) => i).sort((a, b) => u[a]! - u[b]! || a - b);
        orderEpoch = epoch;
      }
      const idx = order.slice((step % perEpoch) * batchSize, (step % perEpoch + 1) * batchSize);
      const parts = tf.tidy(() => {
        const w = tf.gather(latents, idx);
        const target = idLambda > 0 ? faceFeatures(opts.identity!, synthesize(w)) : undefined;
        const terms: tf.Tensor[] = [];
        const keep = (x: tf.Scalar) => (terms.push(tf.keep(x)), x);
        const { value, grads } = tf.variableGrads(() => {
          const wHat = applyLatentMapper(params, w);
          const img = synthesize(wHat);
          observe?.('x_hat', img, step);
          let loss = tf.mul(keep(tf.mean(clipLoss.loss(img))), clipLambda) as tf.Scalar;
          loss = tf.add(loss, tf.mul(keep(tf.mean(tf.square(tf.sub(wHat, w)))), l2Lambda));
          if (target) loss = tf.add(loss, tf.mul(keep(identityLoss(opts.identity!, img, target)), idLambda));
          return loss;
        }, [...vars.values()]);
        // A parameter outside the graph (the fine group of an 8-row W+) has a zero gradient, as in the reference.
        const g = new Map([...vars].map(([k, v]) => [k, grads[v.name] ?? tf.zerosLike(v)]));
        if (observe) for (const [k, t] of g) observe(`grad.${k}`, torchLayout(k, t), step);
        opt.step(g, lr);
        if (observe) {
          for (const [k, v] of vars) {
            observe(`after_step.${k}`, torchLayout(k, v), step);
            for (const [which, t] of Object.entries(opt.stateTensors(k))) observe(`state.${k}.${which}`, torchLayout(k, t), step);
          }
        }
        const out = tf.stack([value, ...terms, ...(terms.length < 3 ? [tf.scalar(0)] : [])]);
        tf.dispose(terms);
        return out;
      });
      const [loss, c, l2, id] = Array.from(await parts.data());
      parts.dispose();
      let checkpoint: string | undefined;
      if (opts.checkpointPath && ((step + 1) % every === 0 || step + 1 === steps)) {
        await saveCheckpoint(opts.checkpointPath, vars, opt, step + 1, trainOpts);
        checkpoint = opts.checkpointPath;
      }
      yield { step, steps, loss: loss!, clipLoss: c!, l2Loss: l2!, idLoss: id!, checkpoint };
    }
    const out = new Map([...vars].map(([k, v]) => [k, tf.clone(v)]));
    return new LatentMapper(mapperParamsFromEntries(out), mapper.options, dim, [], trainOpts);
  } finally {
    opt.dispose();
    tf.dispose([...vars.values()]);
  }
}
