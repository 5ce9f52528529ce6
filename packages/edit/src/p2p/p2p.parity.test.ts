/**
 * Prompt-to-Prompt against the diffusers community pipeline (p2p-tiny): every structural tensor (schedules,
 * mappers, alphas, equalizer, LocalBlend selector) exactly, and every case's step latents, final latents and
 * images within the fixture's tolerances. Driven by the manifest's checks and params.json.
 */
import { readFileSync } from 'node:fs';
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '@semedit/core/backend';
import { loadClipTextModel, loadClipTokenizer } from '@semedit/core/clip';
import type { StableDiffusion } from '@semedit/core/pipeline';
import { createScheduler, type SchedulerConfig } from '@semedit/core/schedulers';
import { nchwToNhwcTensor } from '@semedit/core/tensor';
import { checkAgainstFixture, compareArrays, nchwToNhwc, readFixtureTensor, readManifest, type FixtureCheck } from '@semedit/core/testing';
import { loadUNet } from '@semedit/core/unet';
import { loadVae } from '@semedit/core/vae';
import { runPromptToPrompt, type PromptToPromptOptions } from '../run/p2p.js';
import { makeController, type P2PMode } from './setup.js';
import { crossReplaceAlpha, selfReplaceWindow } from './schedules.js';
import { refinementMapper } from './seq-aligner.js';
import { localBlend } from './local-blend.js';
import { createAttentionStore } from './store.js';
import { replacementMapper } from './word-mappers.js';

interface CaseParams {
  prompts: string[];
  cross_attention_kwargs: {
    edit_type: P2PMode; n_cross_replace: number; n_self_replace: number;
    equalizer_words?: string[]; equalizer_strengths?: number[]; local_blend_words?: string[]; local_blend_threshold?: number;
  };
  num_self_replace: [number, number];
  token_ids: number[][];
}
const m = readManifest('p2p-tiny');
const params = JSON.parse(readFileSync(m.files['params']!, 'utf8')) as {
  num_inference_steps: number; guidance_scale: number; height: number; width: number; eta: number; negative_prompt: string | null;
  scheduler: { cls: string } & Record<string, unknown>; cases: Record<string, CaseParams>;
};
const caseNames = Object.keys(params.cases);
let sd: StableDiffusion;
let initial: tf.Tensor4D;
const maxErr: Record<string, number> = {};

beforeAll(async () => {
  await initBackend();
  const { cls, ...rest } = params.scheduler;
  sd = {
    tokenizer: await loadClipTokenizer(m.components['tokenizer']!),
    textEncoder: await loadClipTextModel(m.components['text_encoder']!),
    unet: await loadUNet(m.components['unet']!),
    vae: await loadVae(m.components['vae']!),
    scheduler: createScheduler({ _class_name: cls, ...rest } as SchedulerConfig),
  };
  initial = nchwToNhwcTensor(await readFixtureTensor(m, 'io', 'initial_latent'), 'initial_latent');
});
afterAll(() => {
  initial.dispose();
  sd.textEncoder.dispose();
  sd.unet.dispose();
  sd.vae.dispose();
  console.log(`p2p-tiny max |error| per check: ${JSON.stringify(maxErr, null, 1)}`);
});

function checksOf(name: string): FixtureCheck[] {
  return m.checks.filter((c) => c.output.startsWith(`${name}.`));
}

function weightsOf(k: CaseParams['cross_attention_kwargs']): [string, number][] | undefined {
  if (!k.equalizer_words) return undefined;
  return k.equalizer_words.map((w, i) => [w, k.equalizer_strengths![i]!]);
}

/** Structural tensors of a case, computed stand-alone from the prompts, keyed by check suffix. */
function structural(c: CaseParams): Record<string, ArrayLike<number>> {
  const k = c.cross_attention_kwargs;
  const tok = sd.tokenizer;
  const [src, ...targets] = c.prompts;
  const cat = <T extends ArrayLike<number>>(xs: T[]) => xs.flatMap((x) => Array.from(x));
  const out: Record<string, ArrayLike<number>> = {
    cross_replace_alpha: crossReplaceAlpha(tok, c.prompts, params.num_inference_steps, k.n_cross_replace).data,
    replacement_mapper: k.edit_type === 'replace' ? cat(targets.map((t) => replacementMapper(tok, src!, t, { mode: 'reference' }))) : [],
  };
  const refine = targets.map((t) => refinementMapper(tok, src!, t));
  out['refinement_mapper'] = cat(refine.map((r) => r.mapper));
  out['refinement_alphas'] = cat(refine.map((r) => r.alphas));
  const { controller, owned } = makeController(k.edit_type, { tokenizer: tok, prompts: c.prompts, numSteps: params.num_inference_steps }, {
    replaceMapper: 'reference', weights: weightsOf(k),
  });
  const ctl = controller as unknown as { mappers?: ArrayLike<number>[]; alphas?: Float32Array[]; equalizers?: Float32Array[] };
  if (ctl.mappers) out['mapper'] = cat(ctl.mappers);
  if (ctl.alphas) out['alphas'] = cat(ctl.alphas);
  if (ctl.equalizers) out['equalizer'] = cat(ctl.equalizers);
  owned.forEach((o) => o.dispose());
  if (k.local_blend_words) {
    const store = createAttentionStore();
    const lb = localBlend({ tokenizer: tok, prompts: c.prompts, words: k.local_blend_words, store, layers: 'reference' });
    out['local_blend_alpha_layers'] = lb.alphaLayers;
    lb.dispose();
    store.dispose();
  }
  return out;
}

describe(`Prompt-to-Prompt structure (${m.id})`, () => {
  it.each(caseNames)(`${m.id} %s: token ids, schedules, mappers, alphas, equalizer and LocalBlend selector match exactly`, async (name) => {
    const c = params.cases[name]!;
    c.prompts.forEach((p, i) => expect(sd.tokenizer.encode(p, { padding: 'none' }).ids).toEqual(c.token_ids[i]));
    expect(selfReplaceWindow(params.num_inference_steps, c.cross_attention_kwargs.n_self_replace)).toEqual(c.num_self_replace);
    const ours = structural(c);
    const checks = checksOf(name).filter((k) => !/(step_latents|final_latents|images)$/.test(k.output));
    expect(checks.length).toBeGreaterThan(0);
    for (const check of checks) {
      const suffix = check.output.slice(name.length + 1);
      const actual = ours[suffix];
      expect(actual, `no computation for ${check.output}`).toBeDefined();
      const exp = await readFixtureTensor(m, check.file, check.output);
      const r = compareArrays(Array.from(actual!), exp.data as Float32Array, { atol: check.atol, rtol: check.rtol, name: check.output });
      maxErr[check.output] = r.maxAbs;
      expect(r.ok, r.message).toBe(true);
    }
  });
});

describe(`Prompt-to-Prompt runs (${m.id})`, () => {
  it.each(caseNames)(`${m.id} %s: step latents, final latents and images match the reference pipeline`, async (name) => {
    const c = params.cases[name]!;
    const k = c.cross_attention_kwargs;
    const before = tf.memory().numTensors;
    const steps: Float32Array[] = [];
    const w = weightsOf(k);
    const opts: PromptToPromptOptions = {
      prompt: c.prompts[0]!, targets: c.prompts.slice(1), mode: k.edit_type, crossReplaceSteps: k.n_cross_replace,
      selfReplaceSteps: k.n_self_replace, replaceMapper: 'reference', latents: initial,
      numInferenceSteps: params.num_inference_steps, guidanceScale: params.guidance_scale, eta: params.eta,
      height: params.height, width: params.width, negativePrompt: params.negative_prompt ?? undefined,
      weights: w,
      ...(k.local_blend_words ? {
        localBlend: { words: k.local_blend_words, layers: 'reference' as const, threshold: k.local_blend_threshold },
        store: {},
      } : {}),
      onStepEnd: (ev) => void steps.push(ev.latents.dataSync() as Float32Array),
    };
    const r = await runPromptToPrompt(sd, opts);
    const checks = checksOf(name).filter((x) => /(step_latents|final_latents|images)$/.test(x.output));
    expect(checks.length).toBe(3);
    for (const check of checks) {
      if (check.output.endsWith('step_latents')) {
        const stored = await readFixtureTensor(m, check.file, check.output); // [T, B, C, H, W]
        const [n, b, ch, h, wd] = stored.shape as [number, number, number, number, number];
        expect(steps.length).toBe(n);
        const per = b * ch * h * wd;
        let worst = 0;
        for (let i = 0; i < n; i++) {
          const exp = nchwToNhwc((stored.data as Float32Array).subarray(i * per, (i + 1) * per), [b, ch, h, wd]);
          const cmp = compareArrays(steps[i]!, exp, { atol: check.atol, rtol: check.rtol, name: `${check.output}[${i}]` });
          worst = Math.max(worst, cmp.maxAbs);
          expect(cmp.ok, cmp.message).toBe(true);
        }
        maxErr[check.output] = worst;
      } else {
        const cmp = await checkAgainstFixture(m, check.output, check.output.endsWith('images') ? r.images : r.latents, { layout: 'NHWC' });
        maxErr[check.output] = cmp.maxAbs;
        expect(cmp.ok, cmp.message).toBe(true);
      }
    }
    r.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });
});
