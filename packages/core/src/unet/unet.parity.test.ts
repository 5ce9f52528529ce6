/**
 * UNet parity with diffusers on the tiny fixtures (unet-tiny: SD1 layout; unet-tiny-sd2: linear projections,
 * per-block heads, upcast_attention), loaded through the real folder loader and driven by each fixture.json:
 * every check (outputs for scalar / per-row / float timesteps, module outputs, attention probabilities seen by
 * a hook, slices concatenated), every case on threaded wasm and on cpu; also with attention chunked
 * into many slices, and without leaking tensors.
 */
import { readFileSync } from 'node:fs';
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../backend/index.js';
import { readCheckpoint } from '../io/checkpoint.js';
import type { RawTensor } from '../io/types.js';
import { nchwToNhwcTensor } from '../tensor/layout.js';
import { compareArrays, nchwToNhwc, readManifest, type FixtureCheck, type FixtureManifest } from '../testing/index.js';
import type { AttentionHookResolver } from './hooks.js';
import { loadUNet } from './load.js';
import type { UNet2DConditionModel, UNetForwardOptions } from './unet.js';

type Run = 'scalar' | 'vector' | 'float';
interface Captured { outputs: Map<string, Float32Array>; probs: Map<string, Float32Array> }

/** Which forward a check's output comes from (the fixture's README names them). */
function runOf(output: string): Run {
  if (output.startsWith('noise_pred_vector')) return 'vector';
  if (output.startsWith('noise_pred_float')) return 'float';
  return 'scalar';
}

/** Gathers a hook's slices `[B, hc, qc, K]` into one `[B·heads, Q, K]` array (the fixture's layout). */
function probsCollector(captures: Record<string, string>, into: Map<string, Float32Array>): AttentionHookResolver {
  const byLayer = new Map(Object.entries(captures).map(([out, layer]) => [layer, out]));
  return (ctx) => {
    const out = byLayer.get(ctx.layer);
    if (!out) return undefined;
    return (probs, c) => {
      const [b, hc, qc, k] = probs.shape;
      const q = c.resolution.height * c.resolution.width;
      const all = into.get(out) ?? new Float32Array(b * c.heads * q * k).fill(NaN);
      into.set(out, all);
      const data = probs.dataSync();
      for (let r = 0; r < b; r++) for (let h = 0; h < hc; h++) for (let i = 0; i < qc; i++) {
        const src = ((r * hc + h) * qc + i) * k;
        const dst = ((r * c.heads + c.slice.heads[0] + h) * q + c.slice.queries[0] + i) * k;
        all.set(data.subarray(src, src + k), dst);
      }
      return probs;
    };
  };
}

function forwardAll(unet: UNet2DConditionModel, io: Map<string, RawTensor>, captures: Record<string, string>, runs: readonly Run[], maxScoreElements?: number): Captured {
  const sample = nchwToNhwcTensor(io.get('sample')!);
  const ehsRaw = io.get('encoder_hidden_states')!;
  const ehs = tf.tensor3d(ehsRaw.data as Float32Array, ehsRaw.shape as [number, number, number]);
  const vector = tf.tensor1d(io.get('timesteps_vector')!.data as Float32Array);
  const timesteps: Record<Run, number | number[] | tf.Tensor> = {
    scalar: (io.get('timestep_scalar')!.data as Float32Array)[0]!,
    vector,
    float: Array.from(io.get('timesteps_float')!.data as Float32Array),
  };
  const outputs = new Map<string, Float32Array>();
  const probs = new Map<string, Float32Array>();
  for (const run of runs) {
    const opts: UNetForwardOptions = run !== 'scalar' ? {} : {
      observe: (name, t) => outputs.set(`inter.${name}`, t.dataSync() as Float32Array),
      attention: { hooks: probsCollector(captures, probs), maxScoreElements: maxScoreElements || undefined },
    };
    const before = tf.memory().numTensors;
    const out = unet.forward(sample, timesteps[run], ehs, opts);
    outputs.set(run, out.dataSync() as Float32Array);
    out.dispose();
    expect(tf.memory().numTensors, `tensors leaked by the ${run} forward`).toBe(before);
  }
  tf.dispose([sample, ehs, vector]);
  return { outputs, probs };
}

function check(c: FixtureCheck, got: Captured, io: Map<string, RawTensor>, label: string): number {
  const exp = io.get(c.output);
  if (!exp) throw new Error(`fixture io has no "${c.output}"`);
  const expected = exp.data as Float32Array;
  let actual: Float32Array | undefined;
  if (c.output.startsWith('noise_pred_')) actual = got.outputs.get(runOf(c.output));
  else if (c.output.startsWith('inter.')) actual = got.outputs.get(c.output);
  else if (c.output.startsWith('attn_probs.')) actual = got.probs.get(c.output);
  if (!actual) throw new Error(`no way to produce check "${c.output}" (${c.from})`);
  const want = c.layout === 'NCHW' ? nchwToNhwc(expected, exp.shape) : expected;
  const r = compareArrays(actual, want, { atol: c.atol, rtol: c.rtol, name: `${label} ${c.output}` });
  expect(r.ok, r.message).toBe(true);
  return r.maxAbs;
}

const ALL_RUNS: readonly Run[] = ['scalar', 'vector', 'float'];
/**
 * cpu (pure JS) is slow on the attention here: it runs the scalar-timestep forward (most checks) of unet-tiny-sd2
 * only (~12 s; unet-tiny's 8 heads at 32x32 take ~15-30 s).
 */
/** Every case on both backends every machine has: threaded wasm and the pure-JS cpu (slow, but every case). */
const BACKENDS = [
  { label: 'wasm', init: () => initBackend({ backend: 'wasm' }), runs: ALL_RUNS },
  { label: 'cpu', init: () => initBackend({ backend: 'cpu' }), runs: ALL_RUNS },
];

describe.each(['unet-tiny', 'unet-tiny-sd2'])('UNet parity: %s', (name) => {
  const m: FixtureManifest = readManifest(name);
  const meta = JSON.parse(readFileSync(m.files['meta']!, 'utf8')) as { attn_capture: Record<string, string> };
  let io: Map<string, RawTensor>;
  beforeAll(async () => {
    io = (await readCheckpoint(m.files['io']!)).tensors;
  });

  describe.each(BACKENDS)(`${m.id} on $label`, ({ label, init, runs }) => {
    let unet: UNet2DConditionModel;
    let got: Captured;
    beforeAll(async () => {
      const info = await init();
      unet = await loadUNet(m.components['unet']!);
      const t0 = performance.now();
      got = forwardAll(unet, io, meta.attn_capture, runs);
      console.log(`${m.id} [${info.name}, ${info.threads} threads]: ${runs.length} forward(s) + captures in ${(performance.now() - t0).toFixed(0)} ms`);
    });
    afterAll(() => unet?.dispose());

    const checks = m.checks.filter((c) => runs.includes(runOf(c.output)));
    it.each(checks.map((c) => [c.output, c] as const))(`${m.id} ${label}: %s`, (_out, c) => {
      const maxAbs = check(c, got, io, `${m.id} ${label}`);
      console.log(`${m.id} ${label} ${c.output}: max abs ${maxAbs.toExponential(3)} (atol ${c.atol})`);
    });
  });

  it(`${m.id}: attention chunked into head/query slices gives the same outputs and hook probabilities`, async () => {
    await initBackend();
    const unet = await loadUNet(m.components['unet']!);
    try {
      const cross = io.get('attn_probs.cross')!.shape; // [B·heads, Q, K]
      const bound = Math.floor((2 * cross[1]! * cross[2]!) / 3); // splits each captured head into several query chunks
      const got = forwardAll(unet, io, meta.attn_capture, ['scalar'], bound);
      for (const c of m.checks.filter((c) => runOf(c.output) === 'scalar')) check(c, got, io, `${m.id} chunked (${bound})`);
    } finally {
      unet.dispose();
    }
  });
});
