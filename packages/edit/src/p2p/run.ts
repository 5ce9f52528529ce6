/**
 * Prompt-to-Prompt end to end (algorithms.md §1.2.1): the source and edited prompts run in one batch from the
 * same starting latent, with classifier-free guidance, the chosen controller on every attention layer, an
 * attention store, and optionally LocalBlend after each step.
 * @module
 */
import * as tf from '@tensorflow/tfjs-core';
import { OptionError, ShapeMismatchError, createGenerator, randn } from '@semedit/core';
import { latentSize, textToImage, type StableDiffusion, type StepEvent, type TruncatedPrompt } from '@semedit/core/pipeline';
import { composeResolvers, type AttentionHookResolver } from '@semedit/core/unet';
import { attentionRefine, attentionReplace, attentionReweight, type ControllerOptions, type P2PController } from './controllers.js';
import { localBlend, type LocalBlend, type LocalBlendOptions } from './local-blend.js';
import type { CrossReplaceSteps, StepWindow } from './schedules.js';
import { createAttentionStore, type AttentionStore, type AttentionStoreOptions } from './store.js';
import type { WordMode, WordWeight } from './word-mappers.js';

/**
 * The edit: word swap, refinement (added words) or re-weighting only.
 *
 * @example
 * ```ts
 * const mode: P2PMode = 'refine';
 * ```
 */
export type P2PMode = 'replace' | 'refine' | 'reweight';

/**
 * Options of {@link runPromptToPrompt} / {@link promptToPrompt}.
 *
 * @example
 * ```ts
 * const o: PromptToPromptOptions = { prompt: 'a cat', targets: 'a dog', crossReplaceSteps: 0.8, selfReplaceSteps: 0.4 };
 * ```
 */
export interface PromptToPromptOptions {
  /** The source prompt (batch prompt 0). */
  prompt: string;
  /** The edited prompt(s) (prompts 1..n); for `reweight`, usually the source itself. */
  targets: string | readonly string[];
  /** Default `'replace'`. */
  mode?: P2PMode;
  /** Word weights: required for `reweight`; with `replace`/`refine` a re-weighting chained on that edit. */
  weights?: readonly WordWeight[] | Readonly<Record<string, number>>;
  /** Largest |weight| accepted (default 10). */
  maxAbsWeight?: number;
  /** Cross-attention injection window(s) (default 0.8). */
  crossReplaceSteps?: CrossReplaceSteps;
  /** Self-attention injection window (default 0.4). */
  selfReplaceSteps?: StepWindow;
  /** Self-attention size cap (default 256 queries). */
  selfReplaceMaxQueries?: number;
  /** Word-swap mapper: `'corrected'` (default) or `'reference'`. */
  replaceMapper?: 'corrected' | 'reference';
  /** LocalBlend: words per prompt and its settings (layers default to `'auto'` from the UNet config). */
  localBlend?: Omit<LocalBlendOptions, 'tokenizer' | 'prompts' | 'store' | 'unetConfig'>;
  /** Attention store settings (default cross-attention only, 32² cap); `false` for none (then no LocalBlend). */
  store?: AttentionStoreOptions | false;
  /** Word lookup mode (default `'reference'`). */
  wordMode?: WordMode;
  guidanceScale?: number;
  numInferenceSteps?: number;
  /** Seed of the one starting latent all prompts share (default 0). */
  seed?: number;
  /** Starting latent `[1, h, w, C]` (shared) or `[B, h, w, C]`; the caller keeps ownership. */
  latents?: tf.Tensor4D;
  height?: number;
  width?: number;
  negativePrompt?: string;
  eta?: number;
  /** Further attention hooks, composed after P2P's and the store's. */
  hooks?: AttentionHookResolver;
  /** Called after LocalBlend at each step; may return replacement latents. */
  onStepEnd?: (ev: StepEvent) => tf.Tensor4D | undefined | void;
  onProgress?: (done: number, total: number) => void;
  onTruncate?: 'warn' | 'error';
}

/**
 * What {@link runPromptToPrompt} returns; `dispose()` frees everything in it.
 *
 * @example
 * ```ts
 * const { images, store } = r; // [2, 512, 512, 3], the attention store
 * r.dispose();
 * ```
 */
export interface PromptToPromptResult {
  /** Source prompt first, then the edited prompts. */
  prompts: string[];
  /** Final latents `[B, h, w, C]`. */
  latents: tf.Tensor4D;
  /** Decoded images `[B, H, W, 3]` in [0, 1]. */
  images: tf.Tensor4D;
  controller: P2PController;
  store: AttentionStore | undefined;
  localBlend: LocalBlend | undefined;
  truncated: TruncatedPrompt[];
  dispose(): void;
}

/**
 * Builds the controller a mode asks for (with a chained re-weighting when weights come with replace/refine).
 *
 * @param mode replace, refine or reweight
 * @param base shared controller options
 * @param opts weights, weight bound, mapper mode
 * @returns the controller and every controller to dispose
 * @example
 * ```ts
 * const { controller } = makeController('refine', { tokenizer, prompts, numSteps: 50 }, { weights: { croutons: 3 } });
 * ```
 */
export function makeController(
  mode: P2PMode, base: ControllerOptions, opts: Pick<PromptToPromptOptions, 'weights' | 'maxAbsWeight' | 'replaceMapper'> = {},
): { controller: P2PController; owned: P2PController[] } {
  const reweight = (prev?: P2PController) => {
    if (!opts.weights) throw new OptionError('weights', `mode ${mode} needs word weights`);
    return attentionReweight({ ...base, weights: opts.weights, ...(opts.maxAbsWeight !== undefined ? { maxAbsWeight: opts.maxAbsWeight } : {}), ...(prev ? { prev } : {}) });
  };
  if (mode === 'reweight') {
    const c = reweight();
    return { controller: c, owned: [c] };
  }
  if (mode !== 'replace' && mode !== 'refine') throw new OptionError('mode', `must be replace, refine or reweight, got ${String(mode)}`);
  const first = mode === 'replace' ? attentionReplace({ ...base, ...(opts.replaceMapper ? { mapper: opts.replaceMapper } : {}) }) : attentionRefine(base);
  if (!opts.weights) return { controller: first, owned: [first] };
  try {
    const c = reweight(first);
    return { controller: c, owned: [c, first] };
  } catch (e) {
    first.dispose();
    throw e;
  }
}

function startLatents(sd: StableDiffusion, opts: PromptToPromptOptions, b: number): tf.Tensor4D {
  const { height: h, width: w, channels } = latentSize(sd, opts);
  if (opts.latents) {
    const [n, lh, lw, c] = opts.latents.shape;
    if ((n !== 1 && n !== b) || lh !== h || lw !== w || c !== channels) throw new ShapeMismatchError('latents', [1, h, w, channels], opts.latents.shape);
    return n === b ? tf.clone(opts.latents) : (tf.tile(opts.latents, [b, 1, 1, 1]) as tf.Tensor4D);
  }
  return tf.tidy(() => tf.tile(randn([1, h, w, channels], createGenerator(opts.seed ?? 0)), [b, 1, 1, 1]) as tf.Tensor4D);
}

/**
 * Prompt-to-Prompt as an async generator of steps (like `textToImage`); its return value is the result.
 *
 * @param sd   the Stable Diffusion pipeline parts
 * @param opts prompts, mode, windows, LocalBlend, store, generation settings
 * @example
 * ```ts
 * const run = promptToPrompt(sd, { prompt: 'a cat riding a bicycle', targets: 'a dog riding a bicycle', numInferenceSteps: 50, seed: 1 });
 * let r = await run.next();
 * while (!r.done) r = await run.next();
 * r.value.dispose();
 * ```
 */
export async function* promptToPrompt(sd: StableDiffusion, opts: PromptToPromptOptions): AsyncGenerator<StepEvent, PromptToPromptResult> {
  if (typeof opts.prompt !== 'string') throw new OptionError('prompt', 'must be a string');
  const targets = typeof opts.targets === 'string' ? [opts.targets] : [...opts.targets];
  if (targets.length === 0 || targets.some((t) => typeof t !== 'string')) throw new OptionError('targets', 'give at least one edited prompt');
  const prompts = [opts.prompt, ...targets];
  const numSteps = opts.numInferenceSteps ?? 50;
  const base: ControllerOptions = {
    tokenizer: sd.tokenizer, prompts, numSteps,
    ...(opts.crossReplaceSteps !== undefined ? { crossReplaceSteps: opts.crossReplaceSteps } : {}),
    ...(opts.selfReplaceSteps !== undefined ? { selfReplaceSteps: opts.selfReplaceSteps } : {}),
    ...(opts.selfReplaceMaxQueries !== undefined ? { selfReplaceMaxQueries: opts.selfReplaceMaxQueries } : {}),
    ...(opts.wordMode ? { wordMode: opts.wordMode } : {}),
  };
  const { controller, owned } = makeController(opts.mode ?? 'replace', base, opts);
  const free: { dispose(): void }[] = [...owned];
  try {
    if (opts.localBlend && opts.store === false) throw new OptionError('store', 'LocalBlend reads the attention store; do not disable it');
    const store = opts.store === false ? undefined : createAttentionStore(opts.store ?? { kinds: ['cross'] });
    if (store) free.push(store);
    const lb = opts.localBlend && store
      ? localBlend({ ...(opts.wordMode ? { wordMode: opts.wordMode } : {}), ...opts.localBlend, tokenizer: sd.tokenizer, prompts, store, unetConfig: sd.unet.config })
      : undefined;
    if (lb) free.push(lb);
    const start = startLatents(sd, opts, prompts.length);
    const { factor } = latentSize(sd, opts);
    free.push(start);
    const run = textToImage(sd, {
      prompt: prompts, latents: start, numInferenceSteps: numSteps,
      hooks: composeResolvers(controller.hooks, store?.hooks, opts.hooks),
      onStepEnd: (ev) => {
        let x = lb?.onStepEnd(ev);
        if (opts.onStepEnd) {
          const ev2 = x ? { ...ev, latents: x } : ev;
          const y = opts.onStepEnd(ev2);
          if (y && y !== ev2.latents) {
            x?.dispose();
            x = y;
          }
        }
        return x;
      },
      height: start.shape[1] * factor, width: start.shape[2] * factor,
      ...(opts.guidanceScale !== undefined ? { guidanceScale: opts.guidanceScale } : {}),
      ...(opts.negativePrompt !== undefined ? { negativePrompt: opts.negativePrompt } : {}),
      ...(opts.eta !== undefined ? { eta: opts.eta } : {}), ...(opts.seed !== undefined ? { seed: opts.seed } : {}),
      ...(opts.onProgress ? { onProgress: opts.onProgress } : {}), ...(opts.onTruncate ? { onTruncate: opts.onTruncate } : {}),
    });
    let r = await run.next();
    while (!r.done) {
      yield r.value;
      r = await run.next();
    }
    start.dispose();
    free.splice(free.indexOf(start), 1);
    const { latents, images, truncated } = r.value;
    return {
      prompts, latents, images, controller, store, localBlend: lb, truncated,
      dispose: () => {
        tf.dispose([latents, images]);
        for (const f of free) f.dispose();
      },
    };
  } catch (e) {
    for (const f of free) f.dispose();
    throw e;
  }
}

/**
 * Runs {@link promptToPrompt} to the end.
 *
 * @param sd   the pipeline parts
 * @param opts see {@link PromptToPromptOptions}
 * @example
 * ```ts
 * const r = await runPromptToPrompt(sd, { prompt: 'a cat riding a bicycle', targets: 'a dog riding a bicycle', localBlend: { words: ['cat', 'dog'] } });
 * await writeImageTensor('out/p2p.png', r.images, { range: '0-1', grid: true });
 * r.dispose();
 * ```
 */
export async function runPromptToPrompt(sd: StableDiffusion, opts: PromptToPromptOptions): Promise<PromptToPromptResult> {
  const run = promptToPrompt(sd, opts);
  let r = await run.next();
  while (!r.done) r = await run.next();
  return r.value;
}
