/**
 * Attention maps as pictures (the notebooks' `show_cross_attention`): per-token cross-attention heat maps of one
 * prompt, averaged over steps (the store's average), over the chosen layers and over heads, laid out as a PNG
 * grid labelled with the tokens; and LocalBlend masks as a grid.
 * @module
 */
import * as tf from '@tensorflow/tfjs-core';
import { OptionError } from '@semedit/core';
import type { ClipTokenizer } from '@semedit/core/clip';
import { heatmapToImage, writeGrid, type Colormap, type Image } from '@semedit/core/image';
import type { AttentionStore, StoredLayer } from './store.js';

/**
 * Options of {@link aggregateAttention}.
 *
 * @example
 * ```ts
 * const o: AggregateOptions = { prompt: 1, places: ['up'], resolution: { height: 16, width: 16 } };
 * ```
 */
export interface AggregateOptions {
  /** Prompt index (0 = source). Default 0. */
  prompt?: number;
  /** `'cross'` (default) or `'self'`. */
  kind?: 'cross' | 'self';
  /** Places to take layers from (default up and down, as the notebooks). */
  places?: readonly ('down' | 'mid' | 'up')[];
  /** Feature-map size (default: the smallest among the stored layers of those places, 16 for SD 1.x at 512 px). */
  resolution?: { height: number; width: number };
  /** Explicit module paths instead of places/resolution. */
  layers?: readonly string[];
}

/**
 * The chosen stored layers of {@link aggregateAttention}.
 *
 * @param store the attention store
 * @param opts  kind, places, resolution or explicit layers
 * @example
 * ```ts
 * selectLayers(store, { places: ['up'] }).map((l) => l.layer);
 * ```
 */
export function selectLayers(store: AttentionStore, opts: AggregateOptions = {}): StoredLayer[] {
  const all = store.layers();
  if (opts.layers) {
    return opts.layers.map((name) => {
      const l = all.find((x) => x.layer === name);
      if (!l) throw new OptionError('layers', `the store holds no maps of ${name}`);
      return l;
    });
  }
  const kind = opts.kind ?? 'cross';
  const places = opts.places ?? ['up', 'down'];
  const cand = all.filter((l) => l.kind === kind && places.includes(l.place));
  if (cand.length === 0) throw new OptionError('places', `the store holds no ${kind}-attention maps of ${places.join('/')} layers`);
  const q = (r: { height: number; width: number }) => r.height * r.width;
  const res = opts.resolution ?? cand.reduce((a, l) => (q(l.resolution) < q(a) ? l.resolution : a), cand[0]!.resolution);
  const chosen = cand.filter((l) => l.resolution.height === res.height && l.resolution.width === res.width);
  if (chosen.length === 0) throw new OptionError('resolution', `no stored ${kind}-attention layer is ${res.height}x${res.width}`);
  return chosen;
}

/**
 * Average attention of one prompt over steps, the chosen layers and heads: `[H, W, K]`.
 *
 * @param store the attention store
 * @param opts  prompt, kind, places, resolution or layers
 * @returns `[H, W, K]` (caller owns)
 * @example
 * ```ts
 * const maps = aggregateAttention(store, { prompt: 1 }); // [16, 16, 77]
 * ```
 */
export function aggregateAttention(store: AttentionStore, opts: AggregateOptions = {}): tf.Tensor3D {
  const layers = selectLayers(store, opts);
  const p = opts.prompt ?? 0;
  const { height, width } = layers[0]!.resolution;
  if (layers.some((l) => l.resolution.height !== height || l.resolution.width !== width)) throw new OptionError('layers', 'the layers must share one resolution');
  return tf.tidy(() => {
    const per = layers.map((l) => {
      const row = l.prompts.indexOf(p);
      if (row < 0) throw new OptionError('prompt', `the store has no row of prompt ${p} for ${l.layer}`);
      const avg = store.average(l.layer); // [P, heads, Q, K]
      return tf.squeeze(tf.slice(avg, [row, 0, 0, 0], [1, -1, -1, -1]), [0]); // [heads, Q, K]
    });
    const all = per.length === 1 ? per[0]! : tf.concat(per, 0);
    return tf.reshape(tf.mean(all, 0), [height, width, -1]) as tf.Tensor3D;
  });
}

/**
 * Labels of a prompt's tokens for a grid: `<sot>`, each token's text (non-ASCII as `?`), `<eot>`.
 *
 * @param tokenizer the CLIP tokenizer
 * @param prompt    the prompt
 * @example
 * ```ts
 * tokenLabels(tok, 'a cat'); // ['<sot>', 'a', 'cat', '<eot>']
 * ```
 */
export function tokenLabels(tokenizer: ClipTokenizer, prompt: string): string[] {
  const ids = tokenizer.encode(prompt, { padding: 'none', truncation: true }).ids;
  return ids.map((id, i) => {
    if (i === 0) return '<sot>';
    if (i === ids.length - 1) return '<eot>';
    return tokenizer.decode([id]).trim().replace(/[^\x20-\x7e]/g, '?') || '?';
  });
}

/** Nearest-neighbour upscale of an image by an integer factor. */
function upscale(img: Image, f: number): Image {
  if (f === 1) return img;
  const w = img.width * f;
  const h = img.height * f;
  const c = img.channels;
  const data = new Uint8Array(w * h * c);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const src = (Math.floor(y / f) * img.width + Math.floor(x / f)) * c;
      data.set(img.data.subarray(src, src + c), (y * w + x) * c);
    }
  }
  return { width: w, height: h, channels: c, data };
}

/**
 * Options of {@link writeAttentionMaps} and {@link writeMaskGrid}.
 *
 * @example
 * ```ts
 * const o: MapGridOptions = { tile: 64, colormap: 'jet', cols: 4 };
 * ```
 */
export interface MapGridOptions {
  /** Target tile size in pixels (maps are upscaled by the largest integer factor that fits; default 128). */
  tile?: number;
  /** Colour map (default viridis). */
  colormap?: Colormap;
  /** Tiles per row. */
  cols?: number;
}

function tiles(maps: Float32Array[], height: number, width: number, opts: MapGridOptions): Image[] {
  const f = Math.max(1, Math.floor((opts.tile ?? 128) / Math.max(height, width)));
  return maps.map((m) => {
    let max = 0;
    for (const v of m) max = Math.max(max, v);
    const norm = Float32Array.from(m, (v) => (max > 0 ? v / max : 0)); // the notebooks' image / image.max()
    return upscale(heatmapToImage({ width, height, data: norm }, { normalize: 'none', colormap: opts.colormap ?? 'viridis' }), f);
  });
}

/**
 * Writes the per-token cross-attention maps of one prompt as a labelled PNG grid.
 *
 * @param path      output PNG path
 * @param store     the attention store
 * @param tokenizer the CLIP tokenizer
 * @param prompt    the prompt text of row `opts.prompt`
 * @param opts      aggregation and grid options
 * @returns the token labels, in grid order
 * @example
 * ```ts
 * await writeAttentionMaps('out/maps-source.png', r.store!, sd.tokenizer, r.prompts[0], { prompt: 0 });
 * ```
 */
export async function writeAttentionMaps(
  path: string, store: AttentionStore, tokenizer: ClipTokenizer, prompt: string, opts: AggregateOptions & MapGridOptions = {},
): Promise<string[]> {
  const labels = tokenLabels(tokenizer, prompt);
  const agg = aggregateAttention(store, opts);
  const [h, w, k] = agg.shape;
  const data = (await agg.data()) as Float32Array;
  agg.dispose();
  const n = Math.min(labels.length, k);
  const maps = Array.from({ length: n }, (_, i) => {
    const m = new Float32Array(h * w);
    for (let p = 0; p < h * w; p++) m[p] = data[p * k + i]!;
    return m;
  });
  await writeGrid(path, tiles(maps, h, w, opts), { labels: labels.slice(0, n), ...(opts.cols ? { cols: opts.cols } : { cols: Math.min(n, 8) }), background: 255 });
  return labels.slice(0, n);
}

/**
 * Writes masks `[B, h, w, 1]` (e.g. LocalBlend's) as a labelled PNG grid.
 *
 * @param path   output PNG path
 * @param mask   `[B, h, w, 1]` values in [0, 1] (not disposed)
 * @param labels one label per row
 * @param opts   grid options
 * @example
 * ```ts
 * const m = r.localBlend!.mask()!;
 * await writeMaskGrid('out/blend-mask.png', m, r.prompts);
 * ```
 */
export async function writeMaskGrid(path: string, mask: tf.Tensor4D, labels: readonly string[], opts: MapGridOptions = {}): Promise<void> {
  const [b, h, w, c] = mask.shape;
  if (c !== 1) throw new OptionError('mask', `must have one channel, got ${c}`);
  if (labels.length !== b) throw new OptionError('labels', `has ${labels.length} entries for ${b} masks`);
  const data = (await mask.data()) as Float32Array;
  const maps = Array.from({ length: b }, (_, i) => data.slice(i * h * w, (i + 1) * h * w));
  await writeGrid(path, tiles(maps, h, w, { colormap: 'gray', ...opts }), { labels: labels.map((l) => l.replace(/[^\x20-\x7e]/g, '?')), cols: opts.cols ?? b, background: 128 });
}
