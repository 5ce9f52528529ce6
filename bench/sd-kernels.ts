/**
 * The hot kernels of a Stable Diffusion 1.5 UNet step at its real shapes (batch 2, 64x64 latents): 3x3 conv at
 * each resolution, the 1x1 conv / matmul of the attention projections, the per-head attention products, a whole
 * 64x64 self-attention through our chunked `scaledDotProductAttention` (nn/attention.ts), and GroupNorm(32) through
 * our `groupNorm` (nn/group-norm.ts). Timed on wasm with every core and on the stock single-threaded wasm build
 * (each configuration in its own child process), and by PyTorch on the same machine (bench/torch_kernels.py,
 * Debian's python3-torch, OMP_NUM_THREADS = core count) with the same shapes, warmup and repetitions. Ratios:
 * wasm all threads against wasm 1 thread, and against PyTorch.
 *
 *   pnpm exec tsx --conditions=@repo/source bench/sd-kernels.ts [--reps=5] [--warmup=1] [--torch=1]
 *
 * Python: $SEMEDIT_PYTHON, else the first of `python3`, `/usr/bin/python3` that imports torch (`bash bench/setup.sh`
 * installs it); without one the PyTorch column is recorded as not run, with the reason.
 */
import * as tf from '@tensorflow/tfjs-core';
import { initBackend, type BackendInfo } from '@semedit/core/backend';
import { execFileSync, spawnSync } from 'node:child_process';
import { availableParallelism, loadavg } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
// Not package subpaths: the UNet's attention kernel and GroupNorm themselves.
import { scaledDotProductAttention } from '../packages/core/src/nn/attention.js';
import { groupNorm } from '../packages/core/src/nn/group-norm.js';
import { intArg, machine, printTable, timeIt, writeResult } from './lib/harness.js';

const reps = intArg('reps', 5);
const warmup = intArg('warmup', 1);
const withTorch = intArg('torch', 1) > 0;

/** A kernel case; the same object (shapes, warmup, reps) drives the TypeScript and the PyTorch timing. */
type KernelCase = { id: string; name: string; flops: number | null; warmup: number; reps: number } & (
  | { kind: 'conv'; batch: number; h: number; w: number; cin: number; cout: number; k: number }
  | { kind: 'matmul'; m: number; k: number; n: number }
  | { kind: 'attention'; batch: number; tokens: number; channels: number; heads: number }
  | { kind: 'groupnorm'; batch: number; h: number; w: number; channels: number; groups: number; eps: number }
);

const policy = { warmup, reps };
const conv = (h: number, c: number, k = 3): KernelCase => ({
  id: `conv${k}-${h}-${c}`, name: `conv2d ${k}x${k} [2,${h},${h},${c}] -> ${c}`, kind: 'conv',
  batch: 2, h, w: h, cin: c, cout: c, k, flops: 2 * 2 * h * h * k * k * c * c, ...policy,
});
const matmul = (id: string, name: string, m: number, k: number, n: number): KernelCase => ({
  id, name, kind: 'matmul', m, k, n, flops: 2 * m * k * n, ...policy,
});
const CASES: KernelCase[] = [
  conv(64, 320), conv(32, 640), conv(16, 1280),
  conv(64, 320, 1),
  matmul('proj', 'matMul [8192,320] x [320,320] (to_q/k/v/out at 64x64)', 8192, 320, 320),
  matmul('qk', 'matMul [4096,40] x [40,4096] (q·kᵀ, one head)', 4096, 40, 4096),
  matmul('pv', 'matMul [4096,4096] x [4096,40] (probs·v, one head)', 4096, 4096, 40),
  {
    id: 'attn', name: 'self-attention 64x64: [2,4096,320], 8 heads of 40', kind: 'attention', batch: 2, tokens: 4096,
    channels: 320, heads: 8, flops: 4 * 2 * 4096 * 4096 * 320, warmup, reps: Math.min(reps, 3),
  },
  { id: 'gn', name: 'GroupNorm(32) [2,64,64,320]', kind: 'groupnorm', batch: 2, h: 64, w: 64, channels: 320, groups: 32, eps: 1e-5, flops: null, ...policy },
];

/** Inputs for a case on the active backend, and the function that runs it once (returning its output). */
function prepare(c: KernelCase): { inputs: tf.Tensor[]; run: () => tf.Tensor } {
  switch (c.kind) {
    case 'conv': {
      const x = tf.randomNormal([c.batch, c.h, c.w, c.cin]) as tf.Tensor4D;
      const f = tf.randomNormal([c.k, c.k, c.cin, c.cout], 0, 0.02) as tf.Tensor4D;
      const bias = tf.zeros([c.cout]) as tf.Tensor1D;
      return { inputs: [x, f, bias], run: () => tf.fused.conv2d({ x, filter: f, bias, strides: 1, pad: 'same' }) };
    }
    case 'matmul': {
      const a = tf.randomNormal([c.m, c.k]) as tf.Tensor2D;
      const b = tf.randomNormal([c.k, c.n]) as tf.Tensor2D;
      return { inputs: [a, b], run: () => tf.matMul(a, b) };
    }
    case 'attention': {
      const [q, k, v] = [0, 1, 2].map(() => tf.randomNormal([c.batch, c.tokens, c.channels]) as tf.Tensor3D);
      return { inputs: [q!, k!, v!], run: () => tf.tidy(() => scaledDotProductAttention(q!, k!, v!, { heads: c.heads })) };
    }
    case 'groupnorm': {
      const x = tf.randomNormal([c.batch, c.h, c.w, c.channels]) as tf.Tensor4D;
      const p = { weight: tf.ones([c.channels]) as tf.Tensor1D, bias: tf.zeros([c.channels]) as tf.Tensor1D };
      return { inputs: [x, p.weight, p.bias], run: () => tf.tidy(() => groupNorm(p, x, { groups: c.groups, eps: c.eps })) };
    }
  }
}

interface Row { case: string; backend: string; status: 'ran' | 'not run'; medianMs: number | null; minMs: number | null; reps: number | null; gflops: number | null; note: string }

const CONFIGS: { label: string; opts: Parameters<typeof initBackend>[0] }[] = [
  { label: 'wasm 1 thread (stock build)', opts: { backend: 'wasm', threads: 1 } },
  { label: 'wasm all threads', opts: { backend: 'wasm' } },
];
const cores = availableParallelism();
const TORCH = `PyTorch CPU, ${cores} threads`;

const row = (c: KernelCase, backend: string, t: { medianMs: number; minMs: number; reps: number }): Row => ({
  case: c.name, backend, status: 'ran', ...t, gflops: c.flops === null ? null : c.flops / 1e6 / t.medianMs, note: '',
});

/** Runs one backend configuration in this process and prints its rows as JSON. */
async function child(index: number): Promise<void> {
  const cfg = CONFIGS[index]!;
  const info = await initBackend(cfg.opts);
  const rows: Row[] = [];
  for (const c of CASES) {
    const { inputs, run } = prepare(c);
    const t = timeIt(() => { const y = run(); y.dataSync(); y.dispose(); }, { warmup: c.warmup, reps: c.reps });
    tf.dispose(inputs);
    rows.push(row(c, cfg.label, t));
    console.error(`  ${cfg.label}: ${c.name}: ${t.medianMs.toFixed(1)} ms`);
  }
  process.stdout.write(`@@RESULT ${JSON.stringify({ info, rows })}\n`);
}

/** The first Python that imports torch, or why there is none. */
function findPython(): { python: string } | { reason: string } {
  const candidates = [process.env['SEMEDIT_PYTHON'], 'python3', '/usr/bin/python3'].filter((p): p is string => !!p);
  const tried: string[] = [];
  for (const py of candidates) {
    const r = spawnSync(py, ['-c', 'import torch'], { encoding: 'utf8' });
    if (r.status === 0) return { python: py };
    tried.push(`${py}: ${r.error ? r.error.message : (r.stderr.trim().split('\n').pop() ?? `exit ${r.status}`)}`);
  }
  return { reason: `no Python with torch (${tried.join('; ')}); run bash bench/setup.sh` };
}

/** Times every case with PyTorch, or returns rows recorded as not run with the reason. */
function torchRows(): { rows: Row[]; info: Record<string, unknown> | null } {
  const found = withTorch ? findPython() : { reason: 'disabled with --torch=0' };
  if ('reason' in found) {
    return { rows: CASES.map((c) => ({ case: c.name, backend: TORCH, status: 'not run', medianMs: null, minMs: null, reps: null, gflops: null, note: found.reason })), info: null };
  }
  const script = join(dirname(fileURLToPath(import.meta.url)), 'torch_kernels.py');
  const out = execFileSync(found.python, [script, JSON.stringify({ cases: CASES })], {
    encoding: 'utf8', maxBuffer: 1 << 24, env: { ...process.env, OMP_NUM_THREADS: String(cores) }, stdio: ['ignore', 'pipe', 'inherit'],
  });
  const r = JSON.parse(out) as { torch: string; threads: number; results: { id: string; medianMs: number; minMs: number; reps: number }[] } & Record<string, unknown>;
  // Debian's torch calls the system libblas.so.3 for matmul/bmm: the unoptimized reference BLAS unless OpenBLAS or
  // BLIS provides it (conv and GroupNorm go through oneDNN or ATen's own kernels and are not affected).
  const blas = (r['blas'] as string[] | undefined) ?? [];
  const referenceBlas = blas.length > 0 && !blas.some((p) => /openblas|blis|mkl/i.test(p));
  const blasNote = referenceBlas ? `PyTorch's matmul runs on the reference BLAS (${blas.join(', ')}), not an optimized one` : '';
  const rows = CASES.map((c) => ({ ...row(c, TORCH, r.results.find((x) => x.id === c.id)!), note: c.kind === 'matmul' || c.kind === 'attention' ? blasNote : '' }));
  return { rows, info: { ...r, results: undefined, python: found.python, referenceBlas } };
}

async function main(): Promise<void> {
  const rows: Row[] = [];
  const infos: BackendInfo[] = [];
  const load = [loadavg()[0]!];
  for (let i = 0; i < CONFIGS.length; i++) {
    const out = execFileSync(process.execPath, [...process.execArgv, fileURLToPath(import.meta.url), ...process.argv.slice(2), `--child=${i}`], {
      encoding: 'utf8', maxBuffer: 1 << 24, stdio: ['ignore', 'pipe', 'inherit'],
    });
    const line = out.split('\n').find((l) => l.startsWith('@@RESULT '));
    if (!line) throw new Error(`configuration ${CONFIGS[i]!.label} printed no result`);
    const r = JSON.parse(line.slice(9)) as { info: BackendInfo; rows: Row[] };
    infos.push(r.info);
    rows.push(...r.rows);
    load.push(loadavg()[0]!);
  }
  const torch = torchRows();
  rows.push(...torch.rows);
  load.push(loadavg()[0]!);
  const [one, all] = [CONFIGS[0]!.label, CONFIGS[1]!.label];
  const ms = (c: string, b: string) => rows.find((r) => r.case === c && r.backend === b && r.status === 'ran')?.medianMs ?? null;
  const ratios: { case: string; speedup: number; baseline: string }[] = [];
  for (const c of CASES) {
    const [t1, tm, tt] = [ms(c.name, one), ms(c.name, all), ms(c.name, TORCH)];
    if (t1 !== null && tm !== null) ratios.push({ case: `${c.name} · wasm all threads vs wasm 1 thread`, speedup: t1 / tm, baseline: one });
    if (tt !== null && tm !== null) ratios.push({ case: `${c.name} · wasm all threads vs PyTorch`, speedup: tt / tm, baseline: TORCH });
  }
  const m = machine();
  console.log(`machine: ${m.cpu}, ${m.logicalCores} logical cores, Node ${m.node}; load average during the run: ${load.map((l) => l.toFixed(1)).join(' -> ')}`);
  if (Math.max(...load) > cores + 0.7) console.log('warning: the load average passed the core count: other processes competed for the cores (thread scaling and times are unreliable)');
  for (const i of infos) console.log(`backend: ${i.name} (${i.detail})`);
  if (torch.info) {
    console.log(`PyTorch ${String(torch.info['torch'])} (${String(torch.info['python'])}), ${String(torch.info['threads'])} threads, mkldnn ${String(torch.info['mkldnn'])}, BLAS ${String(torch.info['blas'])}`);
    if (torch.info['referenceBlas']) console.log('warning: PyTorch uses the reference BLAS: its matmul and attention figures are far below what PyTorch does with OpenBLAS (apt-get install libopenblas0-pthread)');
  }
  const f = (v: number | null, d = 1) => (v === null ? '' : v.toFixed(d));
  printTable(['case', `${one} ms`, `${all} ms`, 'PyTorch ms', 'GFLOPS (all threads)', 'GFLOPS PyTorch', 'x vs 1 thread', 'x vs PyTorch'], CASES.map((c) => {
    const [t1, tm, tt] = [ms(c.name, one), ms(c.name, all), ms(c.name, TORCH)];
    const gf = (t: number | null) => (c.flops === null || t === null ? null : c.flops / 1e6 / t);
    return [c.name, f(t1), f(tm), f(tt), f(gf(tm)), f(gf(tt)), t1 && tm ? (t1 / tm).toFixed(2) : '', tt && tm ? (tt / tm).toFixed(2) : ''];
  }));
  for (const r of rows.filter((x) => x.status === 'not run').slice(0, 1)) console.log(`PyTorch not run: ${r.note}`);
  const result = { bench: 'sd-kernels', date: new Date().toISOString(), machine: m, loadAvg: load, backends: infos, torch: torch.info, timings: rows, ratios };
  console.log(`wrote ${writeResult('sd-kernels', result)}`);
}

const childIndex = intArg('child', -1 >>> 0);
if (childIndex !== -1 >>> 0) await child(childIndex);
else await main();
