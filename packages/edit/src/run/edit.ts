/**
 * One editing run that composes SEGA and Prompt-to-Prompt in a single sampling loop (style.md 3.3): the UNet is a
 * conditional denoiser; Prompt-to-Prompt's controller and attention store join it as attention hooks
 * (`withHooks`); SEGA (or plain classifier-free guidance when no concepts are asked for) wraps it; LocalBlend acts
 * after each step. Every row sees its role, so P2P edits only the edited prompt's conditional rows and SEGA's
 * concept rows are left alone.
 * @module
 */
import * as tf from '@tensorflow/tfjs-core';
import { OptionError, ShapeMismatchError, createGenerator, randn } from '@semedit/core';
import {
  assertImageFits, cfgDenoiser, decodeLatents, encodePrompts, latentSize, promptBatch, runLoop, sampleLoop, unetDenoiser, withHooks,
  type Denoiser, type GenerationOptions, type StableDiffusion, type StepEvent, type TruncatedPrompt,
} from '@semedit/core/pipeline';
import type { AttentionStore, LocalBlend, P2PController } from '../p2p/index.js';
import { setupPromptEdit, type P2PEdit, type PromptEditParts } from '../p2p/setup.js';
import { inactiveConcepts, resolveSegaParams, type SegaConcept } from '../sega/concepts.js';
import { segaDenoiser, type LowGuidancePolicy, type SegaDenoiser } from '../sega/denoiser.js';
import type { SegaPhase } from '../sega/sega.js';

/**
 * One SEGA concept: its text (`prompt`, e.g. "smiling, smile") or precomputed `embeddings` `[1, T, D]` / `[B, T, D]`,
 * plus its settings.
 *
 * @example
 * ```ts
 * const c: SegaConceptInput = { prompt: 'glasses', reverse: true, scale: 5, threshold: 0.975, warmup: 10 };
 * ```
 */
export interface SegaConceptInput extends SegaConcept {
  /** The concept's text. */
  prompt?: string;
  /** Precomputed embeddings (the caller keeps ownership). */
  embeddings?: tf.Tensor3D;
}

/**
 * SEGA's settings, as {@link edit}'s `sega` field takes them.
 *
 * @example
 * ```ts
 * const e: SegaEdit = { concepts: [{ prompt: 'smiling, smile', scale: 4, threshold: 0.99 }], momentumScale: 0.3 };
 * ```
 */
export interface SegaEdit {
  /** Edit concepts, in order (may be empty: plain CFG through SEGA's combination). */
  concepts: readonly SegaConceptInput[];
  /** `edit_momentum_scale` (default 0.1). */
  momentumScale?: number;
  /** `edit_mom_beta` (default 0.4). */
  momBeta?: number;
  /** Concepts per UNet call (default all). */
  conceptChunk?: number;
  /** Return each step's semantic guidance (default true). */
  recordGuidance?: boolean;
  /** Guidance recorded by an earlier run, added at each step (diffusers' `sem_guidance`). Not disposed. */
  replayGuidance?: readonly tf.Tensor4D[] | tf.Tensor;
  /** At `guidanceScale <= 1`: `error` (default) or `skip-edits` (diffusers' behaviour, reported). */
  lowGuidance?: LowGuidancePolicy;
}

/**
 * Options of {@link edit}: the shared generation options, the prompt, and the edits to compose.
 *
 * @example
 * ```ts
 * const o: EditOptions = {
 *   prompt: 'a cat riding a bicycle', seed: 1,
 *   p2p: { targets: 'a dog riding a bicycle', localBlend: { words: ['cat', 'dog'] } },
 *   sega: { concepts: [{ prompt: 'sunset', scale: 5 }] },
 * };
 * ```
 */
export interface EditOptions extends GenerationOptions {
  /** The prompt (with `p2p`, the source prompt: one string); without `p2p`, one prompt or one per image. */
  prompt: string | readonly string[];
  /** Images per prompt (default 1; not with `p2p`, whose rows share one starting latent). */
  numImagesPerPrompt?: number;
  /** SEGA: semantic guidance towards or away from concepts, on every row. */
  sega?: SegaEdit;
  /** Prompt-to-Prompt: the edited prompt(s) and how their attention follows the source's. */
  p2p?: P2PEdit;
}

/**
 * What {@link edit} returns; `dispose()` frees every tensor and helper in it.
 *
 * @example
 * ```ts
 * const r = await runEdit(sd, opts);
 * r.prompts; // ['a cat riding a bicycle', 'a dog riding a bicycle']
 * r.dispose();
 * ```
 */
export interface EditResult {
  /** One prompt per image (with P2P: the source first, then the edited prompts). */
  prompts: string[];
  /** Final latents `[B, h, w, C]`. */
  latents: tf.Tensor4D;
  /** Decoded images `[B, H, W, 3]` in [0, 1]. */
  images: tf.Tensor4D;
  /** SEGA's semantic guidance added at each step, `[B, h, w, C]` each (empty without SEGA or when not recorded). */
  guidance: tf.Tensor4D[];
  /** Which SEGA concepts each step applied (empty without SEGA). */
  phases: SegaPhase[];
  /** False when `guidanceScale <= 1` made SEGA skip its concepts (policy `skip-edits`). */
  editsApplied: boolean;
  /** The P2P controller, store and LocalBlend, when `p2p` was given. */
  controller: P2PController | undefined;
  store: AttentionStore | undefined;
  localBlend: LocalBlend | undefined;
  /** Human-readable notes: concepts that cannot act (warm-up past the end, zero weight, …), skipped edits. */
  warnings: string[];
  /** Prompts (main, negative, concepts) cut to the model length. */
  truncated: TruncatedPrompt[];
  dispose(): void;
}

/** Start latents: P2P rows share one latent (given `[1, …]` or drawn once); otherwise one per image. */
function startLatents(opts: EditOptions, shape: [number, number, number, number], shared: boolean, gen: ReturnType<typeof createGenerator>): tf.Tensor4D {
  const [b, h, w, c] = shape;
  if (opts.latents) {
    const [n, lh, lw, lc] = opts.latents.shape;
    if ((n !== b && !(shared && n === 1)) || lh !== h || lw !== w || lc !== c) throw new ShapeMismatchError('latents', [shared ? 1 : b, h, w, c], opts.latents.shape);
    return n === b ? tf.clone(opts.latents) : (tf.tile(opts.latents, [b, 1, 1, 1]) as tf.Tensor4D);
  }
  if (!shared) return randn(shape, gen) as tf.Tensor4D;
  return tf.tidy(() => tf.tile(randn([1, h, w, c], gen), [b, 1, 1, 1]) as tf.Tensor4D);
}

/** Checks the edit settings that need no model, before anything is encoded or computed. */
function checkEdits(opts: EditOptions, numSteps: number): string[] {
  const warnings: string[] = [];
  if (opts.sega !== undefined) {
    if (typeof opts.sega !== 'object' || opts.sega === null || !Array.isArray(opts.sega.concepts)) throw new OptionError('sega.concepts', 'must be an array (empty for no concept)');
    opts.sega.concepts.forEach((c, i) => {
      if ((c.prompt === undefined) === (c.embeddings === undefined)) throw new OptionError(`sega.concepts[${i}]`, 'needs exactly one of prompt or embeddings');
    });
    const params = resolveSegaParams({ guidanceScale: opts.guidanceScale ?? 7.5, ...opts.sega, concepts: opts.sega.concepts.map(({ prompt: _p, embeddings: _e, ...s }) => s) });
    if (opts.sega.conceptChunk !== undefined && (!Number.isInteger(opts.sega.conceptChunk) || opts.sega.conceptChunk < 1)) {
      throw new OptionError('sega.conceptChunk', `must be a positive integer, got ${opts.sega.conceptChunk}`);
    }
    for (const { index, reason } of inactiveConcepts(params, numSteps)) warnings.push(`SEGA concept ${index} (${opts.sega.concepts[index]!.prompt ?? 'embeddings'}) has no effect: ${reason}`);
  }
  if (opts.p2p !== undefined) {
    if (typeof opts.prompt !== 'string') throw new OptionError('prompt', 'with p2p, the source prompt must be one string');
    if ((opts.numImagesPerPrompt ?? 1) !== 1) throw new OptionError('numImagesPerPrompt', 'must be 1 with p2p (its rows share one starting latent)');
  }
  return warnings;
}

/**
 * Edits as an async generator of steps: SEGA and/or Prompt-to-Prompt composed in one sampling loop (without either,
 * plain text-to-image). Its return value is the result.
 *
 * @param sd   the Stable Diffusion parts
 * @param opts prompt, generation settings, `sega` and/or `p2p`
 * @example
 * ```ts
 * const run = edit(sd, { prompt: 'a cat riding a bicycle', p2p: { targets: 'a dog riding a bicycle' }, sega: { concepts: [{ prompt: 'snow' }] } });
 * let r = await run.next();
 * while (!r.done) r = await run.next();
 * r.value.dispose();
 * ```
 */
export async function* edit(sd: StableDiffusion, opts: EditOptions): AsyncGenerator<StepEvent, EditResult> {
  const numSteps = opts.numInferenceSteps ?? 50;
  const notes = checkEdits(opts, numSteps);
  const scale = opts.guidanceScale ?? 7.5;
  const free: { dispose(): void }[] = [];
  const owned: tf.Tensor[] = [];
  let handedOver = false;
  try {
    const p2p: PromptEditParts | undefined = opts.p2p ? setupPromptEdit(sd, opts.prompt as string, opts.p2p, numSteps) : undefined;
    if (p2p) free.push(p2p);
    const batch = promptBatch(p2p ? p2p.prompts : opts.prompt, opts.negativePrompt, opts.numImagesPerPrompt ?? 1);
    const size = latentSize(sd, opts);
    assertImageFits({ height: size.height * size.factor, width: size.width * size.factor, images: batch.prompts.length, blockOutChannels: sd.vae.config.blockOutChannels });
    const shape: [number, number, number, number] = [batch.prompts.length, size.height, size.width, size.channels];
    const onTruncate = opts.onTruncate ?? 'warn';
    const truncated: TruncatedPrompt[] = [];
    const enc = (texts: string[], label: string): tf.Tensor3D => {
      const r = encodePrompts(sd.tokenizer, sd.textEncoder, texts, { onTruncate });
      owned.push(r.embeddings);
      truncated.push(...r.truncated.map((t) => ({ ...t, prompt: `${label}${t.prompt}` })));
      return r.embeddings;
    };
    const cond = enc(batch.prompts, '');
    const uncond = enc(batch.negatives, '(negative) ');
    const model = withHooks(unetDenoiser(sd.unet), p2p?.hooks, opts.hooks);
    let sega: SegaDenoiser | undefined;
    let denoise: Denoiser;
    if (opts.sega) {
      const concepts = opts.sega.concepts;
      const textIdx = concepts.flatMap((c, i) => (c.prompt !== undefined ? [i] : []));
      const texts = textIdx.length > 0 ? enc(textIdx.map((i) => concepts[i]!.prompt!), '(concept) ') : undefined;
      const conceptEmb = concepts.map((c, i) => {
        if (c.embeddings) return c.embeddings;
        const e = tf.slice(texts!, [textIdx.indexOf(i), 0, 0], [1, -1, -1]) as tf.Tensor3D;
        owned.push(e);
        return e;
      });
      sega = segaDenoiser(model, {
        cond, uncond, concepts: conceptEmb, scale, prompts: batch.promptIndex,
        edit: { concepts: concepts.map(({ prompt: _p, embeddings: _e, ...settings }) => settings), momentumScale: opts.sega.momentumScale, momBeta: opts.sega.momBeta },
        conceptChunk: opts.sega.conceptChunk, replayGuidance: opts.sega.replayGuidance,
        recordGuidance: opts.sega.recordGuidance ?? true, lowGuidance: opts.sega.lowGuidance ?? 'error',
      });
      free.push(sega);
      denoise = sega;
    } else {
      denoise = cfgDenoiser(model, { cond, uncond, scale, prompts: batch.promptIndex });
    }
    const gen = createGenerator(opts.seed ?? 0);
    const start = startLatents(opts, shape, p2p !== undefined, gen);
    owned.push(start);
    const lb = p2p?.localBlend;
    const onStepEnd = (ev: StepEvent): tf.Tensor4D | undefined => {
      let x = lb?.onStepEnd(ev);
      const y = opts.onStepEnd?.(x ? { ...ev, latents: x } : ev);
      if (y && y !== (x ?? ev.latents)) {
        x?.dispose();
        x = y;
      }
      return x;
    };
    const loop = sampleLoop(denoise, sd.scheduler, {
      latents: start, numInferenceSteps: numSteps, eta: opts.eta ?? 0, generator: gen, onStepEnd, onProgress: opts.onProgress, signal: opts.signal,
    });
    let r = await loop.next();
    while (!r.done) {
      yield r.value;
      r = await loop.next();
    }
    const latents = r.value;
    const images = decodeLatents(sd.vae, latents);
    const skipped = sega?.editsSkipped ?? false;
    const guidance = sega && !skipped && opts.sega?.recordGuidance !== false ? sega.takeRecorded() : [];
    const phases = sega ? [...sega.phases] : [];
    tf.dispose(owned);
    owned.length = 0;
    sega?.dispose();
    const keep = free.filter((f) => f !== sega);
    handedOver = true;
    return {
      prompts: batch.prompts, latents, images, guidance, phases, editsApplied: !skipped,
      controller: p2p?.controller, store: p2p?.store, localBlend: p2p?.localBlend,
      warnings: skipped ? [...notes, `guidance scale ${scale} <= 1: no classifier-free guidance, so the ${opts.sega!.concepts.length} SEGA concept(s) were not applied (diffusers' behaviour)`] : notes,
      truncated,
      dispose: () => {
        tf.dispose([latents, images, ...guidance]);
        keep.forEach((f) => f.dispose());
      },
    };
  } finally {
    // An error, or a caller that stops iterating early, frees everything; a finished run hands the result over.
    if (!handedOver) {
      tf.dispose(owned);
      free.forEach((f) => f.dispose());
    }
  }
}

/**
 * Runs {@link edit} to the end and returns its result.
 *
 * @param sd   the Stable Diffusion parts
 * @param opts as {@link edit}
 * @example
 * ```ts
 * const r = await runEdit(sd, {
 *   prompt: 'a cat riding a bicycle', numInferenceSteps: 30, seed: 2,
 *   p2p: { targets: 'a dog riding a bicycle', localBlend: { words: ['cat', 'dog'] } },
 *   sega: { concepts: [{ prompt: 'autumn leaves', scale: 4, warmup: 5 }] },
 * });
 * await writeImageTensor('edit.png', r.images, { range: '0-1', grid: true });
 * r.dispose();
 * ```
 */
export async function runEdit(sd: StableDiffusion, opts: EditOptions): Promise<EditResult> {
  return runLoop(edit(sd, opts));
}
