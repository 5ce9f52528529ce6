/**
 * The attention store of Prompt-to-Prompt (`AttentionStore`, algorithms.md §1.2.2) as a hook: per layer, a
 * running sum over steps of the conditional rows' attention probabilities, for visualisation and LocalBlend.
 *
 * The UNet may hand a hook one chunk (heads × queries) of a layer at a time (`ctx.slice`); the store keeps one
 * running sum per chunk and assembles the layer's full map when asked. Only `cond` rows are kept (one per
 * prompt, in batch order), as the reference keeps only the conditional half.
 * @module
 */
import * as tf from '@tensorflow/tfjs-core';
import { OptionError, SemeditError } from '@semedit/core';
import type { AttentionContext, AttentionHook, AttentionHookResolver } from '@semedit/core/unet';

/**
 * Options of {@link createAttentionStore}.
 *
 * @example
 * ```ts
 * const o: AttentionStoreOptions = { maxQueries: 16 * 16, kinds: ['cross'], filter: (ctx) => ctx.place !== 'mid' };
 * ```
 */
export interface AttentionStoreOptions {
  /** Keep layers whose query count (height · width) is at most this (default 32² = 1024, the reference's cap). */
  maxQueries?: number;
  /** Which attention to keep (default both, as the reference). */
  kinds?: readonly ('self' | 'cross')[];
  /** Further filter on layers (module path, place, resolution). */
  filter?: (ctx: AttentionContext) => boolean;
}

/**
 * What the store knows about a kept layer.
 *
 * @example
 * ```ts
 * const l: StoredLayer = { layer: 'up_blocks.1.attentions.0.transformer_blocks.0.attn2', place: 'up', kind: 'cross',
 *   heads: 8, resolution: { height: 16, width: 16 }, keys: 77, steps: 10, prompts: [0, 1] };
 * ```
 */
export interface StoredLayer {
  layer: string;
  place: AttentionContext['place'];
  kind: AttentionContext['kind'];
  heads: number;
  resolution: { height: number; width: number };
  /** Key count (77 for cross attention). */
  keys: number;
  /** Steps accumulated (the divisor of the average). */
  steps: number;
  /** Prompt index of each kept row. */
  prompts: number[];
}

/**
 * An attention store: `hooks` goes into the UNet call (after any editing hook, so it sees the edited maps as the
 * reference's in-place edit makes it), the rest reads what was accumulated. `dispose()` frees the sums.
 *
 * @example
 * ```ts
 * const store = createAttentionStore({ kinds: ['cross'] });
 * // ... run with hooks: composeResolvers(controller.hooks, store.hooks)
 * const avg = store.average(store.layers()[0].layer); // [prompts, heads, Q, 77]
 * ```
 */
export interface AttentionStore {
  /** The resolver to pass to the UNet. */
  readonly hooks: AttentionHookResolver;
  /** Kept layers, in the order the UNet first called them. */
  layers(): StoredLayer[];
  /** Kept layers grouped by the reference's keys (`down_cross`, `mid_self`, ...), each list in call order. */
  byKey(): Record<string, string[]>;
  /** Running sum `[prompts, heads, Q, K]` of a layer (caller owns the result). */
  sum(layer: string): tf.Tensor4D;
  /** Sum divided by the number of steps (`get_average_attention`; caller owns the result). */
  average(layer: string): tf.Tensor4D;
  /** Forgets everything (sums freed). */
  reset(): void;
  dispose(): void;
}

/**
 * A layer's stored maps cannot be assembled (chunks that overlap or leave gaps).
 *
 * @example
 * ```ts
 * throw new AttentionStoreError('mid_block.attentions.0.transformer_blocks.0.attn2', 'chunks cover 4 of 8 heads');
 * ```
 */
export class AttentionStoreError extends SemeditError {
  /**
   * @param layer  the module path
   * @param detail what is wrong
   */
  constructor(readonly layer: string, detail: string) {
    super('E_ATTENTION_STORE', `attention store, layer ${layer}: ${detail}`);
  }
}

interface Chunk { heads: readonly [number, number]; queries: readonly [number, number]; sum: tf.Tensor4D }
interface Entry { info: StoredLayer; chunks: Map<string, Chunk> }

/**
 * Indices of the `cond` rows of a call and their prompts.
 *
 * @param ctx the attention context
 * @example
 * ```ts
 * condRows(ctx); // { index: [2, 3], prompts: [0, 1] } for rows [uncond 0, uncond 1, cond 0, cond 1]
 * ```
 */
export function condRows(ctx: AttentionContext): { index: number[]; prompts: number[] } {
  if (!ctx.rows) throw new OptionError('rows', `attention control needs the batch row roles (layer ${ctx.layer}); pass rows to the UNet call`);
  const index: number[] = [];
  const prompts: number[] = [];
  ctx.rows.forEach((r, i) => {
    if (r.role === 'cond') {
      index.push(i);
      prompts.push(r.prompt);
    }
  });
  return { index, prompts };
}

/**
 * Creates an {@link AttentionStore}.
 *
 * @param opts resolution cap, kinds, layer filter
 * @example
 * ```ts
 * const store = createAttentionStore({ maxQueries: 16 * 16, kinds: ['cross'] });
 * ```
 */
export function createAttentionStore(opts: AttentionStoreOptions = {}): AttentionStore {
  const cap = opts.maxQueries ?? 32 * 32;
  if (!Number.isInteger(cap) || cap < 1) throw new OptionError('maxQueries', `must be a positive integer, got ${cap}`);
  const kinds = new Set(opts.kinds ?? ['self', 'cross']);
  const entries = new Map<string, Entry>();

  const hook: AttentionHook = (probs, ctx) => {
    const { index, prompts } = condRows(ctx);
    if (index.length === 0) return probs;
    const [h0, h1] = ctx.slice.heads;
    const [q0, q1] = ctx.slice.queries;
    let e = entries.get(ctx.layer);
    if (!e) {
      e = {
        info: { layer: ctx.layer, place: ctx.place, kind: ctx.kind, heads: ctx.heads, resolution: { ...ctx.resolution }, keys: probs.shape[3], steps: 0, prompts },
        chunks: new Map(),
      };
      entries.set(ctx.layer, e);
    } else if (e.info.prompts.join() !== prompts.join()) {
      throw new AttentionStoreError(ctx.layer, `the conditional rows changed from prompts [${e.info.prompts}] to [${prompts}]`);
    }
    if (h0 === 0 && q0 === 0) e.info.steps++;
    const piece = index.length === probs.shape[0] ? tf.clone(probs) : tf.gather(probs, index);
    const key = `${h0}:${h1}/${q0}:${q1}`;
    const old = e.chunks.get(key);
    const sum = old ? (tf.add(old.sum, piece) as tf.Tensor4D) : (piece as tf.Tensor4D);
    tf.keep(sum);
    old?.sum.dispose();
    e.chunks.set(key, { heads: [h0, h1], queries: [q0, q1], sum });
    return probs;
  };

  const entry = (layer: string): Entry => {
    const e = entries.get(layer);
    if (!e) throw new OptionError('layer', `the store holds no maps of ${layer}; kept: ${[...entries.keys()].join(', ') || 'none'}`);
    return e;
  };

  const assemble = (e: Entry): tf.Tensor4D => tf.tidy(() => {
    const { heads, resolution } = e.info;
    const queries = resolution.height * resolution.width;
    const chunks = [...e.chunks.values()].sort((a, b) => a.heads[0] - b.heads[0] || a.queries[0] - b.queries[0]);
    const groups: tf.Tensor4D[] = [];
    let h = 0;
    let i = 0;
    while (i < chunks.length) {
      const first = chunks[i]!;
      if (first.heads[0] !== h) throw new AttentionStoreError(e.info.layer, `chunks leave heads [${h}, ${first.heads[0]}) uncovered or overlap`);
      const parts: tf.Tensor4D[] = [];
      let q = 0;
      while (i < chunks.length && chunks[i]!.heads[0] === first.heads[0]) {
        const c = chunks[i]!;
        if (c.heads[1] !== first.heads[1] || c.queries[0] !== q) throw new AttentionStoreError(e.info.layer, `chunks of heads ${c.heads} are not one tiling of the queries`);
        parts.push(c.sum);
        q = c.queries[1];
        i++;
      }
      if (q !== queries) throw new AttentionStoreError(e.info.layer, `chunks cover ${q} of ${queries} queries`);
      groups.push(parts.length === 1 ? tf.clone(parts[0]!) : (tf.concat(parts, 2) as tf.Tensor4D));
      h = first.heads[1];
    }
    if (h !== heads) throw new AttentionStoreError(e.info.layer, `chunks cover ${h} of ${heads} heads`);
    return groups.length === 1 ? groups[0]! : (tf.concat(groups, 1) as tf.Tensor4D);
  });

  const clear = () => {
    for (const e of entries.values()) for (const c of e.chunks.values()) c.sum.dispose();
    entries.clear();
  };

  const keep = (ctx: AttentionContext) =>
    kinds.has(ctx.kind) && ctx.resolution.height * ctx.resolution.width <= cap && (opts.filter?.(ctx) ?? true);

  return {
    hooks: (ctx) => (keep(ctx) ? hook : undefined),
    layers: () => [...entries.values()].map((e) => ({ ...e.info, prompts: [...e.info.prompts] })),
    byKey: () => {
      const out: Record<string, string[]> = {};
      for (const place of ['down', 'mid', 'up']) for (const kind of ['cross', 'self']) out[`${place}_${kind}`] = [];
      for (const e of entries.values()) out[`${e.info.place}_${e.info.kind}`]!.push(e.info.layer);
      return out;
    },
    sum: (layer) => assemble(entry(layer)),
    average: (layer) => {
      const e = entry(layer);
      return tf.tidy(() => tf.div(assemble(e), Math.max(e.info.steps, 1)) as tf.Tensor4D);
    },
    reset: clear,
    dispose: clear,
  };
}
