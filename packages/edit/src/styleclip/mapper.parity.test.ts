/**
 * StyleCLIP latent mapper against styleclip-mapper-tiny: every fixture.json check (mapper output, ŵ, the coarse
 * PixelNorm, the loss and its gradients for the input and for every stored parameter) through our loader, on cpu
 * and on the project's default backend (initBackend()); and checkpoint-formats' styleclip-mapper.pt (a real coach
 * save dict) loading to the same parameters.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { readFile } from 'node:fs/promises';
import { initBackend } from '@semedit/core/backend';
import { readCheckpoint, type RawTensor } from '@semedit/core/io';
import { compareArrays, readManifest, type FixtureCheck } from '@semedit/core/testing';
import { latentMapperForward, mapperParamEntries, mapperParamsFromEntries, pixelNormRows, MAPPER_STRENGTH } from './mapper.js';
import { latentMapperFromTensors, loadLatentMapper, type LatentMapper } from './mapper-load.js';

const m = readManifest('styleclip-mapper-tiny');
const formats = readManifest('checkpoint-formats');
const config = JSON.parse(await readFile(m.files['config']!, 'utf8')) as {
  latent_dim: number; n_latent: number; split: Record<'coarse' | 'medium' | 'fine', [number, number]>;
  opts: Record<string, boolean>;
};
const report: string[] = [];
afterAll(() => console.log(`styleclip mapper parity, max |a-e| per check:\n${report.join('\n')}`));

let t: Map<string, RawTensor>;
beforeAll(async () => {
  t = (await readCheckpoint(m.files['tensors']!)).tensors;
});

/** The tensor a check names: forward outputs, the loss, or a gradient (parameter gradients transposed back to `[out, in]`). */
function computeAll(mapper: LatentMapper): Map<string, tf.Tensor> {
  const w = tf.tensor3d(t.get('w')!.data as Float32Array, t.get('w')!.shape as [number, number, number]);
  const entries = mapperParamEntries(mapper.params);
  const keys = [...entries.keys()];
  const out = new Map<string, tf.Tensor>();
  const [c0, c1] = config.split.coarse;
  out.set('delta', mapper.forward(w));
  out.set('w_hat', mapper.apply(w));
  out.set('coarse_pixelnorm', tf.tidy(() => pixelNormRows(tf.slice(w, [0, c0, 0], [-1, c1 - c0, -1]))));
  // loss = sum(delta²); gradients for w and every parameter in one tape.
  const { value, grads } = tf.tidy(() => {
    const f = (...xs: tf.Tensor[]) => {
      const p = mapperParamsFromEntries(new Map(keys.map((k, i) => [k, xs[i + 1]!])));
      return tf.sum(tf.square(latentMapperForward(p, xs[0] as tf.Tensor3D)));
    };
    const r = tf.valueAndGrads(f)([w, ...entries.values()]);
    return { value: r.value, grads: r.grads };
  });
  out.set('loss', tf.reshape(value, [1]));
  value.dispose();
  out.set('grad.w', grads[0]!);
  keys.forEach((k, i) => {
    const g = grads[i + 1]!;
    out.set(`grad.${k}`, k.endsWith('.weight') ? tf.tidy(() => tf.transpose(g)) : g);
    if (k.endsWith('.weight')) g.dispose();
  });
  w.dispose();
  return out;
}

function expectCheck(label: string, check: FixtureCheck, actual: tf.Tensor | undefined): number {
  const expected = t.get(check.output);
  expect(expected, `${check.output} is stored`).toBeDefined();
  expect(actual, `${check.output} is computed`).toBeDefined();
  expect(actual!.shape).toEqual(expected!.shape);
  const r = compareArrays(actual!.dataSync() as Float32Array, expected!.data as Float32Array, {
    atol: check.atol, rtol: check.rtol, name: `${label} ${check.output}`, shape: expected!.shape,
  });
  report.push(`  ${label} ${check.output}: ${r.maxAbs.toExponential(2)} (atol ${check.atol})`);
  expect(r.ok, r.message).toBe(true);
  return r.maxAbs;
}

describe.each(['cpu', 'default'] as const)(`${m.id} on %s`, (which) => {
  let mapper: LatentMapper;
  let backend = '';
  beforeAll(async () => {
    backend = (which === 'cpu' ? await initBackend({ backend: 'cpu' }) : await initBackend()).name;
    mapper = await loadLatentMapper(m.files['weights']!);
  });
  afterAll(() => mapper.dispose());

  it(`${m.id} [${which}]: the loaded mapper matches config.json (dimension, groups)`, () => {
    expect(mapper.latentDim).toBe(config.latent_dim);
    expect(mapper.options).toMatchObject(config.opts);
    expect(config.split.fine[1]).toBe(config.n_latent);
    expect(t.get('w')!.shape).toEqual([t.get('w')!.shape[0], config.n_latent, config.latent_dim]);
  });

  it(`${m.id} [${which}]: every fixture.json check (outputs and gradients of every parameter)`, () => {
    const before = tf.memory().numTensors;
    const computed = computeAll(mapper);
    expect(m.checks.length).toBeGreaterThan(0);
    const gradChecks = m.checks.filter((c) => c.output.startsWith('grad.') && c.output !== 'grad.w');
    expect(gradChecks.length).toBe(mapperParamEntries(mapper.params).size);
    for (const check of m.checks) {
      expect(check.file).toBe('tensors');
      expectCheck(`${m.id} [${which}: ${backend}]`, check, computed.get(check.output));
    }
    tf.dispose([...computed.values()]);
    expect(tf.memory().numTensors).toBe(before);
  });

  it(`${m.id} [${which}]: w_hat is w + ${MAPPER_STRENGTH}·delta (the coach's residual)`, () => {
    const check = m.checks.find((c) => c.output === 'w_hat')!;
    const w = t.get('w')!.data as Float32Array;
    const delta = t.get('delta')!.data as Float32Array;
    const wHat = tf.tensor(w.map((v, i) => v + MAPPER_STRENGTH * delta[i]!), t.get('w')!.shape);
    expectCheck(`${m.id} [closed form]`, check, wHat);
    wHat.dispose();
  });
});

describe(`${formats.id}: styleclip-mapper.pt (coach save dict) loads as ${m.id}'s mapper.safetensors`, () => {
  it(`${formats.id} styleclip_mapper_pt: same parameters bit for bit, opts read, decoder.* reported as leftovers`, async () => {
    await initBackend({ backend: 'cpu' });
    const [a, b] = await Promise.all([loadLatentMapper(formats.files['styleclip_mapper_pt']!), loadLatentMapper(m.files['weights']!)]);
    try {
      expect(a.options).toEqual(b.options);
      expect(a.trainOpts['mapper_type']).toBe('LevelsMapper');
      expect(a.leftovers.length).toBeGreaterThan(0);
      expect(a.leftovers.every((k) => k.startsWith('state_dict/decoder.'))).toBe(true);
      const values = (x: LatentMapper) => [...mapperParamEntries(x.params)].map(([k, v]) => [k, v.shape, Array.from(v.dataSync())]);
      expect(values(a)).toEqual(values(b));
    } finally {
      a.dispose();
      b.dispose();
    }
  });

  it(`${m.id}: bad checkpoints are refused with typed errors naming the key`, async () => {
    const raw = (await readCheckpoint(m.files['weights']!)).tensors;
    const without = new Map(raw);
    without.delete('fine_mapping.mapping.3.bias');
    expect(() => latentMapperFromTensors(without, 'x.safetensors')).toThrow(/fine_mapping\.mapping\.3\.bias/);
    const extra = new Map(raw).set('something.else', raw.get('fine_mapping.mapping.1.bias')!);
    expect(() => latentMapperFromTensors(extra, 'x.safetensors')).toThrow(/something\.else/);
    const wrong = new Map(raw).set('fine_mapping.mapping.2.weight', { dtype: 'float32', shape: [3, 3], data: new Float32Array(9) });
    expect(() => latentMapperFromTensors(wrong, 'x.safetensors')).toThrow(/fine_mapping\.mapping\.2\.weight/);
    expect(() => latentMapperFromTensors(raw, 'x.pt', { no_fine_mapper: true })).toThrow(/no_fine_mapper/);
  });
});
