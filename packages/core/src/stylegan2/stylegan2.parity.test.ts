/**
 * StyleGAN2 parity with the reference implementations, driven entirely by the two fixtures' `fixture.json`:
 * every check of `stylegan2-nvlabs-tiny` (stylegan2-ada-pytorch) and `stylegan2-rosinality-tiny` (rosinality) —
 * mapping, truncation, W / W+, S-space codes, images for each noise mode, S-space edits and synthesis from S,
 * explicit noise, style mixing, and the gradient with respect to W+ — on threaded wasm and
 * on cpu (gradients on cpu too, except where a fixture documents a leaky-ReLU tie), at each check's tolerance, without leaking tensors. The gradient with respect to S is checked through
 * the chain rule: mapping the S-gradient back through each layer's affine must give the fixture's W+ gradient.
 */
import { readFileSync } from 'node:fs';
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../backend/index.js';
import { readCheckpoint } from '../io/checkpoint.js';
import type { RawTensor } from '../io/types.js';
import { rawToTensor } from '../tensor/layout.js';
import { compareArrays, findCheck, nchwToNhwc, readManifest, type FixtureManifest } from '../testing/index.js';
import { flattenNvlabsKwargs } from './config.js';
import type { StyleGan2 } from './generator.js';
import { loadNvlabsGenerator } from './load-nvlabs.js';
import { loadRosinalityGenerator } from './load-rosinality.js';
import { mixStyles } from './mapping.js';

type Producer = () => tf.Tensor;
const nv = readManifest('stylegan2-nvlabs-tiny');
const ro = readManifest('stylegan2-rosinality-tiny');
const json = (m: FixtureManifest, key: string) => JSON.parse(readFileSync(m.files[key]!, 'utf8')) as Record<string, unknown>;

/** A fixture tensor as a tfjs tensor, NCHW images converted to NHWC. */
function input(io: Map<string, RawTensor>, name: string): tf.Tensor {
  const raw = io.get(name);
  if (!raw) throw new Error(`fixture tensor "${name}" missing`);
  const t = rawToTensor(raw, name);
  return t.rank === 4 ? tf.tidy(() => tf.transpose(t, [0, 2, 3, 1])) : t;
}

/** d/dW+ of sum(G.synthesis(ws) · R). */
function gradWplus(G: StyleGan2, ws: tf.Tensor3D, r: tf.Tensor): tf.Tensor {
  return tf.grad((w: tf.Tensor) => tf.sum(tf.mul(G.synthesis(w as tf.Tensor3D), r)))(ws);
}

/**
 * The same gradient through S: d/dS of sum(G.synthesisFromStyles(S) · R) at S = styles(ws), mapped back by the
 * chain rule through every affine (y = w·(A/√w_dim) + b ⇒ dL/dw = dL/dy · (A/√w_dim)ᵀ), summed per W+ row.
 */
function gradWplusViaS(G: StyleGan2, ws: tf.Tensor3D, r: tf.Tensor): tf.Tensor {
  return tf.tidy(() => {
    const s = G.styles(ws);
    const gs = tf.grads((...xs: tf.Tensor[]) => tf.sum(tf.mul(G.synthesisFromStyles(xs as tf.Tensor2D[]), r)))(s);
    const rows: tf.Tensor[] = Array.from({ length: G.numWs }, () => tf.zeros([ws.shape[0], G.config.wDim]));
    G.styleLayers.forEach((l, i) => {
      const block = G.params.synthesis[`b${l.resolution}`]!;
      const a = block[l.layer]!.affine.weight; // [w_dim, C]
      rows[l.wIndex] = tf.add(rows[l.wIndex]!, tf.matMul(gs[i]!, tf.mul(a, 1 / Math.sqrt(G.config.wDim)), false, true));
    });
    return tf.stack(rows, 1);
  });
}

function nvlabsProducers(G: StyleGan2, m: FixtureManifest, io: Map<string, RawTensor>): Map<string, Producer> {
  const meta = json(m, 'meta') as { edits: { tensor: string; layer: string; channel: number; delta: number }[] };
  const p = new Map<string, Producer>();
  const z = () => input(io, 'z') as tf.Tensor2D;
  const ws1 = () => input(io, 'ws_psi1') as tf.Tensor3D;
  const storedStyles = () => G.styleLayers.map((l) => input(io, `styles.${l.name}`) as tf.Tensor2D);
  p.set('ws_psi1', () => G.mapping(z()));
  p.set('ws_psi07', () => G.mapping(z(), { truncationPsi: 0.7 }));
  p.set('img_const', () => G.synthesis(ws1(), { noiseMode: 'const' }));
  for (const l of G.styleLayers) p.set(`styles.${l.name}`, () => G.styles(ws1())[l.index]!);
  p.set('styles_concat', () => G.concatStyles(G.styles(ws1())));
  p.set('img_psi07_const', () => G.synthesis(input(io, 'ws_psi07') as tf.Tensor3D, { noiseMode: 'const' }));
  p.set('img_none', () => G.synthesis(ws1(), { noiseMode: 'none' }));
  p.set('wplus', () => G.mappingW(input(io, 'z_wplus')));
  p.set('img_wplus_const', () => G.synthesis(input(io, 'wplus') as tf.Tensor3D, { noiseMode: 'const' }));
  p.set('styles_wplus_concat', () => G.concatStyles(G.styles(input(io, 'wplus') as tf.Tensor3D)));
  p.set('grad_wplus', () => gradWplus(G, input(io, 'wplus') as tf.Tensor3D, input(io, 'grad_weight_img')));
  p.set('grad_wplus#via_S', () => gradWplusViaS(G, input(io, 'wplus') as tf.Tensor3D, input(io, 'grad_weight_img')));
  for (const e of meta.edits) {
    p.set(e.tensor, () => {
      const s = storedStyles();
      const l = G.styleLayers.find((x) => x.name === e.layer)!;
      const onehot = tf.reshape(tf.cast(tf.oneHot([e.channel], l.channels), 'float32'), [1, l.channels]);
      s[l.index] = tf.add(s[l.index]!, tf.mul(onehot, e.delta));
      return G.synthesisFromStyles(s, { noiseMode: 'const' });
    });
  }
  p.set('img_from_styles', () => G.synthesisFromStyles(storedStyles(), { noiseMode: 'const' }));
  return p;
}

function rosinalityProducers(G: StyleGan2, m: FixtureManifest, io: Map<string, RawTensor>): Map<string, Producer> {
  const meta = json(m, 'meta') as { inject_index: number };
  const p = new Map<string, Producer>();
  const z = () => input(io, 'z') as tf.Tensor2D;
  const wsZ = () => input(io, 'latent_returned') as tf.Tensor3D;
  const wplus = () => input(io, 'wplus') as tf.Tensor3D;
  p.set('w', () => G.mappingW(z()));
  p.set('mean_latent', () => G.meanLatent(input(io, 'mean_latent_z') as tf.Tensor2D));
  p.set('img', () => G.generate(z(), { noiseMode: 'const' }));
  p.set('latent_returned', () => G.mapping(z()));
  for (const l of G.styleLayers) p.set(`styles.${l.rosinalityName}`, () => G.styles(wsZ())[l.index]!);
  p.set('styles_concat', () => G.concatStyles(G.styles(wsZ())));
  p.set('img_trunc07', () => G.generate(z(), { truncationPsi: 0.7, truncationLatent: input(io, 'mean_latent') }));
  p.set('img_mix', () => G.synthesis(mixStyles(G.mapping(z()), G.mapping(input(io, 'z2') as tf.Tensor2D), meta.inject_index)));
  p.set('wplus', () => G.mappingW(input(io, 'z_wplus')));
  p.set('img_wplus', () => G.synthesis(wplus()));
  p.set('styles_wplus_concat', () => G.concatStyles(G.styles(wplus())));
  p.set('grad_wplus', () => gradWplus(G, wplus(), input(io, 'grad_weight_img')));
  p.set('grad_wplus#via_S', () => gradWplusViaS(G, wplus(), input(io, 'grad_weight_img')));
  p.set('img_wplus_explicit_noise', () => {
    const noise = G.styleLayers.filter((l) => l.kind === 'conv').map((l) => input(io, `explicit_noise.${l.convIndex}`));
    return G.synthesis(wplus(), { noise });
  });
  return p;
}

/** Runs every producer in its own tidy; returns the results (NHWC) and checks nothing leaked. */
function produceAll(producers: Map<string, Producer>): Map<string, Float32Array> {
  const before = tf.memory().numTensors;
  const out = new Map<string, Float32Array>();
  for (const [name, f] of producers) out.set(name, tf.tidy(() => f().dataSync() as Float32Array));
  expect(tf.memory().numTensors, 'tensors leaked by the StyleGAN2 forward / gradient').toBe(before);
  return out;
}

const fixtures = [
  { m: nv, load: () => loadNvlabsGenerator(nv.files['weights']!, { config: flattenNvlabsKwargs(json(nv, 'config')['kwargs'] as Record<string, unknown>) }), producers: nvlabsProducers },
  {
    m: ro,
    load: () => {
      const c = json(ro, 'config') as { kwargs: { size: number; style_dim: number; n_mlp: number; channel_multiplier: number; lr_mlp: number }; channels_override: Record<string, number> };
      return loadRosinalityGenerator(ro.files['weights']!, { config: c.kwargs, channels: c.channels_override });
    },
    producers: rosinalityProducers,
  },
];
/**
 * Fixtures whose gradient check sits on a documented leaky-ReLU tie on cpu: the rosinality W+ draw has one
 * pre-activation of sample 1 at `convs.5` (synthesis.b32.conv1) within 1e-7 of the kink (6e-8 on cpu, 9e-8 on
 * wasm, pixel rounding decides the side), so cpu's float32 rounding flips that slope and sample 1's gradient moves
 * by ~3e-3: the fixture README's "kink" caveat, not a bug. Every other gradient check runs on cpu too.
 */
const CPU_GRADIENT_TIE = new Set([ro.id]);
const backends = [
  { label: 'wasm', init: () => initBackend({ backend: 'wasm' }), gradients: (_id: string) => true },
  { label: 'cpu', init: () => initBackend({ backend: 'cpu' }), gradients: (id: string) => !CPU_GRADIENT_TIE.has(id) },
];

describe.each(backends)('StyleGAN2 on $label', ({ label, init, gradients }) => {
  describe.each(fixtures)('$m.id', ({ m, load, producers }) => {
    let G: StyleGan2;
    let io: Map<string, RawTensor>;
    let got: Map<string, Float32Array>;
    beforeAll(async () => {
      await init();
      io = (await readCheckpoint(m.files['tensors']!)).tensors;
      G = await load();
      const all = producers(G, m, io);
      if (!gradients(m.id)) for (const k of [...all.keys()]) if (k.startsWith('grad_')) all.delete(k);
      got = produceAll(all);
    });
    afterAll(() => G?.dispose());

    const cases = [...m.checks.map((c) => [c.output, c.output] as const), ['grad_wplus#via_S', 'grad_wplus'] as const]
      .filter(([name]) => gradients(m.id) || !name.startsWith('grad_'));
    it.each(cases)(`${m.id} ${label}: %s`, (name, output) => {
      const c = findCheck(m, output);
      const actual = got.get(name);
      if (!actual) throw new Error(`no producer for check "${c.output}" (${c.from})`);
      const exp = io.get(c.output)!;
      const expData = c.layout === 'NCHW' ? nchwToNhwc(exp.data as Float32Array, exp.shape) : (exp.data as Float32Array);
      const r = compareArrays(actual, expData, { atol: c.atol, rtol: c.rtol, name: `${m.id} ${label} ${name}` });
      console.log(`${m.id} ${label} ${name}: max abs ${r.maxAbs.toExponential(3)} (atol ${c.atol}, rtol ${c.rtol})`);
      expect(actual.length).toBe(expData.length);
      expect(r.ok, r.message).toBe(true);
    });
  });
});
