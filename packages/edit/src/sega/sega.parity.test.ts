/**
 * SEGA end to end against diffusers' SemanticStableDiffusionPipeline on the tiny components (sega-tiny): every
 * setting comes from params.json, every tolerance from fixture.json, every check the manifest lists is run.
 *
 * The per-step checks (sem_guidance, step latents, final latents) are compared *teacher-forced*: each step starts
 * from the reference's latents of the step before, so an error cannot grow through the UNet from step to step. SEGA's
 * threshold is a quantile of |ψ| per channel, and a mask element within rounding of it can flip between two float32
 * implementations (the fixture's notes say so). Such an element is excused only where that step's |ψ| lies within
 * {@link TIE} of that step's threshold, or where an earlier excused flip reaches it through the momentum (the same
 * element, nowhere else); nothing is overwritten, and the excused count per step is asserted (at most
 * {@link MAX_EXCUSED} of the elements). The free-running image and VAE output are compared strictly.
 */
import { readFileSync } from 'node:fs';
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '@semedit/core/backend';
import type { StableDiffusion, StepEvent } from '@semedit/core/pipeline';
import { nchwToNhwcTensor } from '@semedit/core/tensor';
import { findCheck, loadFixturePipeline, nchwToNhwc, readFixtureTensor, readManifest, runManifestChecks, type FixtureCheck } from '@semedit/core/testing';
import type { AttentionContext, RowRole } from '@semedit/core/unet';
import { segaToImage, type SegaRunOptions, type SegaRunResult } from '../run/sega.js';
import { segaParamsFromDiffusers, type DiffusersSegaArgs } from './concepts.js';
import { quantile } from './quantile.js';

const m = readManifest('sega-tiny');
const params = JSON.parse(readFileSync(m.files['params']!, 'utf8')) as DiffusersSegaArgs & {
  prompt: string; negative_prompt: string | null; num_inference_steps: number; guidance_scale: number;
  height: number; width: number; eta: number; editing_prompt: string[]; scheduler: { cls: string } & Record<string, unknown>;
};
/** Relative distance to a step's threshold within which a mask element may flip ("within rounding of the quantile"). */
const TIE = 2e-4;
/** Most elements a step may excuse. */
const MAX_EXCUSED = 0.005;
/** The checks compared teacher-forced, step by step. */
const PER_STEP = ['edit.sem_guidance', 'edit.step_latents', 'edit.final_latents'];
const figures: Record<string, { maxExcused: number; excusedMaxAbs: number; steps: number }> = {};
let sd: StableDiffusion;
let disposeModels = () => {};
let init: tf.Tensor4D;

beforeAll(async () => {
  await initBackend();
  ({ sd, dispose: disposeModels } = await loadFixturePipeline(m, params.scheduler));
  init = nchwToNhwcTensor(await readFixtureTensor(m, 'io', 'initial_latents'), 'initial_latents');
});
afterAll(() => {
  init.dispose();
  disposeModels();
  console.log(`${m.id} teacher-forced figures (most excused elements in one step, largest error among them): ${JSON.stringify(figures)}`);
});

function baseOptions(): Omit<SegaRunOptions, 'concepts'> {
  return {
    prompt: params.prompt, negativePrompt: params.negative_prompt ?? undefined, guidanceScale: params.guidance_scale,
    numInferenceSteps: params.num_inference_steps, height: params.height, width: params.width, eta: params.eta, latents: init,
  };
}

function editOptions(): SegaRunOptions {
  const p = segaParamsFromDiffusers(params, params.editing_prompt.length);
  return { ...baseOptions(), concepts: params.editing_prompt.map((prompt, i) => ({ prompt, ...p.concepts[i]! })), momentumScale: p.momentumScale, momBeta: p.momBeta };
}

/** Per-step NHWC slices of a `[T, B, C, H, W]` fixture tensor. */
async function referenceSteps(output: string): Promise<{ steps: Float32Array[]; shape: [number, number, number, number] }> {
  const t = await readFixtureTensor(m, findCheck(m, output).file, output);
  const [n, b, c, h, w] = t.shape as [number, number, number, number, number];
  const per = b * c * h * w;
  return { steps: Array.from({ length: n }, (_, i) => nchwToNhwc((t.data as Float32Array).subarray(i * per, (i + 1) * per), [b, c, h, w])), shape: [b, h, w, c] };
}

/** A run, with the UNet's output of each step `[rows, h, w, C]` and the latents each step produced (before any replacement). */
interface Run { result: SegaRunResult; eps: tf.Tensor4D[]; stepLatents: Float32Array[]; unetCalls: number }

/** Runs SEGA; with `teacher`, every step's result is replaced by the reference's latents of that step. */
async function run(opts: SegaRunOptions, teacher?: Float32Array[]): Promise<Run> {
  const calls: tf.Tensor4D[][] = [];
  let unetCalls = 0;
  const forward = sd.unet.forward.bind(sd.unet);
  const unet = Object.create(sd.unet) as typeof sd.unet;
  unet.forward = (x, t, ehs, o = {}) => {
    unetCalls++;
    const y = forward(x, t, ehs, o);
    (calls[o.step!.index] ??= []).push(tf.keep(tf.clone(y)));
    return y;
  };
  const stepLatents: Float32Array[] = [];
  const onStepEnd = (ev: StepEvent) => {
    stepLatents.push(ev.latents.dataSync() as Float32Array);
    return teacher ? tf.tensor4d(teacher[ev.index]!, ev.latents.shape) : undefined;
  };
  const gen = segaToImage({ ...sd, unet }, { ...opts, onStepEnd });
  let r = await gen.next();
  while (!r.done) r = await gen.next();
  const eps = calls.map((c) => (c.length === 1 ? c[0]! : tf.tidy(() => tf.concat(c))));
  tf.dispose(calls.filter((c) => c.length > 1).flat());
  return { result: r.value, eps, stepLatents, unetCalls };
}

/** Elements (flat NHWC) where an active concept's |ψ| at this step lies within TIE of its channel's threshold. */
function nearTies(eps: tf.Tensor4D, step: number): Set<number> {
  const p = segaParamsFromDiffusers(params, params.editing_prompt.length);
  const out = new Set<number>();
  const parts = tf.split(eps, 2 + p.concepts.length) as tf.Tensor4D[];
  p.concepts.forEach((c, k) => {
    if (c.cooldown !== undefined && step >= c.cooldown) return;
    const abs = tf.tidy(() => tf.abs(tf.mul(tf.sub(parts[2 + k]!, parts[0]!), c.scale!))) as tf.Tensor4D;
    const q = quantile(abs, c.threshold!, [1, 2]); // [B, C]
    const a = abs.dataSync();
    const qs = q.dataSync();
    const [, h, w, ch] = abs.shape;
    for (let e = 0; e < a.length; e++) {
      const t = qs[Math.floor(e / (h * w * ch)) * ch + (e % ch)]!;
      if (Math.abs(a[e]! - t) <= TIE * t) out.add(e);
    }
    tf.dispose([abs, q]);
  });
  tf.dispose(parts);
  return out;
}

/** Elements outside the check's tolerance. */
function failures(check: FixtureCheck, got: Float32Array, exp: Float32Array): Map<number, number> {
  const out = new Map<number, number>();
  for (let e = 0; e < exp.length; e++) {
    const d = Math.abs(got[e]! - exp[e]!);
    if (!(d <= check.atol + check.rtol * Math.abs(exp[e]!))) out.set(e, d);
  }
  return out;
}

/**
 * The teacher-forced checks of an edit run: for each per-step check and step, every element outside tolerance must
 * be excused (a near tie at that step, or an earlier flip carried by the momentum), and at most MAX_EXCUSED of them.
 */
async function checkTeacherForced(label: string, opts: SegaRunOptions): Promise<number> {
  const ref = await referenceSteps('edit.step_latents');
  const r = await run(opts, ref.steps);
  const n = params.num_inference_steps;
  expect(r.stepLatents).toHaveLength(n);
  const ties = r.eps.map((e, i) => nearTies(e, i));
  const ours: Record<string, Float32Array[]> = {
    'edit.sem_guidance': r.result.guidance.map((g) => g.dataSync() as Float32Array),
    'edit.step_latents': r.stepLatents,
    'edit.final_latents': [r.stepLatents[n - 1]!],
  };
  let ran = 0;
  const guidanceFlips: Set<number>[] = []; // elements of sem_guidance outside tolerance, per step
  const carriedBefore = (i: number) => new Set(guidanceFlips.slice(0, i).flatMap((f) => [...f]));
  for (const output of PER_STEP) {
    const check = findCheck(m, output);
    const exp = output === 'edit.final_latents'
      ? [nchwToNhwc((await readFixtureTensor(m, check.file, output)).data as Float32Array, [1, ref.shape[3], ref.shape[1], ref.shape[2]])]
      : (await referenceSteps(output)).steps;
    const fig = (figures[`${label} ${output}`] = { maxExcused: 0, excusedMaxAbs: 0, steps: 0 });
    for (const [i, e] of exp.entries()) {
      const step = output === 'edit.final_latents' ? n - 1 : i;
      const got = ours[output]![i] ?? new Float32Array(e.length); // diffusers keeps one more sem_guidance row, all zeros
      const bad = failures(check, got, e);
      const excused = new Set([...carriedBefore(step), ...(ties[step] ?? [])]);
      const unexcused = [...bad.keys()].filter((k) => !excused.has(k));
      expect(unexcused, `${m.id} ${label} ${output} step ${i}: ${unexcused.length} elements outside atol ${check.atol} + rtol ${check.rtol} and not near the threshold (first ${unexcused[0]}, |error| ${bad.get(unexcused[0]!)})`).toEqual([]);
      expect(bad.size, `${m.id} ${label} ${output} step ${i}: excused elements`).toBeLessThanOrEqual(MAX_EXCUSED * e.length);
      fig.maxExcused = Math.max(fig.maxExcused, bad.size);
      fig.excusedMaxAbs = Math.max(fig.excusedMaxAbs, ...bad.values());
      fig.steps++;
      if (output === 'edit.sem_guidance') guidanceFlips[i] = new Set(bad.keys());
    }
    ran++;
  }
  tf.dispose([r.result.latents, r.result.images, ...r.result.guidance, ...r.eps]);
  return ran;
}

/** The strict checks a free run produces (a selection of the manifest; `reason` says where the others run). */
async function strictChecks(
  label: string, r: SegaRunResult, steps: Float32Array[], prefix: 'edit' | 'no_edit', skip: readonly string[], reason: string,
): Promise<number> {
  const raw = tf.tidy(() => sd.vae.decode(sd.vae.unscaleLatents(r.latents)));
  const [b, h, w, c] = r.latents.shape;
  const report = await runManifestChecks(m, (check) => {
    const name = check.output.slice(prefix.length + 1);
    if (name === 'step_latents') {
      const data = new Float32Array(steps.length * b * h * w * c);
      steps.forEach((s, i) => data.set(s, i * s.length));
      return { shape: [steps.length, b, h, w, c], data };
    }
    return ({ final_latents: r.latents, image: r.images, vae_decode_raw: raw } as Record<string, tf.Tensor | undefined>)[name];
  }, { label, only: { match: (ch) => ch.output.startsWith(`${prefix}.`) && !skip.includes(ch.output), reason } });
  raw.dispose();
  expect(report.ran).toBe(report.selected);
  return report.ran;
}

describe(`SEGA end to end (${m.id})`, () => {
  it(`${m.id}: every fixture.json check: edit teacher-forced step by step, free-running image and VAE output strictly, no_edit strictly`, async () => {
    const before = tf.memory().numTensors;
    const ranTeacher = await checkTeacherForced('edit', editOptions());
    const free = await run(editOptions());
    expect(free.result.editsApplied).toBe(true);
    expect(free.result.truncated).toEqual([]);
    expect(free.result.guidance).toHaveLength(params.num_inference_steps);
    expect(free.unetCalls).toBe(params.num_inference_steps); // one batched call per step
    // Phases follow the warm-ups of params.json: none before the first, partial between, full after the last.
    const warm = segaParamsFromDiffusers(params, params.editing_prompt.length).concepts.map((c) => c.warmup!);
    expect(free.result.phases).toEqual(free.stepLatents.map((_, i) => {
      const k = warm.filter((w) => i >= w).length;
      return k === 0 ? 'none' : k < warm.length ? 'partial' : 'full';
    }));
    const ranEdit = await strictChecks('edit (free-running)', free.result, free.stepLatents, 'edit', PER_STEP, 'the per-step edit checks run teacher-forced, no_edit in its own run');
    const plain = await run({ ...baseOptions(), concepts: [] });
    const ranPlain = await strictChecks('no_edit', plain.result, plain.stepLatents, 'no_edit', [], 'the edit checks run on the edit run');
    expect(ranTeacher + ranEdit + ranPlain).toBe(m.checks.length);
    for (const x of [free, plain]) tf.dispose([x.result.latents, x.result.images, ...x.result.guidance, ...x.eps]);
    expect(tf.memory().numTensors).toBe(before);
  });

  it(`${m.id}: concept rows evaluated one concept per UNet call pass the same teacher-forced checks`, async () => {
    expect(await checkTeacherForced('conceptChunk 1', { ...editOptions(), conceptChunk: 1 })).toBe(PER_STEP.length);
  });

  it(`${m.id}: replaying diffusers' recorded sem_guidance without concepts reproduces the edit (strict)`, async () => {
    const raw = await readFixtureTensor(m, 'io', 'edit.sem_guidance'); // [T, B, C, H, W]
    const [n, b, c, h, w] = raw.shape as [number, number, number, number, number];
    const replay = tf.tidy(() => tf.transpose(tf.tensor5d(raw.data as Float32Array, [n, b, c, h, w]), [0, 1, 3, 4, 2]));
    const r = await run({ ...baseOptions(), concepts: [], replayGuidance: replay, recordGuidance: false });
    await strictChecks('replay', r.result, r.stepLatents, 'edit', ['edit.sem_guidance'], 'a replay records no guidance; no_edit runs without it');
    replay.dispose();
    tf.dispose([r.result.latents, r.result.images, ...r.eps]);
  });

  it(`${m.id}: composes with an attention hook resolver in the same single UNet call per step`, async () => {
    const seen = new Map<number, Set<string>>(); // step -> distinct row layouts its hook calls saw
    let hookCalls = 0;
    const hooks = (ctx: AttentionContext) => (probs: tf.Tensor4D) => {
      hookCalls++;
      if (probs.shape[0] !== ctx.rows!.length) throw new Error(`probs batch ${probs.shape[0]} vs ${ctx.rows!.length} rows`);
      seen.set(ctx.step!.index, (seen.get(ctx.step!.index) ?? new Set()).add(JSON.stringify(ctx.rows)));
      return probs;
    };
    const r = await run({ ...editOptions(), hooks });
    const n = params.num_inference_steps;
    expect(r.unetCalls).toBe(n);
    expect(hookCalls).toBeGreaterThan(0);
    const rows: RowRole[] = [
      { role: 'uncond', prompt: 0 }, { role: 'cond', prompt: 0 },
      ...params.editing_prompt.map((_, c): RowRole => ({ role: 'concept', prompt: 0, concept: c })),
    ];
    expect([...seen.keys()].sort((a, b) => a - b)).toEqual(Array.from({ length: n }, (_, i) => i));
    for (const layouts of seen.values()) expect([...layouts]).toEqual([JSON.stringify(rows)]);
    await strictChecks('identity hook', r.result, r.stepLatents, 'edit', PER_STEP, 'an identity hook changes nothing: the free-running outputs suffice');
    tf.dispose([r.result.latents, r.result.images, ...r.result.guidance, ...r.eps]);
  });
});
