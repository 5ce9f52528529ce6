/**
 * The CLIP text tower (`CLIPTextTransformer`) as a function over its parameter tree, and the two model handles
 * SD pipelines use: {@link ClipTextModel} (`last_hidden_state`, pooled output, every hidden state for clip-skip)
 * and {@link ClipTextModelWithProjection} (adds `text_embeds`).
 * @module
 */
import * as tf from '@tensorflow/tfjs-core';
import { DisposedError, OptionError, ShapeMismatchError } from '../errors.js';
import { textAttentionBias } from './attention.js';
import type { ResolvedClipTextConfig } from './config.js';
import { clipEncoder } from './encoder.js';
import { layerNorm } from './layers.js';
import { TokenIdsError } from './model-errors.js';
import { disposeClipParams, type ClipTextModelParams, type ClipTextTransformerParams } from './params.js';
import { storeWeights } from '../backend/weight-storage.js';
import { paramTensors } from '../nn/weights.js';

/**
 * Token ids: a `[B, L]` int32 tensor or B rows of L ids (e.g. `tokenizer.encodeBatch(prompts).map((e) => e.ids)`).
 *
 * @example
 * ```ts
 * const ids: TokenIdsInput = [[49406, 320, 2368, 49407]];
 * ```
 */
export type TokenIdsInput = tf.Tensor | readonly (readonly number[])[];

/**
 * Options of the text forward pass.
 *
 * @example
 * ```ts
 * const o: ClipTextForwardOptions = { outputHiddenStates: true, clipSkip: 1 };
 * ```
 */
export interface ClipTextForwardOptions {
  /**
   * `[B, L]` 0/1 mask (1 = real token): padding keys are masked in addition to the causal mask. SD pipelines do
   * not pass one.
   */
  attentionMask?: TokenIdsInput;
  /** Return every hidden state (`hiddenStates`), as transformers' `output_hidden_states=True`. */
  outputHiddenStates?: boolean;
  /**
   * diffusers' `clip_skip`: also return `final_layer_norm(hidden_states[-(clipSkip + 1)])` as `clipSkipState`
   * (1 = the penultimate layer, SD2-style). An integer in `[0, num_hidden_layers]`.
   */
  clipSkip?: number;
}

/**
 * What the text tower returns.
 *
 * @example
 * ```ts
 * const { lastHiddenState, pooledOutput } = model.forward(ids); // [B, L, C], [B, C]
 * ```
 */
export interface ClipTextOutput {
  /** `final_layer_norm(last encoder output)`, `[B, L, C]`: SD's `encoder_hidden_states`. */
  lastHiddenState: tf.Tensor3D;
  /** `lastHiddenState` at each row's EOS position (see `ResolvedClipTextConfig.pooling`), `[B, C]`. */
  pooledOutput: tf.Tensor2D;
  /** With `outputHiddenStates`: `[embeddings, layer 1, …, layer N]`, each `[B, L, C]`, before the final LayerNorm. */
  hiddenStates?: tf.Tensor3D[];
  /** With `clipSkip`: `final_layer_norm(hiddenStates[N - clipSkip])`, `[B, L, C]`. */
  clipSkipState?: tf.Tensor3D;
}

/**
 * {@link ClipTextOutput} plus the projected pooled output.
 *
 * @example
 * ```ts
 * model.forward(ids).textEmbeds.shape; // [B, projection_dim]
 * ```
 */
export interface ClipTextProjectedOutput extends ClipTextOutput {
  /** `pooledOutput @ text_projection`, `[B, projection_dim]`, not normalized. */
  textEmbeds: tf.Tensor2D;
}

/** Rows of a `[B, L]` integer input, shape-checked. */
function readRows(input: TokenIdsInput, name: string): number[][] {
  if (input instanceof tf.Tensor) {
    if (input.rank !== 2) throw new ShapeMismatchError(name, [null, null], input.shape);
    return input.arraySync() as number[][];
  }
  if (!Array.isArray(input) || input.length === 0) throw new OptionError(name, 'must be a [B, L] tensor or a non-empty array of rows');
  const len = (input[0] as readonly number[] | undefined)?.length ?? 0;
  input.forEach((row, b) => {
    if (!Array.isArray(row) || row.length !== len) throw new ShapeMismatchError(`${name}[${b}]`, [len], [Array.isArray(row) ? row.length : 0]);
  });
  return input.map((row) => [...row]);
}

/**
 * Checks token ids for a text config: integers in `[0, vocab_size)`, `1 <= L <= max_position_embeddings`, and
 * finds each row's pooling position (first maximum for `argmax`, first `eos_token_id` for `eos`).
 *
 * @param input `[B, L]` ids
 * @param cfg   resolved text config
 * @returns the rows and the pooling position of each
 * @throws ShapeMismatchError on a bad shape; TokenIdsError naming row and position otherwise
 * @example
 * ```ts
 * checkTokenIds([[49406, 320, 49407, 49407]], cfg).eosIndex; // [2]
 * ```
 */
export function checkTokenIds(input: TokenIdsInput, cfg: ResolvedClipTextConfig): { rows: number[][]; eosIndex: number[] } {
  const rows = readRows(input, 'inputIds');
  const seqLen = rows[0]!.length;
  if (seqLen < 1 || seqLen > cfg.maxPositionEmbeddings) {
    throw new ShapeMismatchError('inputIds', [rows.length, cfg.maxPositionEmbeddings], [rows.length, seqLen]);
  }
  const eosIndex = rows.map((row, b) => {
    let best = 0;
    row.forEach((id, i) => {
      if (!Number.isInteger(id) || id < 0 || id >= cfg.vocabSize) {
        throw new TokenIdsError(`token id ${id} is not an integer in [0, ${cfg.vocabSize}) (vocab_size)`, { row: b, position: i });
      }
      if (id > row[best]!) best = i;
    });
    if (cfg.pooling === 'argmax') return best;
    const at = row.indexOf(cfg.eosTokenId!);
    if (at < 0) throw new TokenIdsError(`no eos_token_id ${cfg.eosTokenId} in the row; the pooled output is read there`, { row: b });
    return at;
  });
  return { rows, eosIndex };
}

function readMask(input: TokenIdsInput, batch: number, seqLen: number): number[][] {
  const rows = readRows(input, 'attentionMask');
  if (rows.length !== batch || rows[0]!.length !== seqLen) throw new ShapeMismatchError('attentionMask', [batch, seqLen], [rows.length, rows[0]!.length]);
  rows.forEach((row, b) => row.forEach((v, i) => {
    if (v !== 0 && v !== 1) throw new TokenIdsError(`attentionMask value ${v} is not 0 or 1`, { row: b, position: i });
  }));
  return rows;
}

/**
 * The text tower's forward pass (`CLIPTextTransformer.forward`): token + position embeddings, causal (and
 * optional padding) mask, pre-LN encoder, final LayerNorm, pooling at EOS. Creates intermediate tensors: call it
 * inside `tf.tidy` (the model classes do) or `tf.grad`.
 *
 * @param p       `text_model` parameters
 * @param cfg     resolved text config
 * @param inputIds `[B, L]` token ids, `L <= max_position_embeddings`
 * @param opts    `attentionMask`, `outputHiddenStates`, `clipSkip`
 * @example
 * ```ts
 * const out = tf.tidy(() => clipTextTransformer(params.text_model, cfg, ids).pooledOutput);
 * ```
 */
export function clipTextTransformer(
  p: ClipTextTransformerParams,
  cfg: ResolvedClipTextConfig,
  inputIds: TokenIdsInput,
  opts: ClipTextForwardOptions = {},
): ClipTextOutput {
  const { rows, eosIndex } = checkTokenIds(inputIds, cfg);
  const [b, l, c] = [rows.length, rows[0]!.length, cfg.hiddenSize];
  const mask = opts.attentionMask === undefined ? undefined : readMask(opts.attentionMask, b, l);
  const skip = opts.clipSkip;
  if (skip !== undefined && !(Number.isInteger(skip) && skip >= 0 && skip <= cfg.numHiddenLayers)) {
    throw new OptionError('clipSkip', `must be an integer in [0, ${cfg.numHiddenLayers}], got ${skip}`);
  }
  // 1. Embeddings [B·L, C] = token_embedding[ids] + position_embedding[0..L).
  const tokens = tf.gather(p.embeddings.token_embedding.weight, tf.tensor1d(rows.flat(), 'int32'));
  const positions = tf.slice(p.embeddings.position_embedding.weight, [0, 0], [l, c]);
  const x = tf.reshape(tf.add(tf.reshape(tokens, [b, l, c]), positions), [b * l, c]) as tf.Tensor2D;
  // 2. Encoder with the causal (+ padding) mask; states[i] is transformers' hidden_states[i].
  const bias = textAttentionBias(l, mask);
  const states = clipEncoder(p.encoder, x, { batch: b, seqLen: l, heads: cfg.numAttentionHeads, act: cfg.hiddenAct, eps: cfg.layerNormEps, bias });
  const to3d = (t: tf.Tensor2D) => tf.reshape(t, [b, l, c]) as tf.Tensor3D;
  // 3. Final LayerNorm, pooled output at each row's EOS.
  const last = layerNorm(p.final_layer_norm, states[states.length - 1]!, cfg.layerNormEps);
  const pooledOutput = tf.gather(last, tf.tensor1d(eosIndex.map((e, row) => row * l + e), 'int32')) as tf.Tensor2D;
  const out: ClipTextOutput = { lastHiddenState: to3d(last), pooledOutput };
  if (opts.outputHiddenStates) out.hiddenStates = states.map(to3d);
  if (skip !== undefined) out.clipSkipState = to3d(layerNorm(p.final_layer_norm, states[states.length - 1 - skip]!, cfg.layerNormEps));
  return out;
}

/**
 * Runs `fn` in one `tf.tidy` and keeps every tensor of the object it returns (arrays of tensors included).
 *
 * @param fn builds the outputs
 * @example
 * ```ts
 * const out = tidyOutputs(() => clipTextTransformer(p, cfg, ids));
 * ```
 */
export function tidyOutputs<T extends object>(fn: () => T): T {
  return tf.tidy(() => fn() as unknown as tf.TensorContainer) as unknown as T;
}

/**
 * `CLIPTextModel`: a handle on a text tower's config and parameters; forward runs in one `tf.tidy`.
 *
 * @example
 * ```ts
 * const te = await loadClipTextModel('sd15/text_encoder');
 * const { lastHiddenState } = te.forward(tok.encodeBatch(['a cat']).map((e) => e.ids)); // [1, 77, 768]
 * ```
 */
export class ClipTextModel {
  private disposed = false;

  /**
   * @param config    resolved text config
   * @param params    the tree (`text_projection` unused if present)
   * @param leftovers checkpoint keys the load did not use (all allowed, e.g. `text_projection.weight`)
   */
  constructor(
    readonly config: ResolvedClipTextConfig,
    readonly params: ClipTextModelParams,
    readonly leftovers: readonly string[] = [],
  ) {
    storeWeights(paramTensors(params));
  }

  /**
   * Encodes token ids.
   *
   * @param inputIds `[B, L]` ids
   * @param opts     `attentionMask`, `outputHiddenStates`, `clipSkip`
   * @example
   * ```ts
   * const { lastHiddenState, clipSkipState } = te.forward(ids, { clipSkip: 1 });
   * ```
   */
  forward(inputIds: TokenIdsInput, opts: ClipTextForwardOptions = {}): ClipTextOutput {
    if (this.disposed) throw new DisposedError('ClipTextModel');
    return tidyOutputs(() => clipTextTransformer(this.params.text_model, this.config, inputIds, opts));
  }

  /**
   * Frees the parameters.
   *
   * @example
   * ```ts
   * te.dispose();
   * ```
   */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    disposeClipParams(this.params);
  }
}

/**
 * `CLIPTextModelWithProjection` (SDXL's second text encoder, CLIP text features): {@link ClipTextModel} plus
 * `textEmbeds = pooledOutput @ text_projection`.
 *
 * @example
 * ```ts
 * const te = await loadClipTextModelWithProjection('clip-vit-large-patch14');
 * te.forward(ids).textEmbeds.shape; // [B, 768]
 * ```
 */
export class ClipTextModelWithProjection {
  private disposed = false;

  /**
   * @param config    resolved text config
   * @param params    the tree, with `text_projection`
   * @param leftovers checkpoint keys the load did not use
   */
  constructor(
    readonly config: ResolvedClipTextConfig,
    readonly params: ClipTextModelParams & Required<Pick<ClipTextModelParams, 'text_projection'>>,
    readonly leftovers: readonly string[] = [],
  ) {
    storeWeights(paramTensors(params));
  }

  /**
   * Encodes token ids and projects the pooled output.
   *
   * @param inputIds `[B, L]` ids
   * @param opts     `attentionMask`, `outputHiddenStates`, `clipSkip`
   * @example
   * ```ts
   * const { textEmbeds } = te.forward(ids); // [B, projection_dim]
   * ```
   */
  forward(inputIds: TokenIdsInput, opts: ClipTextForwardOptions = {}): ClipTextProjectedOutput {
    if (this.disposed) throw new DisposedError('ClipTextModelWithProjection');
    return tidyOutputs(() => {
      const out = clipTextTransformer(this.params.text_model, this.config, inputIds, opts);
      return { ...out, textEmbeds: tf.matMul(out.pooledOutput, this.params.text_projection.weight) };
    });
  }

  /**
   * Frees the parameters.
   *
   * @example
   * ```ts
   * te.dispose();
   * ```
   */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    disposeClipParams(this.params);
  }
}
