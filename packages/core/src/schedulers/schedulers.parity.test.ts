/**
 * Parity with diffusers for every folder under `<fixtures>/schedulers/` that has a `fixture.json`: each check of
 * the manifest (alphas_cumprod, the timesteps and sigmas of every stored N, and every call of the stored loop) is
 * compared at the manifest's own tolerance. The loop runs free: each call consumes our own previous sample. The
 * scheduler comes from the folder's `scheduler_config.json`, the loop's N, η and step count from `summary.json`,
 * the injected noise (DDIM η > 0, and the draws of the stochastic kinds) from `loop.variance_noise[i]` for call i.
 * Every check the manifest lists runs (one it cannot produce fails), and the number run is asserted and printed.
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { readSafetensors } from '../io/safetensors.js';
import type { RawTensor } from '../io/types.js';
import { compareArrays, nchwToNhwc } from '../fixtures/compare.js';
import { fixturesRoot, readManifest, type FixtureCheck, type FixtureManifest } from '../fixtures/manifest.js';
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

/** One folder's entry of `summary.json`. */
interface SummaryEntry {
  cls: string;
  loop_steps: number;
  loop_N?: number;
  eta: number | null;
  step_noise?: string | null;
  timesteps_loop: number[];
}

/** The loop's per-call outputs, NHWC, flattened per call, keyed by the io key they are compared with. */
interface LoopRecord {
  plan: SchedulerPlan;
  outputs: Record<string, Float32Array[]>;
  leaked: number;
}

/** Step outputs and the io keys that hold them (x̂₀: `pred_original_sample`, or LCM's `denoised`). */
const LOOP_OUTPUTS = {
  scaled: 'loop.scaled_model_inputs', prev: 'loop.prev_samples', x0: 'loop.pred_original_samples', denoised: 'loop.denoised',
} as const;

/** Call `i` of a `[T, N, C, H, W]` tensor, as NHWC data. */
function stepNhwc(raw: RawTensor, i: number): Float32Array {
  const stepShape = raw.shape.slice(1);
  const n = stepShape.reduce((a, b) => a * b, 1);
  return nchwToNhwc((raw.data as Float32Array).subarray(i * n, (i + 1) * n), stepShape);
}

function nhwcTensor(data: Float32Array, nchwShape: readonly number[]): tf.Tensor4D {
  const [b, c, h, w] = nchwShape as [number, number, number, number];
  return tf.tensor4d(data, [b, h, w, c]);
}

/** N of the stored loop: `loop_N` of the summary, else the N whose plan has the summary's loop timesteps. */
function loopN(s: Scheduler, entry: SummaryEntry): number {
  if (entry.loop_N !== undefined) return entry.loop_N;
  const want = JSON.stringify(entry.timesteps_loop);
  for (let n = 1; n <= entry.loop_steps; n++) if (JSON.stringify(s.setTimesteps(n).timesteps) === want) return n;
  throw new Error(`no N gives the summary's timesteps_loop (${want})`);
}

/** Runs the stored loop: sample_0 = initial_noise · initNoiseSigma, then scale, step, feed our own prev sample. */
function runLoop(m: FixtureManifest, s: Scheduler, io: Map<string, RawTensor>, entry: SummaryEntry): LoopRecord {
  const get = (k: string) => {
    const t = io.get(k);
    if (!t) throw new Error(`${m.id}: io has no ${k}`);
    return t;
  };
  const plan = s.setTimesteps(loopN(s, entry));
  expect(plan.timesteps.length, `${m.id}: model calls of the loop (summary loop_steps)`).toBe(entry.loop_steps);
  const noiseRaw = io.get('loop.variance_noise');
  const initial = get('loop.initial_noise');
  const before = tf.memory().numTensors;
  const outputs: Record<string, Float32Array[]> = Object.fromEntries(Object.values(LOOP_OUTPUTS).map((k) => [k, []]));
  const x = nhwcTensor(nchwToNhwc(initial.data as Float32Array, initial.shape), initial.shape);
  let sample = tf.mul(x, plan.initNoiseSigma) as tf.Tensor4D;
  x.dispose();
  let state = s.initState(plan);
  for (let i = 0; i < plan.timesteps.length; i++) {
    const modelOutput = nhwcTensor(stepNhwc(get('loop.model_outputs'), i), initial.shape);
    const scaled = s.scaleModelInput(sample, i, plan);
    outputs[LOOP_OUTPUTS.scaled]!.push(scaled.dataSync() as Float32Array);
    const opts: StepOptions = {};
    if (entry.eta !== null) opts.eta = entry.eta;
    if (noiseRaw) opts.noise = nhwcTensor(stepNhwc(noiseRaw, i), initial.shape);
    const out = s.step(modelOutput, i, sample, state, opts);
    outputs[LOOP_OUTPUTS.prev]!.push(out.prevSample.dataSync() as Float32Array);
    if (out.predOriginalSample) {
      const x0 = out.predOriginalSample.dataSync() as Float32Array;
      outputs[LOOP_OUTPUTS.x0]!.push(x0);
      outputs[LOOP_OUTPUTS.denoised]!.push(x0);
    }
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
    let entry: SummaryEntry;
    let checksRun = 0;

    beforeAll(async () => {
      const configFile = m.files['config']!;
      s = createScheduler(parseSchedulerConfigJson(readFileSync(configFile, 'utf8'), configFile), { file: configFile });
      const summary = JSON.parse(readFileSync(m.files['summary']!, 'utf8')) as Record<string, SummaryEntry>;
      const e = summary[basename(m.dir)];
      if (!e) throw new Error(`${m.id}: summary.json has no entry "${basename(m.dir)}"`);
      entry = e;
      io = await readSafetensors(m.files['io']!);
      timestepsJson = JSON.parse(readFileSync(m.files['timesteps']!, 'utf8')) as Record<string, number[]>;
      loop = runLoop(m, s, io, entry);
    });

    it(`${m.id}: the class is the summary's, the loop leaves no tensors behind`, () => {
      expect(s.className).toBe(entry.cls);
      expect(s.stochastic, `${m.id}: step_noise "${entry.step_noise}"`).toBe(entry.step_noise === 'generator');
      expect(loop.leaked).toBe(0);
    });

    it(`${m.id}: callStep maps the loop's model calls onto its N sampler steps`, () => {
      const { callStep, numSteps, timesteps } = loop.plan;
      expect(callStep.length).toBe(timesteps.length);
      expect(numSteps).toBe(loop.plan.numInferenceSteps);
      expect(callStep[callStep.length - 1]! + 1).toBe(numSteps);
    });

    /** Our value for a check and the expected one (flat); throws for a check it cannot produce. */
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
        expect(actual.length, `${m.id} ${c.output}: number of calls`).toBe(expected.length);
        let maxAbs = 0;
        let maxRel = 0;
        actual.forEach((a, i) => {
          const r = compareArrays(Array.from(a), Array.from(expected[i]!), { atol: c.atol, rtol: c.rtol, name: `${m.id} ${c.output} call ${i}` });
          maxAbs = Math.max(maxAbs, r.maxAbs);
          maxRel = Math.max(maxRel, r.maxRel);
          expect(r.ok, r.message).toBe(true);
        });
        checksRun++;
        console.log(`[parity] ${m.id} ${c.output}: max |a-e| = ${maxAbs.toExponential(3)}, max rel = ${maxRel.toExponential(3)}`);
      });
    }

    it(`${m.id}: every check of the manifest ran and passed`, () => {
      console.log(`[parity] ${m.id}: ${checksRun} of ${m.checks.length} checks run`);
      expect(m.checks.length, `${m.id}: the manifest lists no checks`).toBeGreaterThan(0);
      expect(checksRun).toBe(m.checks.length);
    });
  });
}
