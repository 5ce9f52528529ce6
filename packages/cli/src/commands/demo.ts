/**
 * `semedit demo`: the main job. For now (before the shapes-world models exist) it reports the backend, loads the
 * `unet-tiny` reference fixture through the real safetensors reader and strict loader, runs the UNet's first
 * layer (`conv_in`) on the fixture's input, checks it against the reference's own output with the fixture's
 * tolerance, and writes the input and feature maps as a picture plus a JSON report.
 * @module
 */
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '@semedit/core/backend';
import { writeGrid, heatmapToImage, type Image } from '@semedit/core/image';
import { openSafetensors, takeExpected } from '@semedit/core/io';
import { convWeightToHwio, nchwToNhwcTensor, rawToTensor } from '@semedit/core/tensor';
import { loadStableDiffusion, runTextToImage } from '@semedit/core/pipeline';
import { assembleSdFolder, checkAgainstFixture, compareArrays, readFixtureTensor, readManifest } from '@semedit/core/fixtures';
import { parseCommandArgs } from '../args.js';
import type { Command } from './command.js';

/** The JSON report `semedit demo` writes to `<out>/report.json` (a contract: other tools read it). */
export interface DemoReport {
  backend: { name: string; threads: number; simd: boolean };
  fixture: string;
  layer: string;
  check: { output: string; atol: number; rtol: number; maxAbs: number; ok: boolean };
  /** Text-to-image on the tiny reference pipeline, compared with diffusers' image for the same latents. */
  txt2img: { fixture: string; prompt: string; maxAbs: number; atol: number; ok: boolean };
  images: string[];
  ms: number;
}

async function runTinyPipeline(fixture: string, outDir: string) {
  const m = readManifest(fixture);
  const params = JSON.parse(await readFile(m.files['params']!, 'utf8')) as {
    prompt: string; num_inference_steps: number; guidance_scale: number; height: number; width: number; scheduler: { cls: string } & Record<string, unknown>;
  };
  const tmp = await mkdtemp(join(tmpdir(), 'semedit-demo-'));
  try {
    const { cls, ...rest } = params.scheduler;
    const sd = await loadStableDiffusion(await assembleSdFolder(m, join(tmp, 'sd'), { _class_name: cls, ...rest }));
    const init = nchwToNhwcTensor(await readFixtureTensor(m, 'io', 'initial_latents'), 'initial_latents');
    const r = await runTextToImage(sd, {
      prompt: params.prompt, guidanceScale: params.guidance_scale, numInferenceSteps: params.num_inference_steps,
      height: params.height, width: params.width, latents: init,
    });
    const cmp = await checkAgainstFixture(m, 'no_edit.image', r.images, { layout: 'NHWC' });
    const ref = nchwToNhwcTensor(await readFixtureTensor(m, 'io', 'no_edit.image'), 'no_edit.image');
    const png = join(outDir, 'txt2img.png');
    const zoomed = tf.tidy(() => tf.image.resizeNearestNeighbor(tf.concat([r.images, ref]), [params.height * 2, params.width * 2]) as tf.Tensor4D);
    await writeGrid(png, zoomed, { range: '0-1', cols: 2, padding: 2, labels: ['semedit', 'diffusers'] });
    tf.dispose([init, r.latents, r.images, ref, zoomed]);
    sd.dispose();
    const check = m.checks.find((c) => c.output === 'no_edit.image')!;
    return { fixture: m.id, prompt: params.prompt, maxAbs: cmp.maxAbs, atol: check.atol, ok: cmp.ok, png };
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}

async function runConvIn(fixture: string) {
  const m = readManifest(fixture);
  const weightsPath = m.files['weights'];
  const ioPath = m.files['io'];
  if (!weightsPath || !ioPath) throw new Error(`fixture ${m.id} lacks files.weights or files.io`);
  const weights = await openSafetensors(weightsPath);
  const io = await openSafetensors(ioPath);
  try {
    const infos = new Map(weights.names().map((n) => [n, weights.info(n)] as const));
    const w = weights.info('conv_in.weight').shape;
    takeExpected(infos, { 'conv_in.weight': w, 'conv_in.bias': [w[0]!] }, { file: weightsPath, allowLeftovers: true });
    const kernel = convWeightToHwio(await weights.read('conv_in.weight'), 'conv_in.weight');
    const bias = rawToTensor(await weights.read('conv_in.bias'), 'conv_in.bias');
    const sample = nchwToNhwcTensor(await io.read('sample'), 'sample'); // [B, H, W, 4]
    const expected = nchwToNhwcTensor(await io.read('inter.conv_in'), 'inter.conv_in'); // [B, H, W, C]
    const check = m.checks.find((c) => c.output === 'inter.conv_in');
    if (!check) throw new Error(`fixture ${m.id} has no check for inter.conv_in`);
    const out = tf.tidy(() => tf.add(tf.conv2d(sample, kernel, 1, 'same'), bias) as tf.Tensor4D);
    const cmp = compareArrays(out.dataSync() as Float32Array, expected.dataSync() as Float32Array, {
      atol: check.atol, rtol: check.rtol, name: 'inter.conv_in',
    });
    const tiles: Image[] = [];
    const labels: string[] = [];
    const [, , , cin] = sample.shape;
    const [, , , cout] = out.shape;
    const [, h, wd] = sample.shape;
    const zoom = (t: tf.Tensor4D, c: number) =>
      tf.squeeze(tf.image.resizeNearestNeighbor(tf.slice(t, [0, 0, 0, c], [1, -1, -1, 1]), [h * 3, wd * 3])) as tf.Tensor2D;
    tf.tidy(() => {
      for (let c = 0; c < cin; c++) {
        tiles.push(heatmapToImage(zoom(sample, c), { colormap: 'gray' }));
        labels.push(`input ch ${c}`);
      }
      for (let c = 0; c < Math.min(cout, 12); c++) {
        tiles.push(heatmapToImage(zoom(out, c), { colormap: 'viridis' }));
        labels.push(`conv_in ch ${c}`);
      }
    });
    tf.dispose([kernel, bias, sample, expected, out]);
    return { id: m.id, check, cmp, tiles, labels };
  } finally {
    await weights.close();
    await io.close();
  }
}

/** `semedit demo [--out DIR] [--fixture NAME]`. */
export const demoCommand: Command = {
  usage: 'demo [--out DIR] [--fixture NAME] [--pipeline NAME]',
  summary: 'report the backend, run tiny reference models (UNet conv_in, text-to-image); writes pictures and report.json',
  async run(argv) {
    const { values } = parseCommandArgs('demo', argv, {
      out: { type: 'string', default: 'out/demo' },
      fixture: { type: 'string', default: 'unet-tiny' },
      pipeline: { type: 'string', default: 'sega-tiny' },
    });
    const outDir = resolve(String(values['out']));
    const start = Date.now();
    const backend = await initBackend();
    process.stdout.write(`backend: ${backend.name} (threads ${backend.threads}, simd ${backend.simd})\n`);
    const before = tf.memory().numTensors;
    const r = await runConvIn(String(values['fixture']));
    await mkdir(outDir, { recursive: true });
    const png = join(outDir, 'conv_in.png');
    await writeGrid(png, r.tiles, { cols: 4, padding: 2, labels: r.labels, labelScale: 1 });
    const t2i = await runTinyPipeline(String(values['pipeline']), outDir);
    const report: DemoReport = {
      backend: { name: backend.name, threads: backend.threads, simd: backend.simd },
      fixture: r.id,
      layer: 'conv_in',
      check: { output: r.check.output, atol: r.check.atol, rtol: r.check.rtol, maxAbs: r.cmp.maxAbs, ok: r.cmp.ok },
      txt2img: { fixture: t2i.fixture, prompt: t2i.prompt, maxAbs: t2i.maxAbs, atol: t2i.atol, ok: t2i.ok },
      images: [png, t2i.png],
      ms: Date.now() - start,
    };
    await writeFile(join(outDir, 'report.json'), `${JSON.stringify(report, null, 2)}\n`);
    const leaked = tf.memory().numTensors - before;
    process.stdout.write(
      `${r.id} conv_in vs reference: max |diff| ${r.cmp.maxAbs.toExponential(2)} (atol ${r.check.atol}) ${r.cmp.ok ? 'OK' : 'MISMATCH'}\n` +
        `${t2i.fixture} text-to-image "${t2i.prompt}" vs diffusers: max |diff| ${t2i.maxAbs.toExponential(2)} (atol ${t2i.atol}) ${t2i.ok ? 'OK' : 'MISMATCH'}\n` +
        `wrote ${png}, ${t2i.png} and ${join(outDir, 'report.json')}${leaked ? ` (leaked ${leaked} tensors!)` : ''}\n`,
    );
    return r.cmp.ok && t2i.ok && leaked === 0 ? 0 : 1;
  },
};
