/**
 * Loading the checkpoint-formats fixture's UNet containers through the real loaders and running the UNet:
 * the LDM single files (.safetensors float32, .ckpt float16 under `state_dict`), the old-style `.bin` diffusers
 * folder and the `fp16` variant folder must reproduce unet-tiny's `noise_pred_scalar_t`, with the tolerance
 * of each check in checkpoint-formats/fixture.json (the check's `from` names its file). The VAE of the
 * single file (`first_stage_model.*`, attention kernels `[C, C, 1, 1]`) must reproduce vae-tiny's outputs,
 * with vae-tiny's tolerances.
 */
import { readFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../backend/index.js';
import { readCheckpoint } from '../io/checkpoint.js';
import type { RawTensor } from '../io/types.js';
import { nchwToNhwcTensor } from '../tensor/layout.js';
import { compareArrays, nchwToNhwc, readManifest } from '../testing/index.js';
import { loadUNet } from '../unet/load.js';
import type { UNet2DConditionModel } from '../unet/unet.js';
import { loadSingleFile } from './single-file.js';

const m = readManifest('checkpoint-formats');
const unetJson = JSON.parse(readFileSync(join(m.components['unet']!, 'config.json'), 'utf8')) as Record<string, unknown>;
const vaeJson = JSON.parse(readFileSync(join(m.components['vae']!, 'config.json'), 'utf8')) as Record<string, unknown>;

/** The loader for the file a check's `from` names. */
const LOADERS: Record<string, () => Promise<UNet2DConditionModel>> = {
  sd_safetensors: async () => (await loadSingleFile(m.files['sd_safetensors']!, { unet: unetJson })).unet!,
  sd_ckpt: async () => (await loadSingleFile(m.files['sd_ckpt']!, { unet: unetJson })).unet!,
  unet_bin: () => loadUNet(dirname(m.files['unet_bin']!)),
  unet_fp16: () => loadUNet(dirname(m.files['unet_fp16']!), { variant: 'fp16' }),
};

function loaderFor(from: string): [string, () => Promise<UNet2DConditionModel>] {
  const hits = Object.keys(LOADERS).filter((k) => from.includes(relative(m.dir, m.files[k]!)));
  if (hits.length !== 1) throw new Error(`cannot tell which file the check "${from}" loads`);
  return [hits[0]!, LOADERS[hits[0]!]!];
}

describe(`${m.id}: UNet containers reproduce unet-tiny`, () => {
  let io: Map<string, RawTensor>;
  beforeAll(async () => {
    await initBackend();
    io = (await readCheckpoint(m.files['unet_reference_io']!)).tensors;
  });
  const checks = m.checks.filter((c) => c.file === 'unet_reference_io');

  it(`${m.id}: has the four forward checks`, () => expect(checks.map((c) => loaderFor(c.from)[0]).sort()).toEqual(Object.keys(LOADERS).sort()));

  it.each(checks.map((c) => [loaderFor(c.from)[0], c] as const))(`${m.id}: %s -> ${'noise_pred_scalar_t'}`, async (name, c) => {
    const unet = await loaderFor(c.from)[1]();
    const sample = nchwToNhwcTensor(io.get('sample')!);
    const ehsRaw = io.get('encoder_hidden_states')!;
    const ehs = tf.tensor3d(ehsRaw.data as Float32Array, ehsRaw.shape as [number, number, number]);
    try {
      const out = unet.forward(sample, (io.get('timestep_scalar')!.data as Float32Array)[0]!, ehs);
      const exp = io.get(c.output)!;
      const r = compareArrays(out.dataSync() as Float32Array, nchwToNhwc(exp.data as Float32Array, exp.shape), { atol: c.atol, rtol: c.rtol, name: `${m.id} ${name} ${c.output}` });
      out.dispose();
      console.log(`${m.id} ${name}: ${r.message.split(':').slice(0, 2).join(':')}`);
      expect(r.ok, r.message).toBe(true);
    } finally {
      tf.dispose([sample, ehs]);
      unet.dispose();
    }
  });
});

describe(`${m.id}: the single file's VAE reproduces vae-tiny`, () => {
  const vm = readManifest(relative(dirname(m.dir), m.components['vae']!));
  it(`${m.id} -> ${vm.id}: decode and encode checks from first_stage_model.* of sd-ldm-single-file.safetensors; extras ignored`, async () => {
    await initBackend();
    const io = (await readCheckpoint(vm.files['io']!)).tensors;
    const { vae, unet, ignored, textEncoderWeights } = await loadSingleFile(m.files['sd_safetensors']!, { vae: vaeJson });
    expect(unet).toBeUndefined();
    const expected = JSON.parse(readFileSync(m.files['sd_expected']!, 'utf8')) as { extras_not_from_diffusers: string[]; ldm_to_diffusers_all: Record<string, string> };
    expect([...ignored].sort()).toEqual([...expected.extras_not_from_diffusers].sort());
    const textKeys = Object.values(expected.ldm_to_diffusers_all).filter((k) => k.startsWith('text_encoder/')).map((k) => k.slice('text_encoder/'.length));
    expect([...textEncoderWeights.keys()].sort()).toEqual(textKeys.sort());
    const image = nchwToNhwcTensor(io.get('image')!);
    const noise = nchwToNhwcTensor(io.get('noise')!);
    const z = nchwToNhwcTensor(io.get('latent_z')!);
    try {
      const got: Record<string, tf.Tensor> = {};
      const post = vae!.encode(image, { noise, observe: (name, t) => (got[name] = tf.keep(tf.clone(t))) });
      Object.assign(got, { posterior_mean: post.mean, posterior_logvar: post.logvar, posterior_std: post.std, posterior_sample: post.sample! });
      got['decoded'] = vae!.decode(z);
      const produced: Record<string, string> = { encoder_raw_moments: 'encoder', quant_moments: 'quant_conv' };
      for (const c of vm.checks) {
        const t = got[c.output] ?? got[produced[c.output] ?? ''];
        if (!t) continue; // pipeline-scaled and reconstruction checks run in vae.parity.test.ts
        const exp = io.get(c.output)!;
        const r = compareArrays(t.dataSync() as Float32Array, nchwToNhwc(exp.data as Float32Array, exp.shape), { atol: c.atol, rtol: c.rtol, name: `${vm.id} via ${m.id} ${c.output}` });
        expect(r.ok, r.message).toBe(true);
      }
      tf.dispose(Object.values(got));
    } finally {
      tf.dispose([image, noise, z]);
      vae!.dispose();
    }
  });
});
