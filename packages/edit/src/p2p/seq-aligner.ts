/**
 * Token alignment for Prompt-to-Prompt refinement (`seq_aligner.py` of google/prompt-to-prompt, algorithms.md
 * §1.2.5): a global (Needleman–Wunsch) alignment of the source and target token ids, and the mapper that tells
 * each target token which source token's attention column it takes over.
 * @module
 */
import type { ClipTokenizer } from '@semedit/core/clip';
import { OptionError } from '@semedit/core';

/**
 * Scores of the global alignment. The reference uses gap 0, match +1, mismatch −1.
 *
 * @example
 * ```ts
 * const s: AlignScores = { gap: 0, match: 1, mismatch: -1 };
 * ```
 */
export interface AlignScores {
  gap: number;
  match: number;
  mismatch: number;
}

/**
 * The reference's scores (`ScoreParams(gap=0, match=1, mismatch=-1)`).
 *
 * @example
 * ```ts
 * globalAlign(x, y, REFERENCE_ALIGN_SCORES);
 * ```
 */
export const REFERENCE_ALIGN_SCORES: Readonly<AlignScores> = { gap: 0, match: 1, mismatch: -1 };

/**
 * Global alignment of two sequences: for each element of `y`, the index of the `x` element it is aligned with,
 * or −1 where `y` has an inserted element. Ties prefer left (insert in y) over up (drop from x) over the
 * diagonal, as the reference's traceback does.
 *
 * @param x      source sequence (token ids with BOS/EOS in P2P)
 * @param y      target sequence
 * @param scores gap / match / mismatch scores (default {@link REFERENCE_ALIGN_SCORES})
 * @returns `yToX` of length `y.length`
 * @example
 * ```ts
 * globalAlign([1, 2, 3], [1, 9, 2, 3]).yToX; // [0, -1, 1, 2]
 * ```
 */
export function globalAlign(x: readonly number[], y: readonly number[], scores: AlignScores = REFERENCE_ALIGN_SCORES): { yToX: Int32Array } {
  const nx = x.length;
  const ny = y.length;
  const w = ny + 1;
  const score = new Float64Array((nx + 1) * w);
  // Traceback codes: 1 left (y[j-1] against a gap), 2 up (x[i-1] against a gap), 3 diagonal, 4 origin.
  const trace = new Uint8Array((nx + 1) * w);
  for (let j = 1; j <= ny; j++) {
    score[j] = j * scores.gap;
    trace[j] = 1;
  }
  for (let i = 1; i <= nx; i++) {
    score[i * w] = i * scores.gap;
    trace[i * w] = 2;
  }
  trace[0] = 4;
  for (let i = 1; i <= nx; i++) {
    for (let j = 1; j <= ny; j++) {
      const left = score[i * w + j - 1]! + scores.gap;
      const up = score[(i - 1) * w + j]! + scores.gap;
      const diag = score[(i - 1) * w + j - 1]! + (x[i - 1] === y[j - 1] ? scores.match : scores.mismatch);
      const best = Math.max(left, up, diag);
      score[i * w + j] = best;
      trace[i * w + j] = best === left ? 1 : best === up ? 2 : 3;
    }
  }
  const yToX = new Int32Array(ny);
  let i = nx;
  let j = ny;
  while (i > 0 || j > 0) {
    const t = trace[i * w + j];
    if (t === 3) {
      i--;
      j--;
      yToX[j] = i;
    } else if (t === 1) {
      j--;
      yToX[j] = -1;
    } else if (t === 2) {
      i--;
    } else break;
  }
  return { yToX };
}

/**
 * The refinement mapper of one target prompt (`get_mapper`): both prompts are encoded with BOS/EOS and no
 * padding, aligned, and for target position k < len(y) `mapper[k]` is the aligned source position (−1 for a new
 * token, `alphas[k] = 0`); for k ≥ len(y) (padding) `mapper[k] = k` and `alphas[k] = 1`.
 *
 * @param tokenizer the CLIP tokenizer
 * @param source    the source prompt
 * @param target    the edited prompt
 * @param maxLen    token columns (default the tokenizer's model length, 77)
 * @returns `mapper` Int32Array(maxLen) and `alphas` Float32Array(maxLen)
 * @example
 * ```ts
 * const { mapper, alphas } = refinementMapper(tok, 'a photo of a house on a mountain', 'a photo of a house on a mountain at fall');
 * Array.from(mapper.slice(0, 14)); // [0, 1, ..., 8, -1, -1, 9, 12, 13]
 * ```
 */
export function refinementMapper(tokenizer: ClipTokenizer, source: string, target: string, maxLen = tokenizer.modelMaxLength): { mapper: Int32Array; alphas: Float32Array } {
  const x = tokenizer.encode(source, { padding: 'none', truncation: false }).ids;
  const y = tokenizer.encode(target, { padding: 'none', truncation: false }).ids;
  for (const [name, ids, text] of [['source', x, source], ['target', y, target]] as const) {
    if (ids.length > maxLen) throw new OptionError(name, `"${text}" has ${ids.length} tokens, more than the ${maxLen} the text encoder takes`);
  }
  const { yToX } = globalAlign(x, y);
  const mapper = new Int32Array(maxLen);
  const alphas = new Float32Array(maxLen).fill(1);
  for (let k = 0; k < maxLen; k++) {
    if (k < y.length) {
      mapper[k] = yToX[k]!;
      alphas[k] = yToX[k] === -1 ? 0 : 1;
    } else mapper[k] = k;
  }
  return { mapper, alphas };
}
