/**
 * `semedit demo`: the main job. For now (before the shapes-world models exist) it reports the backend, loads the
 * `unet-tiny` reference fixture through the real safetensors reader and strict loader, runs the UNet's first
 * layer (`conv_in`) on the fixture's input, checks it against the reference's own output with the fixture's
 * tolerance, and writes the input and feature maps as a picture plus a JSON report.
 * @module
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '@semedit/core/backend';
import { writeGrid, heatmapToImage, type Image } from '@semedit/core/image';
import { openSafetensors, takeExpected } from '@semedit/core/io';
import { convWeightToHwio, nchwToNhwcTensor, rawToTensor } from '@semedit/core/tensor';
import { compareArrays, readManifest } from '@semedit/core/testing';
import { parseCommandArgs } from '../args.js';
import type { Command } from './command.js';

/** The JSON report `semedit demo` writes to `<out>/report.json` (a contract: other tools read it). */
export interface DemoReport {
  backend: { name: string; threads: number; simd: boolean };
  fixture: string;
  layer: string;
  check: { output: string; atol: number; rtol: number; maxAbs: number; ok: boolean };
  images: string[];
  ms: number;
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
  usage: 'demo [--out DIR] [--fixture NAME]',
  summary: 'report the backend and run a tiny reference model; writes a picture and report.json',
  async run(argv) {
    const { values } = parseCommandArgs('demo', argv, {
      out: { type: 'string', default: 'out/demo' },
      fixture: { type: 'string', default: 'unet-tiny' },
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
    const report: DemoReport = {
      backend: { name: backend.name, threads: backend.threads, simd: backend.simd },
      fixture: r.id,
      layer: 'conv_in',
      check: { output: r.check.output, atol: r.check.atol, rtol: r.check.rtol, maxAbs: r.cmp.maxAbs, ok: r.cmp.ok },
      images: [png],
      ms: Date.now() - start,
    };
    await writeFile(join(outDir, 'report.json'), `${JSON.stringify(report, null, 2)}\n`);
    const leaked = tf.memory().numTensors - before;
    process.stdout.write(
      `${r.id} conv_in vs reference: max |diff| ${r.cmp.maxAbs.toExponential(2)} (atol ${r.check.atol}) ${r.cmp.ok ? 'OK' : 'MISMATCH'}\n` +
        `wrote ${png} and ${join(outDir, 'report.json')}${leaked ? ` (leaked ${leaked} tensors!)` : ''}\n`,
    );
    return r.cmp.ok && leaked === 0 ? 0 : 1;
  },
};
