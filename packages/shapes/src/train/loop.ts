/**
 * The training loop every shapes model uses: Adam (PyTorch's) over named variables, a loss function of the step
 * index (so the data a step sees depends on the step alone), a checkpoint that resumes exactly, a loss log, and
 * progress with an ETA.
 *
 * A checkpoint is one safetensors file, written atomically: `param.<name>` (the variables), `adam.<buffer>.<name>`
 * (the optimizer's moments) and the metadata `format` (`semedit-shapes-train`), `step`, `model` and the caller's
 * `meta`. Resuming from it and running to step N gives the same variables, bit for bit, as running to N at once.
 * The loss log (`<checkpoint>.losses.jsonl`, one `{"step", "<loss>": value, ...}` line a step) is rewritten with the
 * checkpoint, so it never runs ahead of it.
 * @module
 */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import * as tf from '@tensorflow/tfjs-core';
import { CheckpointFormatError, OptionError } from '@semedit/core';
import { ensureGradients } from '@semedit/core/backend';
import { readCheckpoint, writeFileAtomic, writeSafetensors, type TensorInput } from '@semedit/core/io';
import { Adam, type AdamOptions, type OptimizerSnapshot } from '@semedit/edit';

/** One step's losses, by name. @example `const l: StepLosses = { loss: 0.31 };` */
export type StepLosses = Record<string, number>;

/**
 * Progress of a run, for bars and callbacks.
 *
 * @example
 * ```ts
 * const p: TrainProgress = { step: 10, steps: 100, losses: { loss: 0.2 }, etaMs: 9000 };
 * ```
 */
export interface TrainProgress {
  step: number;
  steps: number;
  losses: StepLosses;
  /** Estimated time to the last step, from the steps run in this process (null before the second). */
  etaMs: number | null;
}

/**
 * Options of {@link train}.
 *
 * @example
 * ```ts
 * const o: TrainOptions = { model: 'classifier', steps: 500, lr: 1e-3, checkpoint: 'out/classifier.ckpt.safetensors' };
 * ```
 */
export interface TrainOptions {
  /** The model's name, stored in the checkpoint and checked on resume. */
  model: string;
  /** The step to train up to (steps already in the checkpoint count). */
  steps: number;
  /** Learning rate, constant or per step (0-based). */
  lr: number | ((step: number) => number);
  /** Checkpoint file; an existing one is resumed. Without it nothing is written. */
  checkpoint?: string;
  /** Steps between checkpoints (default 50); one is always written after the last step. */
  checkpointEvery?: number;
  /** Adam's hyper-parameters (PyTorch's defaults). */
  adam?: AdamOptions;
  /** Strings kept in the checkpoint (configs, seeds); a resumed run must have the same ones. */
  meta?: Record<string, string>;
  /** Called after every step. */
  onProgress?: (p: TrainProgress) => void;
}

/** Where a run's loss log lives. @example `lossLogPath('a.safetensors'); // 'a.safetensors.losses.jsonl'` */
export function lossLogPath(checkpoint: string): string {
  return `${checkpoint}.losses.jsonl`;
}

/**
 * Reads a loss log.
 *
 * @example
 * ```ts
 * (await readLossLog('out/classifier.ckpt.safetensors.losses.jsonl'))[0]; // { step: 1, loss: 2.3 }
 * ```
 */
export async function readLossLog(path: string): Promise<({ step: number } & StepLosses)[]> {
  if (!existsSync(path)) return [];
  const text = await readFile(path, 'utf8');
  return text.split('\n').filter((l) => l.trim() !== '').map((l, i) => {
    try {
      return JSON.parse(l) as { step: number } & StepLosses;
    } catch {
      throw new CheckpointFormatError(`line ${i + 1} is not JSON`, { file: path });
    }
  });
}

function input(t: tf.Tensor): TensorInput {
  return { dtype: 'float32', shape: [...t.shape], data: t.dataSync() as Float32Array };
}

async function save(path: string, params: ReadonlyMap<string, tf.Variable>, adam: Adam, step: number, opts: TrainOptions, log: string[]): Promise<void> {
  const tensors = new Map<string, TensorInput>();
  for (const [k, v] of params) tensors.set(`param.${k}`, input(v));
  const snap = adam.snapshot();
  for (const [buffer, m] of Object.entries(snap.buffers)) {
    for (const [k, s] of m) tensors.set(`adam.${buffer}.${k}`, { dtype: 'float32', shape: s.shape, data: s.data });
  }
  await writeSafetensors(path, tensors, { format: 'semedit-shapes-train', step: String(step), model: opts.model, meta: JSON.stringify(opts.meta ?? {}) });
  await writeFileAtomic(lossLogPath(path), [new TextEncoder().encode(log.map((l) => `${l}\n`).join(''))]);
}

/** Loads a checkpoint into the variables and the optimizer; returns its step. */
async function resume(path: string, params: ReadonlyMap<string, tf.Variable>, adam: Adam, opts: TrainOptions): Promise<number> {
  const ck = await readCheckpoint(path);
  const md = ck.metadata;
  if (md['format'] !== 'semedit-shapes-train') throw new CheckpointFormatError(`not a shapes training checkpoint (format ${md['format'] ?? 'missing'})`, { file: path });
  if (md['model'] !== opts.model) throw new CheckpointFormatError(`holds model '${md['model']}', not '${opts.model}'`, { file: path });
  if (md['meta'] !== JSON.stringify(opts.meta ?? {})) throw new CheckpointFormatError(`was made with other settings: ${md['meta']}`, { file: path });
  const step = Number(md['step']);
  if (!Number.isInteger(step) || step < 0) throw new CheckpointFormatError(`bad step '${md['step']}'`, { file: path });
  const buffers: OptimizerSnapshot['buffers'] = {};
  for (const [k, v] of params) {
    const t = ck.tensors.get(`param.${k}`);
    if (!t) throw new CheckpointFormatError(`missing param.${k}`, { file: path });
    if (t.shape.join() !== v.shape.join()) throw new CheckpointFormatError(`param.${k} is [${t.shape}], the model's is [${v.shape}]`, { file: path });
    const value = tf.tensor(t.data as Float32Array, [...t.shape]);
    v.assign(value);
    value.dispose();
  }
  for (const [name, t] of ck.tensors) {
    const m = /^adam\.([^.]+)\.(.+)$/.exec(name);
    if (m) (buffers[m[1]!] ??= new Map()).set(m[2]!, { shape: [...t.shape], data: t.data as Float32Array });
  }
  adam.restore({ step, buffers });
  return step;
}

/**
 * Trains `params` to minimize the sum of the losses `loss(step)` returns, resuming from `opts.checkpoint` when it
 * exists. Yields each step's losses; breaking out of the loop stops after that step (the last checkpoint stands).
 *
 * @param params the variables to train, by name (their names in checkpoints)
 * @param loss   the step's named scalar losses (0-based step); their sum is minimized
 * @param opts   see {@link TrainOptions}
 * @throws OptionError for bad steps, learning rates or intervals; CheckpointFormatError for a checkpoint of
 *   another model, other settings, or other shapes
 * @example
 * ```ts
 * for await (const s of train(params, (step) => ({ loss: mse(step) }), { model: 'toy', steps: 100, lr: 1e-2 })) {
 *   console.log(s.step, s.losses.loss); // 1 0.93 ...
 * }
 * ```
 */
export async function* train(
  params: ReadonlyMap<string, tf.Variable>,
  loss: (step: number) => Record<string, tf.Scalar>,
  opts: TrainOptions,
): AsyncGenerator<{ step: number; losses: StepLosses }> {
  if (!Number.isInteger(opts.steps) || opts.steps < 0) throw new OptionError('steps', `must be an integer >= 0, got ${opts.steps}`);
  const every = opts.checkpointEvery ?? 50;
  if (!Number.isInteger(every) || every < 1) throw new OptionError('checkpointEvery', `must be an integer >= 1, got ${every}`);
  if (!(await ensureGradients())) throw new OptionError('backend', "tfjs-core's gradients could not be registered");
  const lrAt = typeof opts.lr === 'number' ? () => opts.lr as number : opts.lr;
  const adam = new Adam(params, opts.adam);
  const vars = [...params.values()];
  const keyOf = new Map([...params].map(([key, v]) => [v.name, key]));
  try {
    let step = opts.checkpoint && existsSync(opts.checkpoint) ? await resume(opts.checkpoint, params, adam, opts) : 0;
    const log = opts.checkpoint ? (await readLossLog(lossLogPath(opts.checkpoint))).filter((l) => l.step <= step).map((l) => JSON.stringify(l)) : [];
    const started = performance.now(), first = step;
    while (step < opts.steps) {
      const lr = lrAt(step);
      if (!(lr >= 0) || !Number.isFinite(lr)) throw new OptionError('lr', `must be a finite number >= 0, got ${lr} at step ${step}`);
      const values: StepLosses = {};
      tf.tidy(() => {
        const { grads } = tf.variableGrads(() => {
          const parts = loss(step);
          const names = Object.keys(parts);
          if (names.length === 0) throw new OptionError('loss', 'returned no losses');
          const total = names.map((n) => parts[n]!).reduce((a, b) => tf.add(a, b) as tf.Scalar);
          for (const n of names) values[n] = parts[n]!.dataSync()[0]!;
          return total;
        }, vars);
        // A non-finite loss stops the run before it reaches the variables (the last checkpoint stands).
        for (const [n, v] of Object.entries(values)) if (!Number.isFinite(v)) throw new OptionError('loss', `${n} is ${v} at step ${step + 1}`);
        adam.step(new Map(Object.entries(grads).map(([name, g]) => [keyOf.get(name)!, g])), lr);
      });
      step++;
      log.push(JSON.stringify({ step, ...values }));
      const done = step - first, left = opts.steps - step;
      opts.onProgress?.({ step, steps: opts.steps, losses: values, etaMs: done > 1 ? ((performance.now() - started) / done) * left : null });
      if (opts.checkpoint && (step % every === 0 || step === opts.steps)) await save(opts.checkpoint, params, adam, step, opts, log);
      yield { step, losses: values };
    }
  } finally {
    adam.dispose();
  }
}

/**
 * The checkpoint and progress options of a trainer's options, without absent keys.
 *
 * @example
 * ```ts
 * runOptions({ steps: 10, checkpoint: 'a.safetensors' }); // { checkpoint: 'a.safetensors' }
 * ```
 */
export function runOptions(o: Pick<TrainOptions, 'checkpoint' | 'checkpointEvery' | 'onProgress'>): Pick<TrainOptions, 'checkpoint' | 'checkpointEvery' | 'onProgress'> {
  return {
    ...(o.checkpoint ? { checkpoint: o.checkpoint } : {}),
    ...(o.checkpointEvery ? { checkpointEvery: o.checkpointEvery } : {}),
    ...(o.onProgress ? { onProgress: o.onProgress } : {}),
  };
}

/**
 * {@link train} for a model the caller built over `params`: yields each step, returns `model` when the run ends,
 * and frees it (`dispose`) when the run fails or the caller stops early, since nothing is handed back then.
 *
 * @example
 * ```ts
 * const run = trainModel(vars, loss, { model: 'vae', steps: 100, lr: 1e-3 }, vae, () => vae.dispose());
 * ```
 */
export async function* trainModel<T>(
  params: ReadonlyMap<string, tf.Variable>,
  loss: (step: number) => Record<string, tf.Scalar>,
  opts: TrainOptions,
  model: T,
  dispose: () => void,
): AsyncGenerator<{ step: number; losses: StepLosses }, T> {
  let finished = false;
  try {
    yield* train(params, loss, opts);
    finished = true;
  } finally {
    if (!finished) dispose();
  }
  return model;
}

/**
 * A warm-up then cosine learning-rate schedule, to 10% of the peak at `steps` (no
 * warm-up with `warmup` 0).
 *
 * @example
 * ```ts
 * warmupCosine(1e-3, 1000, 100)(0); // 1e-5
 * ```
 */
export function warmupCosine(peak: number, steps: number, warmup: number): (step: number) => number {
  return (step) => (step < warmup ? (peak * (step + 1)) / warmup : peak * (0.1 + 0.45 * (1 + Math.cos((Math.PI * (step - warmup)) / Math.max(1, steps - warmup)))));
}
