/**
 * wasm conv2d and matMul with 1 thread against every core, in one process: the backend is re-created between
 * the two configurations (`initBackend({ backend: 'wasm', threads })`). Stable Diffusion UNet conv shapes and a
 * 2048³ matMul; warmup, then the median of N runs, GFLOPS, and the speed-up of all threads over one.
 *
 *   npx tsx bench/conv-threads.ts [--reps=7] [--warmup=2] [--threads=N]
 *
 * Prints a table and writes bench/results/conv-threads.json.
 */
import * as tf from '@tensorflow/tfjs-core';
import { mkdirSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus, platform, arch, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
// Source import: `npx tsx` does not apply the workspace's `@repo/source` export condition.
import { WASM_MAX_THREADS, initBackend, type BackendInfo } from '../packages/core/src/backend/index.js';

interface Case {
  name: string;
  flops: number;
  make: () => tf.Tensor[];
  run: (xs: tf.Tensor[]) => tf.Tensor;
}
interface Timing {
  case: string;
  threads: number;
  medianMs: number;
  minMs: number;
  gflops: number;
  reps: number;
}

const arg = (name: string, fallback: number): number => {
  const hit = process.argv.find((a) => a.startsWith(`--${name}=`));
  const v = hit ? Number(hit.split('=')[1]) : fallback;
  if (!Number.isInteger(v) || v < 1) throw new Error(`--${name} must be a positive integer`);
  return v;
};
const reps = arg('reps', 7);
const warmup = arg('warmup', 2);
const allThreads = arg('threads', Math.min(availableParallelism(), WASM_MAX_THREADS));

function conv(h: number, c: number, cout: number, batch = 1): Case {
  return {
    name: `conv2d [${batch},${h},${h},${c}] 3x3 -> ${cout}`,
    flops: 2 * batch * h * h * 9 * c * cout,
    make: () => [tf.randomNormal([batch, h, h, c]), tf.randomNormal([3, 3, c, cout], 0, 0.05)],
    run: ([x, f]) => tf.conv2d(x as tf.Tensor4D, f as tf.Tensor4D, 1, 'same'),
  };
}
const CASES: Case[] = [
  conv(64, 320, 320),
  conv(32, 640, 640),
  conv(16, 1280, 1280),
  {
    name: 'matMul 2048x2048 @ 2048x2048',
    flops: 2 * 2048 ** 3,
    make: () => [tf.randomNormal([2048, 2048]), tf.randomNormal([2048, 2048])],
    run: ([a, b]) => tf.matMul(a as tf.Tensor2D, b as tf.Tensor2D),
  },
];

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

function time(c: Case, threads: number): Timing {
  const inputs = c.make();
  const once = () => {
    const t0 = performance.now();
    const y = c.run(inputs);
    y.dataSync();
    const ms = performance.now() - t0;
    y.dispose();
    return ms;
  };
  for (let i = 0; i < warmup; i++) once();
  const ms = Array.from({ length: reps }, once);
  tf.dispose(inputs);
  const medianMs = median(ms);
  return { case: c.name, threads, medianMs, minMs: Math.min(...ms), gflops: c.flops / medianMs / 1e6, reps };
}

async function main(): Promise<void> {
  const machine = {
    cpu: cpus()[0]?.model ?? 'unknown',
    logicalCores: cpus().length,
    availableParallelism: availableParallelism(),
    memoryGiB: +(totalmem() / 1024 ** 3).toFixed(1),
    node: process.version,
    platform: `${platform()} ${arch()}`,
  };
  const configs: BackendInfo[] = [];
  const timings: Timing[] = [];
  for (const threads of [1, allThreads]) {
    const info = await initBackend({ backend: 'wasm', threads });
    configs.push(info);
    for (const c of CASES) timings.push(time(c, info.threads));
  }

  const ratios = CASES.map((c) => {
    const one = timings.find((t) => t.case === c.name && t.threads === configs[0]!.threads)!;
    const all = timings.find((t) => t.case === c.name && t.threads === configs[1]!.threads)!;
    return { case: c.name, speedup: one.medianMs / all.medianMs };
  });

  console.log(`machine: ${machine.cpu}, ${machine.logicalCores} logical cores, Node ${machine.node}, ${machine.platform}`);
  for (const c of configs) console.log(`backend: ${c.name} (${c.detail})${c.warnings.length ? `; ${c.warnings.join('; ')}` : ''}`);
  console.log(`warmup ${warmup}, median of ${reps}\n`);
  const [t1, tn] = [configs[0]!.threads, configs[1]!.threads];
  const header = ['case', `${t1} thr ms`, `${t1} thr GFLOPS`, `${tn} thr ms`, `${tn} thr GFLOPS`, 'speed-up'];
  const rows = CASES.map((c, i) => {
    const a = timings.find((t) => t.case === c.name && t.threads === t1)!;
    const b = timings.find((t) => t.case === c.name && t.threads === tn)!;
    return [c.name, a.medianMs.toFixed(1), a.gflops.toFixed(1), b.medianMs.toFixed(1), b.gflops.toFixed(1), `x${ratios[i]!.speedup.toFixed(2)}`];
  });
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (r: string[]) => r.map((v, i) => (i === 0 ? v.padEnd(widths[i]!) : v.padStart(widths[i]!))).join('  ');
  console.log(line(header));
  console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  rows.forEach((r) => console.log(line(r)));

  const out = join(dirname(fileURLToPath(import.meta.url)), 'results', 'conv-threads.json');
  mkdirSync(dirname(out), { recursive: true });
  const result = { bench: 'conv-threads', date: new Date().toISOString(), machine, warmup, reps, backends: configs, timings, ratios };
  writeFileSync(out, `${JSON.stringify(result, null, 2)}\n`);
  console.log(`\nwrote ${out}`);
}

await main();
