import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { beforeAll, describe, expect, it } from 'vitest';
import { OptionError, ShapeMismatchError, createGenerator } from '@semedit/core';
import { resolveSegaParams, segaParamsFromDiffusers, type SegaParams } from './concepts.js';
import { lerpF32 } from './quantile.js';
import { disposeSegaState, initSegaState, segaGuidance, type SegaState } from './sega.js';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

const f = Math.fround;
const SHAPE: [number, number, number, number] = [2, 3, 4, 2]; // [B, H, W, C]

/**
 * A plain-JS transcription of diffusers' per-step SEGA block (algorithms.md §1.1.2, fixture README steps 1-5):
 * ψ and the mask in float32 (so masks agree exactly), the combination in float64. Returns ε̂, sem_guidance and
 * the new momentum. `nanToZero` is this library's defined behaviour for a zero weight sum in the partial phase.
 */
function referenceStep(eu: Float32Array, ep: Float32Array, ecs: Float32Array[], mom: Float64Array, p: SegaParams, i: number) {
  const r = resolveSegaParams(p);
  const [b, h, w, ch] = SHAPE;
  const n = eu.length;
  const psis = r.concepts.map((c, k) => {
    if (i >= c.cooldown) return new Float64Array(n);
    const psi = Array.from(ecs[k]!, (v, e) => f(f(f(v - eu[e]!) * (c.reverse ? -1 : 1)) * f(c.scale)));
    const out = new Float64Array(n);
    for (let bi = 0; bi < b; bi++) for (let ci = 0; ci < ch; ci++) {
      const idx = Array.from({ length: h * w }, (_, s) => bi * h * w * ch + s * ch + ci);
      const v = idx.map((e) => Math.abs(psi[e]!)).sort((x, y) => x - y);
      const rank = f(f(c.threshold) * (v.length - 1));
      const q = lerpF32(v[Math.floor(rank)]!, v[Math.ceil(rank)]!, f(rank - Math.floor(rank)));
      for (const e of idx) out[e] = Math.abs(psi[e]!) >= q ? psi[e]! : 0;
    }
    return out;
  });
  const wts = r.concepts.map((c) => (i >= c.cooldown ? 0 : Math.max(0, c.weight)));
  const warm = r.concepts.flatMap((c, k) => (i >= c.warmup ? [k] : []));
  const g = Array.from(ep, (v, e) => r.guidanceScale * (v - eu[e]!));
  let sem = new Float64Array(n);
  if (warm.length > 0 && warm.length < r.concepts.length) {
    const total = warm.reduce((a, k) => a + wts[k]!, 0);
    for (const k of warm) for (let e = 0; e < n; e++) sem[e]! += (total > 0 ? wts[k]! / total : 0) * psis[k]![e]!;
    for (let e = 0; e < n; e++) g[e]! += sem[e]!;
  }
  const edit = new Float64Array(n);
  psis.forEach((psi, k) => { for (let e = 0; e < n; e++) edit[e]! += wts[k]! * psi[e]!; });
  const next = new Float64Array(n);
  for (let e = 0; e < n; e++) {
    edit[e]! += r.momentumScale * mom[e]!;
    next[e] = r.momBeta * mom[e]! + (1 - r.momBeta) * edit[e]!;
  }
  if (warm.length === r.concepts.length && warm.length > 0) {
    sem = edit;
    for (let e = 0; e < n; e++) g[e]! += edit[e]!;
  }
  return { eps: g.map((v, e) => eu[e]! + v), sem, mom: next };
}

function rand(gen: ReturnType<typeof createGenerator>): Float32Array {
  return gen.normal(SHAPE.reduce((a, x) => a * x, 1));
}

function expectClose(got: ArrayLike<number>, want: ArrayLike<number>, what: string, tol = 2e-5): void {
  expect(got.length).toBe(want.length);
  for (let e = 0; e < got.length; e++) {
    const d = Math.abs(got[e]! - want[e]!);
    if (!(d <= tol * (1 + Math.abs(want[e]!)))) throw new Error(`${what}: element ${e}: ${got[e]} vs ${want[e]}`);
  }
}

/** Runs `steps` steps of segaGuidance and of the reference on the same random predictions; compares each. */
function runBoth(p: SegaParams, steps: number, seed: number): { phases: string[] } {
  const gen = createGenerator(seed);
  let state: SegaState = initSegaState();
  let mom = new Float64Array(SHAPE.reduce((a, x) => a * x, 1));
  const phases: string[] = [];
  for (let i = 0; i < steps; i++) {
    const eu = rand(gen);
    const ep = rand(gen);
    const ecs = p.concepts.map(() => rand(gen));
    const ref = referenceStep(eu, ep, ecs, mom, p, i);
    const t = [eu, ep, ...ecs].map((a) => tf.tensor4d(a, SHAPE));
    const r = segaGuidance(t[0]!, t[1]!, t.slice(2), state, p, { index: i, count: steps, timestep: 999 - i });
    expectClose(r.eps.dataSync(), ref.eps, `eps at step ${i}`);
    expectClose(r.semGuidance.dataSync(), ref.sem, `sem_guidance at step ${i}`);
    if (r.state.momentum) expectClose(r.state.momentum.dataSync(), ref.mom, `momentum at step ${i}`);
    phases.push(r.phase);
    disposeSegaState(state);
    state = r.state;
    mom = ref.mom;
    tf.dispose([...t, r.eps, r.semGuidance]);
  }
  disposeSegaState(state);
  return { phases };
}

describe('segaGuidance against a transcription of the reference step', () => {
  it('two concepts through none / partial / full phases, with reverse, per-concept scale, threshold and weights', () => {
    const before = tf.memory().numTensors;
    const p: SegaParams = {
      guidanceScale: 7.5, momentumScale: 0.3, momBeta: 0.6,
      concepts: [{ scale: 6, threshold: 0.9, warmup: 1, weight: 1.2 }, { scale: 4, threshold: 0.5, warmup: 3, weight: 0.8, reverse: true }],
    };
    expect(runBoth(p, 6, 1).phases).toEqual(['none', 'partial', 'partial', 'full', 'full', 'full']);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('cool-down, a negative (clamped) weight and defaults', () => {
    runBoth({ guidanceScale: 5, concepts: [{ warmup: 0, cooldown: 2, threshold: 0.75 }, { warmup: 0, weight: -2 }, {}] }, 4, 2);
    runBoth({ guidanceScale: 3, concepts: [{ warmup: 2, cooldown: 3 }, { warmup: 2, threshold: 0 }] }, 5, 3);
  });

  it('no concepts is classifier-free guidance exactly', () => {
    const gen = createGenerator(9);
    const [u, c] = [tf.tensor4d(rand(gen), SHAPE), tf.tensor4d(rand(gen), SHAPE)];
    const r = segaGuidance(u, c, [], initSegaState(), { guidanceScale: 7.5, concepts: [] }, 0);
    const want = tf.add(u, tf.mul(tf.sub(c, u), 7.5));
    expect(Array.from(r.eps.dataSync())).toEqual(Array.from(want.dataSync()));
    expect(r.phase).toBe('none');
    expect(r.state.momentum).toBeUndefined();
    tf.dispose([u, c, want, r.eps, r.semGuidance]);
  });
});

describe('segaGuidance: defined behaviour, purity and errors', () => {
  it('every warmed-up concept cooled down in the partial phase: adds nothing where diffusers gives NaN', () => {
    const gen = createGenerator(4);
    const [u, c, e0, e1] = [0, 1, 2, 3].map(() => tf.tensor4d(rand(gen), SHAPE));
    // Step 2: concept 0 warmed up (warm-up 0) but cooled down (cool-down 1); concept 1 warms up at step 5.
    const p: SegaParams = { guidanceScale: 7.5, concepts: [{ warmup: 0, cooldown: 1 }, { warmup: 5 }] };
    const r = segaGuidance(u!, c!, [e0!, e1!], initSegaState(), p, 2);
    expect(r.phase).toBe('partial');
    expect(r.warmedUp).toEqual([0]);
    const cfg = tf.add(u!, tf.mul(tf.sub(c!, u!), 7.5));
    expect(Array.from(r.eps.dataSync()).every(Number.isFinite)).toBe(true);
    expect(Array.from(r.eps.dataSync())).toEqual(Array.from(cfg.dataSync()));
    expect(Array.from(r.semGuidance.dataSync()).every((v) => v === 0)).toBe(true);
    tf.dispose([u!, c!, e0!, e1!, cfg, r.eps, r.semGuidance]);
    disposeSegaState(r.state);
  });

  it('leaves its inputs and the input state untouched; a replay term is added last', () => {
    const gen = createGenerator(5);
    const [u, c, e0, rep] = [0, 1, 2, 3].map(() => tf.tensor4d(rand(gen), SHAPE));
    const p: SegaParams = { guidanceScale: 2, concepts: [{ warmup: 0 }] };
    const s1 = segaGuidance(u!, c!, [e0!], initSegaState(), p, 0);
    const m1 = Array.from(s1.state.momentum!.dataSync());
    const a = segaGuidance(u!, c!, [e0!], s1.state, p, 1);
    const b = segaGuidance(u!, c!, [e0!], s1.state, p, 1, { replay: rep! });
    expect(Array.from(s1.state.momentum!.dataSync())).toEqual(m1);
    const want = tf.add(a.eps, rep!).dataSync();
    expectClose(b.eps.dataSync(), want, 'replayed eps', 1e-6);
    tf.dispose([u!, c!, e0!, rep!, s1.eps, s1.semGuidance, a.eps, a.semGuidance, b.eps, b.semGuidance]);
    [s1.state, a.state, b.state].forEach(disposeSegaState);
  });

  it('rejects mismatched counts, shapes and settings with typed errors', () => {
    const u = tf.zeros(SHAPE) as tf.Tensor4D;
    const small = tf.zeros([1, 3, 4, 2]) as tf.Tensor4D;
    const p: SegaParams = { guidanceScale: 7.5, concepts: [{}] };
    expect(() => segaGuidance(u, u, [], initSegaState(), p, 0)).toThrow(OptionError);
    expect(() => segaGuidance(u, small, [u], initSegaState(), p, 0)).toThrow(ShapeMismatchError);
    expect(() => segaGuidance(u, u, [u], initSegaState(), { ...p, concepts: [{ threshold: 2 }] }, 0)).toThrow(/concepts\[0\]\.threshold/);
    expect(() => segaGuidance(u, u, [u], initSegaState(), { ...p, concepts: [{ warmup: -1 }] }, 0)).toThrow(/warmup/);
    expect(() => segaGuidance(u, u, [u], initSegaState(), p, -1)).toThrow(/step/);
    tf.dispose([u, small]);
  });
});

describe('segaParamsFromDiffusers', () => {
  it('maps scalars to every concept, lists by index, ignores extra entries and rejects short lists', () => {
    const p = segaParamsFromDiffusers({
      guidance_scale: 7, edit_guidance_scale: [4, 5], edit_threshold: 0.95, edit_warmup_steps: [10, 12],
      reverse_editing_direction: [false, true], edit_weights: [1, 1, 9], edit_momentum_scale: 0.3, edit_mom_beta: 0.6, edit_cooldown_steps: null,
    }, 2);
    expect(p).toEqual({
      guidanceScale: 7, momentumScale: 0.3, momBeta: 0.6,
      concepts: [{ scale: 4, threshold: 0.95, warmup: 10, weight: 1, reverse: false }, { scale: 5, threshold: 0.95, warmup: 12, weight: 1, reverse: true }],
    });
    expect(resolveSegaParams(segaParamsFromDiffusers({}, 1)).concepts[0]).toEqual({ scale: 5, threshold: 0.9, warmup: 10, cooldown: Infinity, weight: 1, reverse: false });
    expect(() => segaParamsFromDiffusers({ edit_threshold: [0.9] }, 2)).toThrow(/edit_threshold/);
  });
});
