/**
 * StyleCLIP latent optimization (`optimization/run_optimization.py`): optimize a W+ code so that the generated
 * image matches a text under CLIP, staying close to the start code:
 *
 *   loss = Σ_i CLIP(G(w_i), text) + λ_L2 · Σ (w − w_init)² + λ_ID · Σ_i (1 − ⟨f(G(w_i)), f(G(w_init,i))⟩)
 *
 * with Adam (lr 0.1) under {@link styleClipLr}'s schedule (`lr = get_lr(step / steps)`). The sum of squares is the
 * reference's (not the L2 norm the paper writes). Per-image terms are summed over the batch, so each image
 * optimizes exactly as a batch-1 run of the script. In `free` mode (`free_generation`) the loss is CLIP only.
 * Runs as an async generator that yields the losses after each step and returns the edited latent and image.
 * @module
 */
import * as tf from '@tensorflow/tfjs-core';
import { OptionError, ShapeMismatchError } from '@semedit/core';
import { Adam, styleClipLr, type AdamOptions } from './adam.js';
import type { ClipTextLoss } from './clip-loss.js';
import { faceFeatures, identityLoss, type FaceEmbedder } from './identity-loss.js';

/**
 * A differentiable W+ → image synthesis: `[B, num_ws, w_dim]` → `[B, H, W, 3]` NHWC in [-1, 1], noise fixed
 * (StyleCLIP: `randomize_noise=False`). Called inside `tf.tidy` / `tf.grad`.
 *
 * @example
 * ```ts
 * const synth: SynthesizeWPlus = (ws) => generator.synthesis(ws, { noiseMode: 'const' });
 * ```
 */
export type SynthesizeWPlus = (ws: tf.Tensor3D) => tf.Tensor4D;

/**
 * Options of {@link optimizeLatent}; defaults are `run_optimization.py`'s.
 *
 * @example
 * ```ts
 * const o: OptimizeLatentOptions = { steps: 40, l2Lambda: 0.008, idLambda: 0.005, identity: arcface }; // the Colab
 * ```
 */
export interface OptimizeLatentOptions {
  /** Optimization steps (`--step`), default 300. */
  steps?: number;
  /** Base learning rate (`--lr`), default 0.1. */
  lr?: number;
  /** Weight of Σ(w − w_init)² (`--l2_lambda`), default 0.008. */
  l2Lambda?: number;
  /** Weight of the identity loss (`--id_lambda`), default 0; needs `identity` when > 0. */
  idLambda?: number;
  /** The face model for the identity loss. */
  identity?: FaceEmbedder;
  /** `edit` (default): CLIP + L2 (+ ID); `free`: CLIP only (`--mode free_generation`). */
  mode?: 'edit' | 'free';
  /** Adam's `beta1`, `beta2`, `eps` (PyTorch defaults 0.9, 0.999, 1e-8). */
  adam?: AdamOptions;
  /** Fraction of the run over which {@link styleClipLr} ramps down, default 0.25. */
  lrRampdown?: number;
  /** Fraction of the run over which {@link styleClipLr} warms up, default 0.05 (the script's hard-coded value). */
  lrRampup?: number;
  /** Sees each step's tensors (see {@link OptimizeObserver}). */
  observe?: OptimizeObserver;
}

/**
 * Called during each step of {@link optimizeLatent} with the step's tensors, which are valid only during the call
 * (clone and `tf.keep`, or read the data, to keep them). Names, shapes as the latent `[B, num_ws, w_dim]` unless
 * said: `image` (the image of the step's forward pass, i.e. of the latent before the step, `[B, H, W, 3]`),
 * `grad` (d loss / d latent before the update), then after the update `latent`, and Adam's `exp_avg` and
 * `exp_avg_sq`.
 *
 * @example
 * ```ts
 * const grads: Float32Array[] = [];
 * const observe: OptimizeObserver = (name, t) => { if (name === 'grad') grads.push(t.dataSync() as Float32Array); };
 * ```
 */
export type OptimizeObserver = (name: 'image' | 'grad' | 'latent' | 'exp_avg' | 'exp_avg_sq', t: tf.Tensor, step: number) => void;

/**
 * What {@link optimizeLatent} yields after each step (losses of the step's forward pass, before its update).
 *
 * @example
 * ```ts
 * for await (const s of run) console.log(`${s.step + 1}/${s.steps} loss ${s.loss.toFixed(4)}`);
 * ```
 */
export interface OptimizeStep {
  /** 0-based step index. */
  step: number;
  steps: number;
  /** Learning rate used for this step. */
  lr: number;
  /** Total loss. */
  loss: number;
  /** Σ over images of the CLIP loss (mean over texts). */
  clipLoss: number;
  /** Σ(w − w_init)² (0 in free mode). */
  l2Loss: number;
  /** Identity loss (0 when not used). */
  idLoss: number;
}

/**
 * What {@link optimizeLatent} returns: the optimized code and its image (the caller disposes both).
 *
 * @example
 * ```ts
 * const { latent, image } = result; // [B, num_ws, w_dim], [B, H, W, 3]
 * ```
 */
export interface OptimizeResult {
  latent: tf.Tensor3D;
  image: tf.Tensor4D;
}

type Resolved = Required<Omit<OptimizeLatentOptions, 'identity' | 'adam' | 'observe'>>;

function resolve(opts: OptimizeLatentOptions): Resolved {
  const steps = opts.steps ?? 300;
  if (!Number.isInteger(steps) || steps < 1) throw new OptionError('steps', `must be an integer >= 1, got ${steps}`);
  const r = {
    steps, lr: opts.lr ?? 0.1, l2Lambda: opts.l2Lambda ?? 0.008, idLambda: opts.idLambda ?? 0, mode: opts.mode ?? 'edit',
    lrRampdown: opts.lrRampdown ?? 0.25, lrRampup: opts.lrRampup ?? 0.05,
  };
  for (const k of ['lrRampdown', 'lrRampup'] as const) {
    if (!(r[k] > 0 && r[k] <= 1)) throw new OptionError(k, `must be in (0, 1], got ${r[k]}`);
  }
  for (const k of ['lr', 'l2Lambda', 'idLambda'] as const) {
    if (!Number.isFinite(r[k]) || r[k] < 0) throw new OptionError(k, `must be a finite number >= 0, got ${r[k]}`);
  }
  if (r.mode !== 'edit' && r.mode !== 'free') throw new OptionError('mode', `must be 'edit' or 'free', got ${String(r.mode)}`);
  if (r.idLambda > 0 && !opts.identity) throw new OptionError('idLambda', 'is > 0 but no identity model was given');
  return r;
}

/**
 * Runs StyleCLIP latent optimization from `init` (W+, not modified). Each step synthesizes, computes the loss,
 * back-propagates through the generator and CLIP, and applies one Adam update; the generator yields the step's
 * losses. Stopping early (`break`) frees everything. No tensors are left behind except the returned ones.
 *
 * @param synthesize W+ → image (see {@link SynthesizeWPlus})
 * @param clipLoss   the CLIP loss bound to the description
 * @param init       `[B, num_ws, w_dim]` start code (e.g. a truncated random W+, or an inverted image's)
 * @param opts       `steps`, `lr`, `l2Lambda`, `idLambda`, `identity`, `mode`, `adam`, `lrRampdown`, `lrRampup`, `observe`
 * @example
 * ```ts
 * const run = optimizeLatent(synth, new ClipTextLoss(clip, ids), init, { steps: 40 });
 * let r = await run.next();
 * while (!r.done) { bar.tick(); r = await run.next(); }
 * const { latent, image } = r.value;
 * ```
 */
export async function* optimizeLatent(
  synthesize: SynthesizeWPlus, clipLoss: ClipTextLoss, init: tf.Tensor3D, opts: OptimizeLatentOptions = {},
): AsyncGenerator<OptimizeStep, OptimizeResult, void> {
  const o = resolve(opts);
  if (init.rank !== 3) throw new ShapeMismatchError('init (W+)', [null, null, null], init.shape);
  const wInit = tf.clone(init);
  const latent = tf.variable(init, true);
  const adam = new Adam(new Map([['latent', latent]]), opts.adam);
  const observe = opts.observe;
  const useId = o.mode === 'edit' && o.idLambda > 0 && opts.identity !== undefined;
  const target = useId ? tf.tidy(() => faceFeatures(opts.identity!, synthesize(wInit))) : undefined;
  try {
    for (let step = 0; step < o.steps; step++) {
      const lr = styleClipLr(step / o.steps, o.lr, o.lrRampdown, o.lrRampup);
      const parts = tf.tidy(() => {
        // The loss terms are kept out of variableGrads' inner tidy for reporting, and freed below.
        const terms: tf.Tensor[] = [];
        const keep = (x: tf.Scalar) => (terms.push(tf.keep(x)), x);
        const { value, grads } = tf.variableGrads(() => {
          const img = synthesize(latent as unknown as tf.Tensor3D);
          observe?.('image', img, step);
          let total: tf.Scalar = keep(tf.sum(clipLoss.loss(img)));
          if (o.mode === 'edit') {
            total = tf.add(total, tf.mul(keep(tf.sum(tf.square(tf.sub(wInit, latent)))), o.l2Lambda));
            if (useId) total = tf.add(total, tf.mul(keep(tf.mul(identityLoss(opts.identity!, img, target!), img.shape[0])), o.idLambda));
          }
          return total;
        }, [latent]);
        const grad = grads[latent.name]!;
        observe?.('grad', grad, step);
        adam.step(new Map([['latent', grad]]), lr);
        if (observe) {
          observe('latent', latent, step);
          const state = adam.stateTensors('latent');
          observe('exp_avg', state['exp_avg']!, step);
          observe('exp_avg_sq', state['exp_avg_sq']!, step);
        }
        const padded = [...terms, ...Array.from({ length: 3 - terms.length }, () => tf.scalar(0))];
        const out = tf.stack([value, ...padded]);
        tf.dispose(terms);
        return out;
      });
      const [loss, clip, l2Loss, idLoss] = Array.from(await parts.data());
      parts.dispose();
      yield { step, steps: o.steps, lr, loss: loss!, clipLoss: clip!, l2Loss: l2Loss!, idLoss: idLoss! };
    }
    const out = tf.clone(latent) as tf.Tensor3D;
    return { latent: out, image: tf.tidy(() => synthesize(out)) };
  } finally {
    adam.dispose();
    tf.dispose([latent, wInit, ...(target ? [target] : [])]);
  }
}
