/**
 * When Prompt-to-Prompt injects the source's attention (algorithms.md §1.2.3): `cross_replace_steps` as a
 * fraction, an interval or per word (`get_time_words_attention_alpha`), and `self_replace_steps`.
 * @module
 */
import { OptionError } from '@semedit/core';
import type { ClipTokenizer } from '@semedit/core/clip';
import { wordToTokenIndices } from '@semedit/core/clip';
import { PromptEditError } from './errors.js';
import type { WordMode } from './word-mappers.js';

/**
 * A window of the denoising run as fractions: `c` means `[0, c)`, `[a, b]` means `[a, b)`.
 *
 * @example
 * ```ts
 * const w: StepWindow = [0.1, 0.8];
 * ```
 */
export type StepWindow = number | readonly [number, number];

/**
 * `cross_replace_steps`: one window for every token, or the reference's dict form: `default_` for all tokens
 * (`[0, 1]` when missing), then each other key a word of the edited prompts whose token columns get its own window.
 *
 * @example
 * ```ts
 * const s: CrossReplaceSteps = { default_: 1, lion: 0.4 };
 * ```
 */
export type CrossReplaceSteps = StepWindow | Readonly<Record<string, StepWindow>>;

function checkWindow(name: string, w: StepWindow): readonly [number, number] {
  const pair: readonly [number, number] = typeof w === 'number' ? [0, w] : w;
  if (!Array.isArray(pair) || pair.length !== 2 || !pair.every((v) => typeof v === 'number' && Number.isFinite(v) && v >= 0 && v <= 1) || pair[0] > pair[1]) {
    throw new OptionError(name, `must be a fraction in [0, 1] or an interval [a, b] with 0 <= a <= b <= 1, got ${JSON.stringify(w)}`);
  }
  return pair;
}

/**
 * Step index range `[start, end)` of a window over `n` slots: `[int(a·n), int(b·n))`, as the reference truncates.
 *
 * @param window fraction or interval
 * @param n      number of slots (steps + 1 for cross attention, steps for self attention)
 * @param name   option name for errors
 * @example
 * ```ts
 * windowToSteps(0.8, 51); // [0, 40]
 * ```
 */
export function windowToSteps(window: StepWindow, n: number, name = 'window'): [number, number] {
  const [a, b] = checkWindow(name, window);
  return [Math.trunc(a * n), Math.trunc(b * n)];
}

/**
 * Options of {@link crossReplaceAlpha}.
 *
 * @example
 * ```ts
 * const o: CrossReplaceAlphaOptions = { wordMode: 'robust' };
 * ```
 */
export interface CrossReplaceAlphaOptions {
  /** Word lookup mode for per-word windows (default `'reference'`). */
  wordMode?: WordMode;
  /** Token columns (default 77). */
  maxLen?: number;
}

/**
 * The cross-attention replacement schedule α `[T+1, B−1, maxLen]` (`get_time_words_attention_alpha`): α = 1
 * where, at that step, the edited prompt's cross-attention column takes the source's (edited) map. Rows are
 * step indices 0..T (row T is never used by a T-step run).
 *
 * @param tokenizer the CLIP tokenizer
 * @param prompts   source prompt first, then the edited prompts
 * @param numSteps  T, the number of denoising steps
 * @param steps     the window(s)
 * @param opts      word lookup mode, width
 * @throws PromptEditError when a per-word key is in none of the edited prompts
 * @example
 * ```ts
 * const { data, shape } = crossReplaceAlpha(tok, ['a cat', 'a dog'], 50, 0.8); // shape [51, 1, 77]; rows 0..39 are 1
 * ```
 */
export function crossReplaceAlpha(
  tokenizer: ClipTokenizer, prompts: readonly string[], numSteps: number, steps: CrossReplaceSteps, opts: CrossReplaceAlphaOptions = {},
): { data: Float32Array; shape: [number, number, number] } {
  if (!Number.isInteger(numSteps) || numSteps < 1) throw new OptionError('numInferenceSteps', `must be a positive integer, got ${numSteps}`);
  if (prompts.length < 2) throw new OptionError('prompts', 'Prompt-to-Prompt needs a source prompt and at least one edited prompt');
  const maxLen = opts.maxLen ?? tokenizer.modelMaxLength;
  const rows = numSteps + 1;
  const edits = prompts.length - 1;
  const data = new Float32Array(rows * edits * maxLen);
  const dict: Readonly<Record<string, StepWindow>> = typeof steps === 'number' || Array.isArray(steps) ? { default_: steps as StepWindow } : (steps as Record<string, StepWindow>);
  const fill = (window: StepWindow, name: string, prompt: number, cols: readonly number[] | undefined) => {
    const [start, end] = windowToSteps(window, rows, name);
    for (let t = 0; t < rows; t++) {
      const v = t >= start && t < end ? 1 : 0;
      const base = (t * edits + prompt) * maxLen;
      if (cols) for (const c of cols) data[base + c] = v;
      else data.fill(v, base, base + maxLen);
    }
  };
  const def = dict['default_'] ?? [0, 1];
  for (let p = 0; p < edits; p++) fill(def, 'crossReplaceSteps.default_', p, undefined);
  for (const [word, window] of Object.entries(dict)) {
    if (word === 'default_') continue;
    let found = false;
    for (let p = 0; p < edits; p++) {
      const cols = wordToTokenIndices(tokenizer, prompts[p + 1]!, word, { mode: opts.wordMode ?? 'reference' }).filter((c) => c < maxLen);
      if (cols.length === 0) continue;
      found = true;
      fill(window, `crossReplaceSteps.${word}`, p, cols);
    }
    if (!found) throw new PromptEditError(`crossReplaceSteps: word "${word}" is in none of the edited prompts`, { prompt: prompts.slice(1).join('" / "'), word });
  }
  return { data, shape: [rows, edits, maxLen] };
}

/**
 * The step range `[start, end)` in which edited prompts take the source's self-attention maps:
 * `(int(T·a), int(T·b))` for `self_replace_steps` `[a, b]` (a number s means `[0, s]`).
 *
 * @param numSteps T
 * @param steps    fraction or interval
 * @example
 * ```ts
 * selfReplaceWindow(50, 0.4); // [0, 20]
 * ```
 */
export function selfReplaceWindow(numSteps: number, steps: StepWindow): [number, number] {
  return windowToSteps(steps, numSteps, 'selfReplaceSteps');
}
