/**
 * VAE parity with diffusers' AutoencoderKL on the vae-tiny fixture, loaded through the real folder loader and
 * driven by its fixture.json: every check (encoder moments, posterior mean / log-variance / std / sample with
 * the supplied noise, decode, reconstruction, and the pipeline's scaling_factor convention) on the default
 * backend (threaded wasm) and on cpu, without leaking tensors.
 */
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../backend/index.js';
import { readCheckpoint } from '../io/checkpoint.js';
import type { RawTensor } from '../io/types.js';
import { nchwToNhwcTensor } from '../tensor/layout.js';
import { compareArrays, nchwToNhwc, readManifest } from '../testing/index.js';
import { loadVae, type AutoencoderKL } from './vae.js';

const m = readManifest('vae-tiny');

/** Runs every computation the fixture's checks name; returns the outputs by check name (NHWC data). */
function produce(vae: AutoencoderKL, io: Map<string, RawTensor>): Map<string, Float32Array> {
  const out = new Map<string, Float32Array>();
  const read = (name: string, t: tf.Tensor) => out.set(name, t.dataSync() as Float32Array);
  const image = nchwToNhwcTensor(io.get('image')!);
  const noise = nchwToNhwcTensor(io.get('noise')!);
  const z = nchwToNhwcTensor(io.get('latent_z')!);
  const before = tf.memory().numTensors;
  const modules: Record<string, string> = { encoder: 'encoder_raw_moments', quant_conv: 'quant_moments' };
  const post = vae.encode(image, { noise, observe: (name, t) => modules[name] && read(modules[name], t) });
  read('posterior_mean', post.mean);
  read('posterior_logvar', post.logvar);
  read('posterior_std', post.std);
  read('posterior_sample', post.sample!);
  const s = vae.scalingFactor;
  const decodes: [string, () => tf.Tensor][] = [
    ['pipeline_latents_scaled', () => tf.mul(post.sample!, s)],
    ['decoded', () => vae.decode(z)],
    ['reconstruction_from_mean', () => vae.decode(post.mean)],
    ['pipeline_decode_of_scaled_z', () => vae.decode(tf.div(z, s) as tf.Tensor4D)],
  ];
  for (const [name, f] of decodes) tf.tidy(() => void read(name, f()));
  tf.dispose([post.mean, post.logvar, post.std, post.sample!]);
  expect(tf.memory().numTensors, 'tensors leaked by encode/decode').toBe(before);
  tf.dispose([image, noise, z]);
  return out;
}

describe.each([
  { label: 'default backend', init: () => initBackend() },
  { label: 'cpu', init: () => initBackend({ backend: 'cpu' }) },
])(`${m.id} on $label`, ({ label, init }) => {
  let vae: AutoencoderKL;
  let io: Map<string, RawTensor>;
  let got: Map<string, Float32Array>;
  beforeAll(async () => {
    await init();
    io = (await readCheckpoint(m.files['io']!)).tensors;
    vae = await loadVae(m.components['vae']!);
    got = produce(vae, io);
  });
  afterAll(() => vae?.dispose());

  it.each(m.checks.map((c) => [c.output, c] as const))(`${m.id} ${label}: %s`, (_name, c) => {
    const actual = got.get(c.output);
    if (!actual) throw new Error(`no way to produce check "${c.output}" (${c.from})`);
    const exp = io.get(c.output)!;
    const r = compareArrays(actual, c.layout === 'NCHW' ? nchwToNhwc(exp.data as Float32Array, exp.shape) : (exp.data as Float32Array), {
      atol: c.atol, rtol: c.rtol, name: `${m.id} ${label} ${c.output}`,
    });
    console.log(`${m.id} ${label} ${c.output}: max abs ${r.maxAbs.toExponential(3)} (atol ${c.atol})`);
    expect(r.ok, r.message).toBe(true);
  });
});
