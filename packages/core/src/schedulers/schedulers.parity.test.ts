/**
 * Parity with diffusers for every folder under `<fixtures>/schedulers/` that has a `fixture.json`: each check of
 * the manifest (alphas_cumprod, the timesteps and sigmas of every stored N, and every step of the stored loop) is
 * compared at the manifest's own tolerance. The loop runs free: each step consumes our own previous sample.
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { readSafetensors } from '../io/safetensors.js';
import type { RawTensor } from '../io/types.js';
import { compareArrays, nchwToNhwc } from '../testing/compare.js';
import { fixturesRoot, readManifest, type FixtureCheck, type FixtureManifest } from '../testing/fixtures.js';
import { parseSchedulerConfigJson } from './config-json.js';
import { createScheduler } from './registry.js';
import type { Scheduler, SchedulerPlan, StepOptions } from './types.js';

const root = join(fixturesRoot(), 'schedulers');
const folders = existsSync(root)
  ? readdirSync(root, { withFileTypes: true }).filter((d) => d.isDirectory() && existsSync(join(root, d.name, 'fixture.json'))).map((d) => d.name).sort()
  : [];

beforeAll(async () => {
  await tf.setBackend('cpu');
});

it('finds the scheduler fixtures', () => {
  expect(folders.length, `no fixture.json under ${root} (set SEMEDIT_FIXTURES)`).toBeGreaterThan(0);
});

/** The loop's per-step outputs, NHWC, flattened per step. */
interface LoopRecord {
  plan: SchedulerPlan;
  outputs: Record<string, Float32Array[]>;
  leaked: number;
}

/** Step `i` of a `[T, N, C, H, W]` tensor, as NHWC data. */
function stepNhwc(raw: RawTensor, i: number): Float32Array {
  const stepShape = raw.shape.slice(1);
  const n = stepShape.reduce((a, b) => a * b, 1);
  return nchwToNhwc((raw.data as Float32Array).subarray(i * n, (i + 1) * n), stepShape);
}

function nhwcTensor(data: Float32Array, nchwShape: readonly number[]): tf.Tensor4D {
  const [b, c, h, w] = nchwShape as [number, number, number, number];
  return tf.tensor4d(data, [b, h, w, c]);
}

/** Runs the stored loop: sample_0 = initial_noise · initNoiseSigma, then scale, step, feed our own prev sample. */
function runLoop(m: FixtureManifest, s: Scheduler, io: Map<string, RawTensor>): LoopRecord {
  const get = (k: string) => {
    const t = io.get(k);
    if (!t) throw new Error(`${m.id}: io has no ${k}`);
    return t;
  };
  const steps = get('loop.timesteps').shape[0]!;
  // N of the loop: the one whose plan has as many steps as the stored loop (PNDM has N + 1 steps).
  let n = 1;
  while (n <= steps && s.setTimesteps(n).timesteps.length !== steps) n++;
  const plan = s.setTimesteps(n);
  const summary = JSON.parse(readFileSync(m.files['summary']!, 'utf8')) as Record<string, { eta: number | null }>;
  const eta = summary[basename(m.dir)]?.eta ?? null;
  const noiseRaw = io.get('loop.variance_noise');
  const initial = get('loop.initial_noise');
  const before = tf.memory().numTensors;
  const outputs: Record<string, Float32Array[]> = { 'loop.scaled_model_inputs': [], 'loop.prev_samples': [], 'loop.pred_original_samples': [] };
  const x = nhwcTensor(nchwToNhwc(initial.data as Float32Array, initial.shape), initial.shape);
  let sample = tf.mul(x, plan.initNoiseSigma) as tf.Tensor4D;
  x.dispose();
  let state = s.initState(plan);
  for (let i = 0; i < plan.timesteps.length; i++) {
    const modelOutput = nhwcTensor(stepNhwc(get('loop.model_outputs'), i), initial.shape);
    const scaled = s.scaleModelInput(sample, i, plan);
    outputs['loop.scaled_model_inputs']!.push(scaled.dataSync() as Float32Array);
    const opts: StepOptions = {};
    if (eta !== null) opts.eta = eta;
    if (noiseRaw) opts.noise = nhwcTensor(stepNhwc(noiseRaw, i), initial.shape);
    const out = s.step(modelOutput, i, sample, state, opts);
    outputs['loop.prev_samples']!.push(out.prevSample.dataSync() as Float32Array);
    if (out.predOriginalSample) outputs['loop.pred_original_samples']!.push(out.predOriginalSample.dataSync() as Float32Array);
    tf.dispose([modelOutput, scaled, sample, out.predOriginalSample, opts.noise]);
    sample = out.prevSample;
    state = out.state;
  }
  sample.dispose();
  s.disposeState(state);
  return { plan, outputs, leaked: tf.memory().numTensors - before };
}

for (const folder of folders) {
  const m = readManifest(join(root, folder));
  describe(`${m.id} (diffusers ${String((m.raw['reference'] as { entry?: string } | undefined)?.entry)})`, () => {
    let s: Scheduler;
    let io: Map<string, RawTensor>;
    let loop: LoopRecord;
    let timestepsJson: Record<string, number[]>;

    beforeAll(async () => {
      const configFile = m.files['config']!;
      s = createScheduler(parseSchedulerConfigJson(readFileSync(configFile, 'utf8'), configFile), { file: configFile });
      io = await readSafetensors(m.files['io']!);
      timestepsJson = JSON.parse(readFileSync(m.files['timesteps']!, 'utf8')) as Record<string, number[]>;
      loop = runLoop(m, s, io);
    });

    it(`${m.id}: the loop leaves no tensors behind`, () => {
      expect(loop.leaked).toBe(0);
    });

    /** Our value for a check and the expected one (flat), or a reason it is not handled. */
    function actualAndExpected(c: FixtureCheck): { actual: ArrayLike<number>[]; expected: ArrayLike<number>[] } {
      const stepsN = /^(?:timesteps|sigmas)\.N(\d+)$/.exec(c.output);
      if (c.file === 'timesteps' && /^\d+$/.test(c.output)) {
        const want = timestepsJson[c.output];
        if (!want) throw new Error(`${m.id}: timesteps.json has no "${c.output}"`);
        return { actual: [s.setTimesteps(Number(c.output)).timesteps as number[]], expected: [want] };
      }
      if (c.file !== 'io') throw new Error(`${m.id}: unhandled check file "${c.file}" for ${c.output}`);
      const exp = io.get(c.output);
      if (!exp) throw new Error(`${m.id}: io has no ${c.output}`);
      const data = exp.data as Float32Array;
      if (c.output === 'alphas_cumprod') return { actual: [s.schedule.alphasCumprod], expected: [data] };
      if (stepsN) {
        const plan = s.setTimesteps(Number(stepsN[1]));
        const ours = c.output.startsWith('sigmas') ? plan.sigmas : plan.timesteps;
        if (!ours) throw new Error(`${m.id}: ${s.className} has no sigmas`);
        return { actual: [ours as ArrayLike<number>], expected: [data] };
      }
      if (c.output === 'loop.timesteps') return { actual: [loop.plan.timesteps as number[]], expected: [data] };
      if (c.output === 'loop.init_noise_sigma') return { actual: [[loop.plan.initNoiseSigma]], expected: [data] };
      const ours = loop.outputs[c.output];
      if (!ours) throw new Error(`${m.id}: unhandled check output "${c.output}"`);
      return { actual: ours, expected: Array.from({ length: exp.shape[0]! }, (_, i) => stepNhwc(exp, i)) };
    }

    for (const c of m.checks) {
      it(`${m.id}: ${c.output} (${c.file}, atol ${c.atol}, rtol ${c.rtol})`, () => {
        const { actual, expected } = actualAndExpected(c);
        expect(actual.length, `${m.id} ${c.output}: number of steps`).toBe(expected.length);
        let maxAbs = 0;
        let maxRel = 0;
        actual.forEach((a, i) => {
          const r = compareArrays(Array.from(a), Array.from(expected[i]!), { atol: c.atol, rtol: c.rtol, name: `${m.id} ${c.output} step ${i}` });
          maxAbs = Math.max(maxAbs, r.maxAbs);
          maxRel = Math.max(maxRel, r.maxRel);
          expect(r.ok, r.message).toBe(true);
        });
        console.log(`[parity] ${m.id} ${c.output}: max |a-e| = ${maxAbs.toExponential(3)}, max rel = ${maxRel.toExponential(3)}`);
      });
    }
  });
}
