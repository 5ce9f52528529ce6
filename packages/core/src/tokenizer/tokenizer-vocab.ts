/**
 * Where a CLIP tokenizer's data comes from, parsed into one {@link ClipTokenizerSpec}: an HF tokenizer folder
 * (`vocab.json`, `merges.txt`, `tokenizer_config.json`, `special_tokens_map.json`) or openai's
 * `bpe_simple_vocab_16e6.txt(.gz)` (vocabulary built as `simple_tokenizer.py` builds it). Pure: no file access.
 * @module
 */
import { OptionError } from '../errors.js';
import { byteCharsInVocabOrder, CLIP_MERGE_LIMIT, parseMerges, WORD_END, type Merge } from './bpe.js';
import { TokenizerError } from './errors.js';

/** CLIP's context length, used when a config has no usable `model_max_length`. */
export const CLIP_CONTEXT_LENGTH = 77;
/** Largest `model_max_length` taken at its word; transformers writes 1e30 ("no limit") when a config had none. */
const MAX_PLAUSIBLE_LENGTH = 1_000_000;

/**
 * The special-token strings of a tokenizer (`bos_token`, `eos_token`, `unk_token`, `pad_token`, plus
 * `additional_special_tokens`).
 *
 * @example
 * ```ts
 * const sd2: ClipSpecialTokens = { bos: '<|startoftext|>', eos: '<|endoftext|>', unk: '<|endoftext|>', pad: '!', additional: [] };
 * ```
 */
export interface ClipSpecialTokens {
  bos: string;
  eos: string;
  unk: string;
  pad: string;
  additional: string[];
}

/**
 * Everything a {@link ClipTokenizer} is built from.
 *
 * @example
 * ```ts
 * const spec = clipSpecFromHf({ vocab, merges }); // spec.modelMaxLength === 77
 * ```
 */
export interface ClipTokenizerSpec {
  /** Token string → id. */
  vocab: Map<string, number>;
  /** Merge rules, highest priority first. */
  merges: Merge[];
  special: ClipSpecialTokens;
  /** Length limit with BOS and EOS (`model_max_length`), 77 for every CLIP text model. */
  modelMaxLength: number;
  /** `clean_up_tokenization_spaces` of the config (decode). */
  cleanUpTokenizationSpaces: boolean;
  /** `errors` of the config: how decode treats invalid UTF-8. */
  decodeErrors: 'replace' | 'strict';
  /** Where the data came from, for messages. */
  source: string;
}

/**
 * Explicit values that win over the files, like keyword arguments of transformers' `from_pretrained`
 * (`CLIPTokenizer.from_pretrained(dir, pad_token="!")` is the SD2.x tokenizer).
 *
 * @example
 * ```ts
 * const o: ClipTokenizerOverrides = { padToken: '!' };
 * ```
 */
export interface ClipTokenizerOverrides {
  bosToken?: string;
  eosToken?: string;
  unkToken?: string;
  padToken?: string;
  modelMaxLength?: number;
}

/**
 * The parsed contents of an HF tokenizer folder (JSON already parsed, merges as text).
 *
 * @example
 * ```ts
 * const files: HfTokenizerFiles = { vocab: { a: 0 }, merges: '#version: 0.2\n' };
 * ```
 */
export interface HfTokenizerFiles {
  /** Parsed `vocab.json`: token → id. */
  vocab: unknown;
  /** Text of `merges.txt`. */
  merges: string;
  /** Parsed `tokenizer_config.json`, if any. */
  tokenizerConfig?: unknown;
  /** Parsed `special_tokens_map.json`, if any. */
  specialTokensMap?: unknown;
  /** File names for error messages. */
  names?: { vocab?: string; merges?: string; tokenizerConfig?: string; specialTokensMap?: string };
}

const OVERRIDE_KEYS = ['bosToken', 'eosToken', 'unkToken', 'padToken', 'modelMaxLength'];
const TOKEN_KEYS = { bos: 'bos_token', eos: 'eos_token', unk: 'unk_token', pad: 'pad_token' } as const;
const CLIP_DEFAULTS = { bos: '<|startoftext|>', eos: '<|endoftext|>', unk: '<|endoftext|>', pad: '<|endoftext|>' };

/**
 * Builds a spec from an HF tokenizer folder's contents. `special_tokens_map.json` wins over
 * `tokenizer_config.json`, overrides win over both (transformers' order); defaults are `CLIPTokenizer`'s.
 *
 * @param files     parsed file contents
 * @param overrides explicit values (see {@link ClipTokenizerOverrides})
 * @example
 * ```ts
 * const spec = clipSpecFromHf({ vocab: JSON.parse(v), merges: m, tokenizerConfig: JSON.parse(c) });
 * ```
 */
export function clipSpecFromHf(files: HfTokenizerFiles, overrides: ClipTokenizerOverrides = {}): ClipTokenizerSpec {
  checkOverrides(overrides);
  const names = files.names ?? {};
  const vocab = parseVocab(files.vocab, names.vocab ?? 'vocab.json');
  const merges = parseMerges(files.merges, CLIP_MERGE_LIMIT, names.merges ?? 'merges.txt');
  const config = jsonObject(files.tokenizerConfig, names.tokenizerConfig ?? 'tokenizer_config.json');
  const map = jsonObject(files.specialTokensMap, names.specialTokensMap ?? 'special_tokens_map.json');
  const configName = names.tokenizerConfig ?? 'tokenizer_config.json';
  const cls = config['tokenizer_class'];
  if (cls !== undefined && cls !== 'CLIPTokenizer' && cls !== 'CLIPTokenizerFast') {
    throw new TokenizerError(`tokenizer_class is "${String(cls)}", not a CLIP tokenizer`, { file: configName });
  }
  const pick = (key: keyof typeof TOKEN_KEYS, override: string | undefined): string => {
    if (override !== undefined) return override;
    const k = TOKEN_KEYS[key];
    const fromMap = tokenString(map[k], k, names.specialTokensMap ?? 'special_tokens_map.json');
    return fromMap ?? tokenString(config[k], k, configName) ?? CLIP_DEFAULTS[key];
  };
  const additionalRaw = map['additional_special_tokens'] ?? config['additional_special_tokens'] ?? [];
  if (!Array.isArray(additionalRaw)) throw new TokenizerError('additional_special_tokens must be a list', { file: configName });
  const special: ClipSpecialTokens = {
    bos: pick('bos', overrides.bosToken),
    eos: pick('eos', overrides.eosToken),
    unk: pick('unk', overrides.unkToken),
    pad: pick('pad', overrides.padToken),
    additional: additionalRaw.map((t, i) => tokenString(t, `additional_special_tokens[${i}]`, configName) ?? ''),
  };
  const errors = config['errors'] ?? 'replace';
  if (errors !== 'replace' && errors !== 'strict') {
    throw new TokenizerError(`errors is "${String(errors)}"; supported: "replace", "strict"`, { file: configName });
  }
  const cleanUp = config['clean_up_tokenization_spaces'] ?? true;
  if (typeof cleanUp !== 'boolean') throw new TokenizerError('clean_up_tokenization_spaces must be a boolean', { file: configName });
  const spec: ClipTokenizerSpec = {
    vocab,
    merges,
    special,
    modelMaxLength: overrides.modelMaxLength ?? maxLengthOf(config['model_max_length'], configName),
    cleanUpTokenizationSpaces: cleanUp,
    decodeErrors: errors,
    source: names.vocab ?? 'vocab.json',
  };
  checkSpecialsInVocab(spec);
  return spec;
}

/**
 * Options of {@link clipSpecFromOpenAiBpe}: the special tokens and length that an HF config would give.
 *
 * @example
 * ```ts
 * const o: OpenAiBpeOptions = { padToken: '!' }; // SD2.x padding
 * ```
 */
export interface OpenAiBpeOptions extends ClipTokenizerOverrides {
  /** Name of the file, for messages. */
  name?: string;
}

/**
 * Builds a spec from the text of openai's `bpe_simple_vocab_16e6.txt` as `SimpleTokenizer` does: the 256 byte
 * characters, the same with `</w>`, the first 48894 merges joined, then `<|startoftext|>` and `<|endoftext|>`
 * (49408 entries). Padding defaults to `<|endoftext|>` (SD1.x), the length to 77.
 *
 * @param text    decompressed file text
 * @param options special tokens, length and file name
 * @example
 * ```ts
 * const spec = clipSpecFromOpenAiBpe(gunzipSync(bytes).toString('utf8'));
 * spec.vocab.size; // 49408
 * ```
 */
export function clipSpecFromOpenAiBpe(text: string, options: OpenAiBpeOptions = {}): ClipTokenizerSpec {
  const { name = 'bpe_simple_vocab_16e6.txt', ...overrides } = options;
  checkOverrides(overrides);
  const merges = parseMerges(text, CLIP_MERGE_LIMIT, name);
  const chars = byteCharsInVocabOrder();
  const list = [...chars, ...chars.map((c) => c + WORD_END), ...merges.map(([a, b]) => a + b)];
  list.push(CLIP_DEFAULTS.bos, CLIP_DEFAULTS.eos);
  const vocab = new Map<string, number>();
  list.forEach((t, i) => vocab.set(t, i));
  const spec: ClipTokenizerSpec = {
    vocab,
    merges,
    special: {
      bos: overrides.bosToken ?? CLIP_DEFAULTS.bos,
      eos: overrides.eosToken ?? CLIP_DEFAULTS.eos,
      unk: overrides.unkToken ?? CLIP_DEFAULTS.unk,
      pad: overrides.padToken ?? CLIP_DEFAULTS.pad,
      additional: [],
    },
    modelMaxLength: overrides.modelMaxLength ?? CLIP_CONTEXT_LENGTH,
    cleanUpTokenizationSpaces: true,
    decodeErrors: 'replace',
    source: name,
  };
  checkSpecialsInVocab(spec);
  return spec;
}

/**
 * Validates a parsed `vocab.json`: a non-empty JSON object whose values are non-negative integer ids.
 *
 * @param vocab parsed JSON
 * @param file  file name for messages
 * @example
 * ```ts
 * parseVocab({ a: 0, 'a</w>': 1 }, 'vocab.json').get('a</w>'); // 1
 * ```
 */
export function parseVocab(vocab: unknown, file = 'vocab.json'): Map<string, number> {
  if (typeof vocab !== 'object' || vocab === null || Array.isArray(vocab)) {
    const kind = vocab === null ? 'null' : Array.isArray(vocab) ? 'an array' : typeof vocab;
    throw new TokenizerError(`vocabulary must be a JSON object of token → id, got ${kind}`, { file });
  }
  const out = new Map<string, number>();
  for (const [token, id] of Object.entries(vocab)) {
    if (typeof id !== 'number' || !Number.isInteger(id) || id < 0) {
      throw new TokenizerError(`id of token "${token}" must be a non-negative integer, got ${JSON.stringify(id)}`, { file });
    }
    out.set(token, id);
  }
  if (out.size === 0) throw new TokenizerError('vocabulary is empty', { file });
  return out;
}

function jsonObject(value: unknown, file: string): Record<string, unknown> {
  if (value === undefined) return {};
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new TokenizerError('must be a JSON object', { file });
  }
  return value as Record<string, unknown>;
}

/** A special token as a string, or as a serialized `AddedToken` (`{"content": ...}`); `undefined` if absent. */
function tokenString(value: unknown, key: string, file: string): string | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value === 'string') return value;
  if (typeof value === 'object' && typeof (value as { content?: unknown }).content === 'string') {
    return (value as { content: string }).content;
  }
  throw new TokenizerError(`${key} must be a string or {"content": string}, got ${JSON.stringify(value)}`, { file });
}

function maxLengthOf(value: unknown, file: string): number {
  if (value === undefined || value === null) return CLIP_CONTEXT_LENGTH;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 2) {
    throw new TokenizerError(`model_max_length must be an integer >= 2, got ${JSON.stringify(value)}`, { file });
  }
  return value > MAX_PLAUSIBLE_LENGTH ? CLIP_CONTEXT_LENGTH : value;
}

function checkOverrides(o: ClipTokenizerOverrides): void {
  for (const [k, v] of Object.entries(o)) {
    if (!OVERRIDE_KEYS.includes(k)) throw new OptionError(k, `unknown tokenizer override; known: ${OVERRIDE_KEYS.join(', ')}`);
    if (k === 'modelMaxLength') {
      if (typeof v !== 'number' || !Number.isInteger(v) || v < 2) throw new OptionError(k, 'must be an integer >= 2');
    } else if (typeof v !== 'string' || v === '') {
      throw new OptionError(k, 'must be a non-empty string');
    }
  }
}

function checkSpecialsInVocab(spec: ClipTokenizerSpec): void {
  const { bos, eos, unk, pad, additional } = spec.special;
  for (const [role, token] of [['bos', bos], ['eos', eos], ['unk', unk], ['pad', pad], ...additional.map((t) => ['additional', t])]) {
    if (!spec.vocab.has(token!)) {
      throw new TokenizerError(`${role} token "${token}" is not in the vocabulary (adding new tokens is not supported)`, { file: spec.source });
    }
  }
}
