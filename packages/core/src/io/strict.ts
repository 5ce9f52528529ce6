/**
 * Strict weight loading (style rule 2): select a prefix, rename keys through a regex table, then take exactly
 * the expected tensors with their shapes checked and every leftover reported. The helpers work on any
 * `Map<string, T>` whose values have a `shape`: tensors already read, or a lazy file's `TensorInfo`s (check
 * first, then read only what was taken).
 * @module
 */
import { MissingWeightError, OptionError, SemeditError, ShapeMismatchError } from '../errors.js';

/**
 * Anything with a shape: a `RawTensor`, a `TensorInfo`, a tfjs tensor.
 *
 * @example
 * ```ts
 * const s: Shaped = { shape: [4, 4] };
 * ```
 */
export interface Shaped {
  readonly shape: readonly number[];
}

/**
 * Two source keys were renamed to the same target key.
 *
 * @example
 * ```ts
 * throw new RenameCollisionError('conv.weight', ['a.conv.weight', 'b.conv.weight'], 'model.ckpt');
 * ```
 */
export class RenameCollisionError extends SemeditError {
  /**
   * @param target  the key both were renamed to
   * @param sources the two colliding source keys
   * @param file    the checkpoint, if known
   */
  constructor(readonly target: string, readonly sources: [string, string], readonly file?: string) {
    super('E_RENAME_COLLISION', `keys "${sources[0]}" and "${sources[1]}"${file ? ` in ${file}` : ''} are both renamed to "${target}"`);
  }
}

/**
 * A checkpoint holds tensors the model does not use, and leftovers were not allowed.
 *
 * @example
 * ```ts
 * throw new UnexpectedWeightsError(['extra.bias'], 'model.safetensors');
 * ```
 */
export class UnexpectedWeightsError extends SemeditError {
  /**
   * @param keys the unused keys
   * @param file the checkpoint, if known
   */
  constructor(readonly keys: string[], readonly file?: string) {
    const shown = keys.slice(0, 10).map((k) => `"${k}"`).join(', ');
    super('E_UNEXPECTED_WEIGHTS', `${keys.length} unexpected weight(s)${file ? ` in ${file}` : ''}: ${shown}${keys.length > 10 ? ', ...' : ''}`);
  }
}

/**
 * Keeps the keys that start with `prefix`, with the prefix removed.
 *
 * @param map    tensors (or infos) by key
 * @param prefix e.g. `model.diffusion_model.`
 * @example
 * ```ts
 * selectPrefix(new Map([['vae.a', t], ['unet.b', u]]), 'vae.'); // Map { 'a' => t }
 * ```
 */
export function selectPrefix<T>(map: ReadonlyMap<string, T>, prefix: string): Map<string, T> {
  const out = new Map<string, T>();
  for (const [k, v] of map) if (k.startsWith(prefix)) out.set(k.slice(prefix.length), v);
  return out;
}

/**
 * One rename rule: the first rule whose regex matches a key renames it; the matched part is replaced.
 *
 * @example
 * ```ts
 * const rule: RenameRule = [/^out\.(\d)\./, (m) => `conv_out_${m[1]}.`];
 * ```
 */
export type RenameRule = readonly [RegExp, string | ((m: RegExpExecArray) => string)];

/**
 * Options of {@link renameKeys}.
 *
 * @example
 * ```ts
 * const opts: RenameOptions = { file: 'v1-5.ckpt', dropUnmatched: true };
 * ```
 */
export interface RenameOptions {
  /** Checkpoint name for error messages. */
  file?: string;
  /** Drop keys no rule matched instead of keeping them unchanged. Default false (keep). */
  dropUnmatched?: boolean;
}

/**
 * Renames keys through a table of `[regex, replacement]` rules. For each key the first rule whose regex matches
 * wins: a string replacement works as in `String.prototype.replace` (`$1` etc.), a function receives the match
 * and returns the text that replaces the matched part (anchor the regex with `^...$` to replace the whole key).
 * Keys no rule matched are kept unchanged (or dropped with `dropUnmatched`) and listed in `unmatched`. Two keys
 * landing on one target throw {@link RenameCollisionError} naming both.
 *
 * @param map   tensors (or infos) by key
 * @param table rules, tried in order; regexes must not use the `g` or `y` flags
 * @param opts  `file`, `dropUnmatched`
 * @example
 * ```ts
 * const { map, unmatched } = renameKeys(ckpt, [
 *   [/^input_blocks\.0\.0\./, 'conv_in.'],
 *   [/^time_embed\.(\d)\./, (m) => `time_embedding.linear_${m[1] === '0' ? 1 : 2}.`],
 * ]);
 * ```
 */
export function renameKeys<T>(
  map: ReadonlyMap<string, T>,
  table: readonly RenameRule[],
  opts: RenameOptions = {},
): { map: Map<string, T>; unmatched: string[] } {
  table.forEach(([re], i) => {
    if (re.global || re.sticky) throw new OptionError(`table[${i}]`, `regex ${re} must not use the g or y flag`);
  });
  const out = new Map<string, T>();
  const from = new Map<string, string>();
  const unmatched: string[] = [];
  for (const [key, value] of map) {
    let target: string | undefined;
    for (const [re, to] of table) {
      const m = re.exec(key);
      if (!m) continue;
      target = typeof to === 'string' ? key.replace(re, to) : key.slice(0, m.index) + to(m) + key.slice(m.index + m[0].length);
      break;
    }
    if (target === undefined) {
      unmatched.push(key);
      if (opts.dropUnmatched) continue;
      target = key;
    }
    const prev = from.get(target);
    if (prev !== undefined) throw new RenameCollisionError(target, [prev, key], opts.file);
    from.set(target, key);
    out.set(target, value);
  }
  return { map: out, unmatched };
}

/**
 * Options of {@link takeExpected}.
 *
 * @example
 * ```ts
 * const opts: TakeOptions = { file: 'v1-5.safetensors', allowLeftovers: [/^model_ema\./] };
 * ```
 */
export interface TakeOptions {
  /** Checkpoint name for error messages. */
  file?: string;
  /**
   * Which unused keys are acceptable: `true` = all, a list of regexes = those matching one of them. Any other
   * leftover throws {@link UnexpectedWeightsError}. Default: none (every leftover is an error).
   */
  allowLeftovers?: boolean | readonly RegExp[];
}

function editDistance(a: string, b: string, cap: number): number {
  if (Math.abs(a.length - b.length) > cap) return cap + 1;
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    let best = i;
    for (let j = 1; j <= b.length; j++) {
      cur[j] = Math.min(prev[j]! + 1, cur[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
      best = Math.min(best, cur[j]!);
    }
    if (best > cap) return cap + 1;
    prev = cur;
  }
  return prev[b.length]!;
}

/**
 * The key closest to `key` by edit distance (at most a third of its length), or undefined. Looks at up to 5000
 * candidates, so a miss stays cheap even on huge checkpoints.
 *
 * @param key        the key that was not found
 * @param candidates keys that exist
 * @example
 * ```ts
 * nearestKey('conv_in.weigth', ['conv_in.weight', 'conv_out.weight']); // 'conv_in.weight'
 * ```
 */
export function nearestKey(key: string, candidates: Iterable<string>): string | undefined {
  let best: string | undefined;
  let bestD = Math.max(2, Math.floor(key.length / 3));
  let seen = 0;
  for (const c of candidates) {
    if (++seen > 5000) break;
    const d = editDistance(key, c, bestD);
    if (d <= bestD && (best === undefined || d < bestD)) [best, bestD] = [c, d];
  }
  return best;
}

/**
 * Takes exactly the expected tensors: every expected key must be present ({@link MissingWeightError} names the
 * key, the file and the nearest existing key) with the expected shape ({@link ShapeMismatchError}; `-1` or
 * `null` matches any size). Keys left unused are returned in `leftovers` and are an
 * {@link UnexpectedWeightsError} unless `allowLeftovers` accepts them.
 *
 * @param map      tensors (or infos) by key
 * @param expected expected shape per key, e.g. `{ 'conv_in.weight': [32, 4, 3, 3] }`
 * @param opts     `file`, `allowLeftovers`
 * @example
 * ```ts
 * const { tensors, leftovers } = takeExpected(weights, { 'proj.weight': [64, 32], 'proj.bias': [64] }, {
 *   file: 'model.safetensors', allowLeftovers: [/^model_ema\./],
 * });
 * ```
 */
export function takeExpected<T extends Shaped>(
  map: ReadonlyMap<string, T>,
  expected: Readonly<Record<string, readonly (number | null)[]>>,
  opts: TakeOptions = {},
): { tensors: Map<string, T>; leftovers: string[] } {
  const tensors = new Map<string, T>();
  const keys = Object.keys(expected);
  const missing = keys.filter((k) => !map.has(k));
  if (missing.length > 0) {
    const first = missing[0]!;
    const near = nearestKey(first, [...map.keys()].filter((k) => !Object.hasOwn(expected, k)));
    const more = missing.length > 1 ? `${missing.length - 1} more missing: ${missing.slice(1, 6).join(', ')}${missing.length > 6 ? ', ...' : ''}` : '';
    throw new MissingWeightError(first, opts.file, [near ? `did you mean "${near}"?` : '', more].filter(Boolean).join('; '));
  }
  for (const k of keys) {
    const t = map.get(k)!;
    const want = expected[k]!;
    const ok = want.length === t.shape.length && want.every((d, i) => d === null || d < 0 || d === t.shape[i]);
    if (!ok) throw new ShapeMismatchError(k, want, t.shape, opts.file);
    tensors.set(k, t);
  }
  const leftovers = [...map.keys()].filter((k) => !Object.hasOwn(expected, k));
  const allow = opts.allowLeftovers ?? false;
  const unexpected = allow === true ? [] : leftovers.filter((k) => allow === false || !allow.some((re) => ((re.lastIndex = 0), re.test(k))));
  if (unexpected.length > 0) throw new UnexpectedWeightsError(unexpected, opts.file);
  return { tensors, leftovers };
}
