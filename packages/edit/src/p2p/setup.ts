/**
 * Setting up a Prompt-to-Prompt edit (algorithms.md §1.2.1) for a run: the controller of the chosen mode (with a
 * chained re-weighting), the attention store and LocalBlend, and the hooks that put them on every attention layer.
 * The runs themselves (`edit`, `promptToPrompt`) live in `run/`.
 * @module
 */
import { OptionError } from '@semedit/core';
import type { StableDiffusion } from '@semedit/core/pipeline';
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
  mode: P2PMode, base: ControllerOptions, opts: Pick<P2PEdit, 'weights' | 'maxAbsWeight' | 'replaceMapper'> = {},
): { controller: P2PController; owned: P2PController[] } {
  const reweight = (prev?: P2PController) => {
    if (!opts.weights) throw new OptionError('weights', `mode ${mode} needs word weights`);
    return attentionReweight({ ...base, weights: opts.weights, maxAbsWeight: opts.maxAbsWeight, prev });
  };
  if (mode === 'reweight') {
    const c = reweight();
    return { controller: c, owned: [c] };
  }
  if (mode !== 'replace' && mode !== 'refine') throw new OptionError('mode', `must be replace, refine or reweight, got ${String(mode)}`);
  const first = mode === 'replace' ? attentionReplace({ ...base, mapper: opts.replaceMapper }) : attentionRefine(base);
  if (!opts.weights) return { controller: first, owned: [first] };
  try {
    const c = reweight(first);
    return { controller: c, owned: [c, first] };
  } catch (e) {
    first.dispose();
    throw e;
  }
}

/**
 * Prompt-to-Prompt's settings, as `edit`'s `p2p` field takes them: the edited prompt(s), the kind of edit, its
 * injection windows, LocalBlend and the attention store.
 *
 * @example
 * ```ts
 * const e: P2PEdit = { targets: 'a dog riding a bicycle', crossReplaceSteps: 0.8, selfReplaceSteps: 0.4, localBlend: { words: ['cat', 'dog'] } };
 * ```
 */
export interface P2PEdit {
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
}

/**
 * The parts of a Prompt-to-Prompt edit for one run: the controller, the attention store, LocalBlend, and the hooks
 * and step callback that put them into a sampling loop.
 *
 * @example
 * ```ts
 * const parts: PromptEditParts = setupPromptEdit(sd, ['a cat', 'a dog'], { targets: 'a dog' }, 50);
 * parts.dispose();
 * ```
 */
export interface PromptEditParts {
  /** Source prompt first, then the edited prompts. */
  prompts: string[];
  controller: P2PController;
  store: AttentionStore | undefined;
  localBlend: LocalBlend | undefined;
  /** Controller and store hooks, in that order. */
  hooks: AttentionHookResolver;
  /** Frees the controller(s), store and LocalBlend. */
  dispose(): void;
}

/**
 * Builds a Prompt-to-Prompt edit for a run of `numSteps` steps from `prompt` to `edit.targets`.
 *
 * @param sd       the pipeline (tokenizer, UNet config)
 * @param prompt   the source prompt
 * @param edit     targets, mode, windows, LocalBlend, store
 * @param numSteps sampler steps of the run
 * @throws OptionError for a bad target list, mode, weights or store setting
 * @example
 * ```ts
 * const p = setupPromptEdit(sd, 'a cat riding a bicycle', { targets: 'a dog riding a bicycle' }, 50);
 * const model = withHooks(unetDenoiser(sd.unet), p.hooks);
 * ```
 */
export function setupPromptEdit(sd: Pick<StableDiffusion, 'tokenizer' | 'unet'>, prompt: string, edit: P2PEdit, numSteps: number): PromptEditParts {
  if (typeof prompt !== 'string') throw new OptionError('prompt', 'must be a string');
  const targets = typeof edit.targets === 'string' ? [edit.targets] : Array.isArray(edit.targets) ? [...edit.targets] : [];
  if (targets.length === 0 || targets.some((t) => typeof t !== 'string')) throw new OptionError('targets', 'give at least one edited prompt');
  if (edit.localBlend && edit.store === false) throw new OptionError('store', 'LocalBlend reads the attention store; do not disable it');
  const prompts = [prompt, ...targets];
  const base: ControllerOptions = {
    tokenizer: sd.tokenizer, prompts, numSteps, crossReplaceSteps: edit.crossReplaceSteps, selfReplaceSteps: edit.selfReplaceSteps,
    selfReplaceMaxQueries: edit.selfReplaceMaxQueries, wordMode: edit.wordMode,
  };
  const { controller, owned } = makeController(edit.mode ?? 'replace', base, edit);
  const free: { dispose(): void }[] = [...owned];
  const dispose = () => free.forEach((f) => f.dispose());
  try {
    const store = edit.store === false ? undefined : createAttentionStore(edit.store ?? { kinds: ['cross'] });
    if (store) free.push(store);
    const lb = edit.localBlend && store
      ? localBlend({ wordMode: edit.wordMode, ...edit.localBlend, tokenizer: sd.tokenizer, prompts, store, unetConfig: sd.unet.config })
      : undefined;
    if (lb) free.push(lb);
    return { prompts, controller, store, localBlend: lb, hooks: composeResolvers(controller.hooks, store?.hooks), dispose };
  } catch (e) {
    dispose();
    throw e;
  }
}
