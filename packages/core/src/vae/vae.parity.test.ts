/**
 * VAE parity with diffusers' AutoencoderKL on the vae-tiny fixture, loaded through the real folder loader and
 * driven by its fixture.json: every check (encoder moments, posterior mean / log-variance / std / sample with
 * the supplied noise, decode, reconstruction, and the pipeline's scaling through `scaleLatents` /
 * `unscaleLatents`) on the default backend (threaded wasm) and on cpu, without leaking tensors.
 */
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../backend/index.js';
import { readCheckpoint } from '../io/checkpoint.js';
import type { RawTensor } from '../io/types.js';
import { nchwToNhwcTensor } from '../tensor/layout.js';
import { readManifest, runManifestChecks } from '../testing/index.js';
import { loadVae, type AutoencoderKL } from './vae.js';

const m = readManifest('vae-tiny');

/** The module observed for each intermediate check. */
const MODULES: Record<string, string> = { encoder_raw_moments: 'encoder', quant_moments: 'quant_conv' };

/** Runs every computation the fixture's checks name; returns the outputs by check name (NHWC). */
function produce(vae: AutoencoderKL, io: Map<string, RawTensor>): Map<string, tf.Tensor> {
  const out = new Map<string, tf.Tensor>();
  const image = nchwToNhwcTensor(io.get('image')!);
  const noise = nchwToNhwcTensor(io.get('noise')!);
  const z = nchwToNhwcTensor(io.get('latent_z')!);
  const observed = new Map<string, tf.Tensor>();
  const post = vae.encode(image, { noise, observe: (name, t) => observed.set(name, tf.keep(tf.clone(t))) });
  for (const [check, module] of Object.entries(MODULES)) if (observed.has(module)) out.set(check, observed.get(module)!);
  out.set('posterior_mean', post.mean);
  out.set('posterior_logvar', post.logvar);
  out.set('posterior_std', post.std);
  out.set('posterior_sample', post.sample!);
  out.set('pipeline_latents_scaled', vae.scaleLatents(post.sample!));
  out.set('decoded', vae.decode(z));
  out.set('reconstruction_from_mean', vae.decode(post.mean));
  // diffusers' pipeline decodes `z / scaling_factor`: the fixture's `latent_z` stands for pipeline latents here
  out.set('pipeline_decode_of_scaled_z', tf.tidy(() => vae.decode(vae.unscaleLatents(z))));
  tf.dispose([image, noise, z, ...[...observed].filter(([k]) => !Object.values(MODULES).includes(k)).map(([, t]) => t)]);
  return out;
}

describe.each([
  { label: 'default backend', init: () => initBackend() },
  { label: 'cpu', init: () => initBackend({ backend: 'cpu' }) },
])(`${m.id} on $label`, ({ label, init }) => {
  let vae: AutoencoderKL;
  let io: Map<string, RawTensor>;
  beforeAll(async () => {
    await init();
    io = (await readCheckpoint(m.files['io']!)).tensors;
    vae = await loadVae(m.components['vae']!);
  });
  afterAll(() => vae?.dispose());

  it(`${m.id} ${label}: every fixture.json check, no tensor leaked`, async () => {
    const before = tf.memory().numTensors;
    const got = produce(vae, io);
    const r = await runManifestChecks(m, (c) => got.get(c.output), { label });
    tf.dispose([...got.values()]);
    expect(r.ran).toBe(m.checks.length);
    expect(tf.memory().numTensors, 'tensors leaked by encode/decode').toBe(before);
  });
});
