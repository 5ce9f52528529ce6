import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { beforeAll, describe, expect, it } from 'vitest';
import { OptionError, ShapeMismatchError, createGenerator } from '@semedit/core';
import type { Conditioning, NoiseModel } from '@semedit/core/pipeline';
import type { StepInfo } from '@semedit/core/unet';
import { segaDenoiser, type SegaDenoiserOptions } from './denoiser.js';
import { disposeSegaState, initSegaState, segaGuidance } from './sega.js';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

/** Toy noise model: eps_r = x_r · mean(ehs_r) + 0.001 t (row-independent, so chunking cannot change it). */
function toyModel(calls: Conditioning[]): NoiseModel {
  return (x, step, call) => {
    const t = step.timestep;
    const ehs = call.embeddings;
    calls.push(call);
    return tf.tidy(() => tf.add(tf.mul(x, tf.reshape(tf.mean(ehs, [1, 2]), [-1, 1, 1, 1])), 0.001 * t) as tf.Tensor4D);
  };
}

const emb = (v: number, b = 1) => tf.fill([b, 2, 3], v) as tf.Tensor3D;
const steps: StepInfo[] = Array.from({ length: 5 }, (_, i) => ({ index: i, count: 5, timestep: 900 - 200 * i }));
const edit: SegaDenoiserOptions['edit'] = {
  concepts: [{ warmup: 1, scale: 3, threshold: 0.6 }, { warmup: 2, reverse: true, weight: 0.5 }, { warmup: 0, cooldown: 4 }],
  momentumScale: 0.3, momBeta: 0.6,
};

function setup(b = 2) {
  const gen = createGenerator(11);
  const xs = steps.map(() => tf.tensor4d(gen.normal(b * 4 * 4 * 2), [b, 4, 4, 2]));
  const cond = tf.tidy(() => tf.concat([emb(1), emb(1.5)].slice(0, b)) as tf.Tensor3D);
  return { xs, cond, uncond: emb(0.2), concepts: [emb(2), emb(-1), emb(0.7, b)] };
}

describe('segaDenoiser', () => {
  it('makes one call per step with [uncond x B, cond x B, concept rows] and the roles, equal to segaGuidance on the split', () => {
    const before = tf.memory().numTensors;
    const s = setup();
    const calls: Conditioning[] = [];
    const d = segaDenoiser(toyModel(calls), { cond: s.cond, uncond: s.uncond, concepts: s.concepts, scale: 7.5, edit, prompts: [0, 1] });
    let state = initSegaState();
    for (const [i, step] of steps.entries()) {
      const eps = d(s.xs[i]!, step);
      // The same step by hand: evaluate the rows separately and call the pure function.
      const m = toyModel([]);
      const part = (e: tf.Tensor3D) => m(s.xs[i]!, step, { embeddings: e.shape[0] === 2 ? e : tf.tile(e, [2, 1, 1]), rows: [] });
      const prev = state;
      let next = prev;
      const r = tf.tidy(() => {
        const o = segaGuidance(part(s.uncond), part(s.cond), s.concepts.map(part), prev, { guidanceScale: 7.5, ...edit }, step);
        next = o.state;
        return { eps: o.eps, sem: o.semGuidance };
      });
      expect(Array.from(eps.dataSync())).toEqual(Array.from(r.eps.dataSync()));
      expect(Array.from(d.recorded[i]!.dataSync())).toEqual(Array.from(r.sem.dataSync()));
      disposeSegaState(prev);
      state = next;
      tf.dispose([eps, r.eps, r.sem]);
    }
    disposeSegaState(state);
    expect(calls).toHaveLength(steps.length);
    expect(calls[0]!.rows).toEqual([
      { role: 'uncond', prompt: 0 }, { role: 'uncond', prompt: 1 }, { role: 'cond', prompt: 0 }, { role: 'cond', prompt: 1 },
      ...[0, 1, 2].flatMap((c) => [{ role: 'concept', prompt: 0, concept: c }, { role: 'concept', prompt: 1, concept: c }]),
    ]);
    expect(d.phases).toEqual(['partial', 'partial', 'full', 'full', 'full']);
    d.dispose();
    tf.dispose([...s.xs, s.cond, s.uncond, ...s.concepts]);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('conceptChunk splits the concept rows over several calls with the same result', () => {
    const s = setup();
    const full: number[][] = [];
    const chunked: number[][] = [];
    const callsFull: Conditioning[] = [];
    const callsChunked: Conditioning[] = [];
    const a = segaDenoiser(toyModel(callsFull), { cond: s.cond, uncond: s.uncond, concepts: s.concepts, scale: 5, edit });
    const b = segaDenoiser(toyModel(callsChunked), { cond: s.cond, uncond: s.uncond, concepts: s.concepts, scale: 5, edit, conceptChunk: 2 });
    for (const [i, step] of steps.entries()) {
      const ea = a(s.xs[i]!, step);
      const eb = b(s.xs[i]!, step);
      full.push(Array.from(ea.dataSync()));
      chunked.push(Array.from(eb.dataSync()));
      tf.dispose([ea, eb]);
    }
    expect(chunked).toEqual(full);
    expect(callsChunked).toHaveLength(2 * steps.length);
    expect(callsChunked[0]!.rows.map((r) => r.role)).toEqual(['uncond', 'uncond', 'cond', 'cond', 'concept', 'concept', 'concept', 'concept']);
    expect(callsChunked[1]!.rows).toEqual([{ role: 'concept', prompt: 0, concept: 2 }, { role: 'concept', prompt: 1, concept: 2 }]);
    [a, b].forEach((d) => d.dispose());
    tf.dispose([...s.xs, s.cond, s.uncond, ...s.concepts]);
  });

  it('recorded guidance replayed with no concepts reproduces the edited predictions', () => {
    const s = setup();
    const rec = segaDenoiser(toyModel([]), { cond: s.cond, uncond: s.uncond, concepts: s.concepts, scale: 7.5, edit });
    const edited = steps.map((step, i) => rec(s.xs[i]!, step));
    const guidance = rec.takeRecorded();
    expect(rec.recorded).toHaveLength(0);
    const calls: Conditioning[] = [];
    const rep = segaDenoiser(toyModel(calls), { cond: s.cond, uncond: s.uncond, concepts: [], scale: 7.5, edit: { concepts: [] }, replayGuidance: guidance });
    steps.forEach((step, i) => {
      const e = rep(s.xs[i]!, step);
      const diff = tf.max(tf.abs(tf.sub(e, edited[i]!))).dataSync()[0]!;
      expect(diff).toBeLessThan(1e-5);
      e.dispose();
    });
    expect(calls[0]!.rows).toHaveLength(4); // only uncond and cond rows
    const short = segaDenoiser(toyModel([]), { cond: s.cond, uncond: s.uncond, concepts: [], scale: 7.5, edit: { concepts: [] }, replayGuidance: guidance.slice(0, 1) });
    expect(() => short(s.xs[1]!, steps[1]!)).toThrow(/replayGuidance.*step 1/);
    [rec, rep, short].forEach((d) => d.dispose());
    tf.dispose([...s.xs, s.cond, s.uncond, ...s.concepts, ...edited, ...guidance]);
  });

  it('guidance scale <= 1: a typed error by default, or diffusers\' skip reported as editsSkipped', () => {
    const s = setup();
    const opts = { cond: s.cond, uncond: s.uncond, concepts: s.concepts, scale: 1, edit };
    expect(() => segaDenoiser(toyModel([]), opts)).toThrow(OptionError);
    expect(() => segaDenoiser(toyModel([]), opts)).toThrow(/guidanceScale.*skip-edits/);
    const calls: Conditioning[] = [];
    const d = segaDenoiser(toyModel(calls), { ...opts, lowGuidance: 'skip-edits' });
    expect(d.editsSkipped).toBe(true);
    const eps = d(s.xs[0]!, steps[0]!);
    expect(calls[0]!.rows).toEqual([{ role: 'cond', prompt: 0 }, { role: 'cond', prompt: 1 }]);
    const plain = toyModel([])(s.xs[0]!, steps[0]!, { embeddings: s.cond, rows: [] });
    expect(Array.from(eps.dataSync())).toEqual(Array.from(plain.dataSync()));
    d.dispose();
    tf.dispose([eps, plain, ...s.xs, s.cond, s.uncond, ...s.concepts]);
  });

  it('rejects mismatched settings, embeddings and latents', () => {
    const s = setup();
    const base = { cond: s.cond, uncond: s.uncond, concepts: s.concepts, scale: 7.5, edit };
    expect(() => segaDenoiser(toyModel([]), { ...base, edit: { concepts: [{}] } })).toThrow(/edit\.concepts.*1 settings for 3/);
    expect(() => segaDenoiser(toyModel([]), { ...base, concepts: [emb(1, 3), s.concepts[1]!, s.concepts[2]!] })).toThrow(ShapeMismatchError);
    expect(() => segaDenoiser(toyModel([]), { ...base, conceptChunk: 0 })).toThrow(/conceptChunk/);
    const d = segaDenoiser(toyModel([]), base);
    const x1 = tf.zeros([1, 4, 4, 2]) as tf.Tensor4D;
    expect(() => d(x1, steps[0]!)).toThrow(ShapeMismatchError);
    d.dispose();
    tf.dispose([x1, ...s.xs, s.cond, s.uncond, ...s.concepts]);
  });

  it('advances the momentum once per step.index: a two-call (Heun-like) step equals a one-call step made of its last call', () => {
    const before = tf.memory().numTensors;
    const s = setup();
    const opts = { cond: s.cond, uncond: s.uncond, concepts: s.concepts, scale: 7.5, edit, prompts: [0, 1] };
    const twoCall = segaDenoiser(toyModel([]), opts);
    const oneCall = segaDenoiser(toyModel([]), opts);
    // Calls of the two-call loop: (step 0, x0), (step 0, x1), (step 1, x2), (step 1, x3), (step 2, x4).
    const calls = [[0, 0], [0, 1], [1, 2], [1, 3], [2, 4]] as const;
    let last: tf.Tensor4D | undefined;
    for (const [k, [index, xi]] of calls.entries()) {
      const step: StepInfo = { ...steps[index]!, call: k };
      last?.dispose();
      last = twoCall(s.xs[xi]!, step);
      const closesStep = calls[k + 1]?.[0] !== index;
      if (!closesStep) continue;
      const ref = oneCall(s.xs[xi]!, steps[index]!);
      expect(Array.from(last.dataSync()), `eps at step ${index}`).toEqual(Array.from(ref.dataSync()));
      expect(Array.from(twoCall.state.momentum!.dataSync()), `momentum after step ${index}`).toEqual(Array.from(oneCall.state.momentum!.dataSync()));
      ref.dispose();
    }
    last?.dispose();
    twoCall.dispose();
    oneCall.dispose();
    tf.dispose([...s.xs, s.cond, s.uncond, ...s.concepts]);
    expect(tf.memory().numTensors).toBe(before);
  });
});
