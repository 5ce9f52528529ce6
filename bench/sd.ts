/**
 * Stable Diffusion 1.5 at real size with random weights: one UNet step (latents [2, 64, 64, 4], 77x768 text
 * states, batch 2 as classifier-free guidance runs it) and one VAE decode (64x64x4 latents -> 512x512x3), on
 * each backend configuration in its own child process: wasm 1 thread (the stock single-threaded SIMD build,
 * the baseline), wasm with every core, and cpu. Each timed model also gets a per-kernel profile (top kernels).
 *
 * - The full UNet (686 tensors, 3.2 GiB of float32) cannot live on the wasm heap: it is recorded as not run with
 *   the `ModelTooLargeError` that `assertFitsBackend` raises. In its place the bench times the same network, every
 *   layer of SD 1.5 at its own shapes, with checkpoint tensors of identical shape sharing one tensor (50 unique,
 *   0.57 GiB), which fits. The computation per step is exactly SD 1.5's; only the weight memory is smaller.
 * - The 512x512 VAE decode exhausts the wasm heap (its 512x512 levels): it is recorded as not run with the heap
 *   guard's message, and a fresh process times the same VAE on 32x32 latents (256x256 out) instead.
 * - cpu (pure JS) would take many minutes per call: it times one SD-shaped conv and records the estimate
 *   (conv/matmul GFLOP of the model at that rate: a lower bound) instead of a run.
 *
 *   pnpm exec tsx --conditions=@repo/source bench/sd.ts [--reps=2] [--warmup=1] [--cpu=1] [--unet=1] [--vae=1]
 */
import * as tf from '@tensorflow/tfjs-core';
import { HeapLimitError, backendInfo, initBackend, wasmHeapStats, type BackendInfo } from '@semedit/core/backend';
import { ModelTooLargeError, assertFitsBackend } from '@semedit/core/pipeline';
import { linearWeightToInOut, rawToTensor } from '@semedit/core/tensor';
import { createGenerator } from '@semedit/core';
import type { RawTensor } from '@semedit/core/io';
import { UNet2DConditionModel, resolveUNetConfig, unetWeightShapes, type UNet2DConditionConfig, type UNetParams } from '@semedit/core/unet';
import { AutoencoderKL, resolveVaeConfig, vaeWeightShapes, type AutoencoderKLConfig } from '@semedit/core/vae';
import { execFileSync } from 'node:child_process';
import { loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
// Not a package subpath: the parameter-tree builder the model builders use.
import { buildParamTree } from '../packages/core/src/nn/weights.js';
import { intArg, machine, median, printTable, timeIt, writeResult } from './lib/harness.js';
import { SD15_UNET, SD_VAE, randomWeights } from './lib/sd15-models.js';
import { printProfile, profileRun, runFlops, topKernels, type KernelStat } from './lib/profile.js';

const reps = intArg('reps', 2);
const warmup = intArg('warmup', 1);
const withCpu = intArg('cpu', 1) > 0;
const withUnet = intArg('unet', 1) > 0;
const withVae = intArg('vae', 1) > 0;

const size = (s: readonly number[]): number => s.reduce((a, b) => a * b, 1);
const GIB = 1024 ** 3;
const MIB = 1024 ** 2;

const GEGLU = /\.ff\.net\.0\.proj\.(weight|bias)$/;
const PROJ = /(^|\.)proj_(in|out)\.weight$/;

/**
 * Picks one representative checkpoint key per (tensor shape, layout conversion): `repOf` maps every key to it,
 * `keys` lists the representatives. A GEGLU bias follows its weight, so a shared `ff.net.0.proj` stays one
 * module's pair.
 */
function shareByShape(shapes: Readonly<Record<string, number[]>>): { repOf: Map<string, string>; keys: string[] } {
  const first = new Map<string, string>();
  const repOf = new Map<string, string>();
  for (const [key, shape] of Object.entries(shapes)) {
    const group = GEGLU.test(key)
      ? `geglu ${JSON.stringify(shapes[key.replace(/bias$/, 'weight')])} ${key.endsWith('bias')}`
      : `${PROJ.test(key) ? 'proj' : 'plain'} ${JSON.stringify(shape)}`;
    if (!first.has(group)) first.set(group, key);
    repOf.set(key, first.get(group)!);
  }
  return { repOf, keys: [...first.values()] };
}

/** Reads or sets (creating the path) the node at a dotted path (`down_blocks.0.resnets.1.conv1.weight`) of a tree. */
function node(root: unknown, path: string, replace?: unknown): unknown {
  const parts = path.split('.');
  let at = root as Record<string, unknown>;
  parts.slice(0, -1).forEach((p, i) => {
    if (replace !== undefined) at[p] ??= /^\d+$/.test(parts[i + 1]!) ? [] : {};
    at = at[p] as Record<string, unknown>;
  });
  const last = parts[parts.length - 1]!;
  if (replace !== undefined) at[last] = replace;
  return at[last];
}

/**
 * A UNet parameter tree built from the representative tensors only, laid out as `buildUNetParams` lays them out
 * (conv kernels HWIO, linear `[in, out]`, `proj_in`/`proj_out` as linear, the GEGLU projection split into its
 * `hidden` and `gate` halves), every other key pointing at its representative's tensor. The builder itself needs
 * every tensor, and uploading all 3.2 GiB then freeing the copies leaves the wasm heap too fragmented for the
 * forward; {@link checkSharedBuild} proves this layout equals the builder's on a tiny config.
 */
function sharedParams(weights: ReadonlyMap<string, RawTensor>, repOf: ReadonlyMap<string, string>): UNetParams {
  const tree = buildParamTree(new Map([...weights].filter(([k]) => !GEGLU.test(k))), { asLinear: (k) => PROJ.test(k) });
  const geglu = new Map<string, unknown>();
  for (const [key, raw] of weights) {
    if (!key.endsWith('.ff.net.0.proj.weight')) continue;
    const prefix = key.slice(0, -'.weight'.length);
    geglu.set(prefix, tf.tidy(() => {
      const [wh, wg] = tf.split(linearWeightToInOut(raw, key), 2, 1);
      const [bh, bg] = tf.split(rawToTensor(weights.get(`${prefix}.bias`)!, `${prefix}.bias`), 2, 0);
      return { hidden: { weight: wh!, bias: bh! }, gate: { weight: wg!, bias: bg! } };
    }));
  }
  for (const [key, rep] of repOf) {
    if (key.endsWith('.ff.net.0.proj.weight')) node(tree, key.slice(0, -'.weight'.length), geglu.get(rep.slice(0, -'.weight'.length)));
    else if (!GEGLU.test(key) && key !== rep) node(tree, key, node(tree, rep));
  }
  return tree as unknown as UNetParams;
}

/**
 * Checks {@link sharedParams} against the real builder (`UNet2DConditionModel.fromWeights`) on a tiny
 * two-level UNet with the same block types: same weights, nothing shared, outputs must agree.
 */
function checkSharedBuild(): void {
  const json: UNet2DConditionConfig = { ...SD15_UNET, block_out_channels: [32, 64], layers_per_block: 2, attention_head_dim: 2, cross_attention_dim: 16,
    down_block_types: ['CrossAttnDownBlock2D', 'DownBlock2D'], up_block_types: ['UpBlock2D', 'CrossAttnUpBlock2D'] };
  const cfg = resolveUNetConfig(json);
  const shapes = unetWeightShapes(cfg);
  const w = randomWeights(shapes, Object.keys(shapes), 3);
  const a = UNet2DConditionModel.fromWeights(w, cfg);
  const b = new UNet2DConditionModel(cfg, sharedParams(w, new Map(Object.keys(shapes).map((k) => [k, k]))));
  const gen = createGenerator(4);
  const x = tf.tensor4d(gen.normal(2 * 8 * 8 * 4), [2, 8, 8, 4]);
  const ehs = tf.tensor3d(gen.normal(2 * 5 * 16), [2, 5, 16]);
  const diff = tf.tidy(() => tf.max(tf.abs(tf.sub(a.forward(x, 981, ehs), b.forward(x, 981, ehs)))).dataSync()[0]!);
  a.dispose();
  b.dispose();
  tf.dispose([x, ehs]);
  if (!(diff <= 1e-5)) throw new Error(`the bench's shared-weight UNet build differs from buildUNetParams (max |diff| ${diff}): update sharedParams()`);
}

/** The SD 1.5 UNet with tensors of the same shape sharing one weight (see {@link shareByShape}). */
function sharedUNet(): { unet: UNet2DConditionModel; uniqueTensors: number; uniqueBytes: number } {
  checkSharedBuild();
  const cfg = resolveUNetConfig(SD15_UNET);
  const shapes = unetWeightShapes(cfg);
  const { repOf, keys } = shareByShape(shapes);
  const unet = new UNet2DConditionModel(cfg, sharedParams(randomWeights(shapes, keys, 1), repOf));
  const uniqueBytes = 4 * keys.reduce((a, k) => a + size(shapes[k]!), 0);
  return { unet, uniqueTensors: keys.length, uniqueBytes };
}

interface Row {
  case: string; backend: string; status: 'ran' | 'not run' | 'estimated';
  medianMs: number | null; minMs: number | null; reps: number | null; estimatedMs: number | null;
  gflop: number | null; gflops: number | null; heapMiB: number | null;
  /** 1-minute load average of the machine when the case finished (other processes compete for the cores). */
  loadAvg: number | null;
  note: string;
}
interface Profile { case: string; backend: string; wallMs: number; kernelCalls: number; kernelSumMs: number; gflop: number; top: KernelStat[] }
interface ChildResult { info: BackendInfo; rows: Row[]; profiles: Profile[]; cpuConvGflops?: number }

const CASE_FULL = 'UNet step, SD 1.5 full (B2, 64x64, 686 tensors, 3.20 GiB)';
const CASE_SHARED = 'UNet step, SD 1.5 every layer, same-shape layers share weights (B2, 64x64)';
const CASE_VAE = 'VAE decode, SD VAE, 64x64x4 -> 512x512x3 (B1)';
const CASE_VAE_SMALL = 'VAE decode, SD VAE, 32x32x4 -> 256x256x3 (B1), stand-in for 512x512';

const CONFIGS: { label: string; opts: Parameters<typeof initBackend>[0] }[] = [
  { label: 'wasm 1 thread (stock build)', opts: { backend: 'wasm', threads: 1 } },
  { label: 'wasm all threads', opts: { backend: 'wasm' } },
  ...(withCpu ? [{ label: 'cpu', opts: { backend: 'cpu' as const } }] : []),
];

const row = (r: Partial<Row> & Pick<Row, 'case' | 'backend' | 'status'>): Row => ({
  medianMs: null, minMs: null, reps: null, estimatedMs: null, gflop: null, gflops: null, heapMiB: null, loadAvg: null, note: '', ...r,
});
const heapMiB = (): number | null => {
  const s = wasmHeapStats();
  return s ? Math.round(s.heapBytes / MIB) : null;
};

/**
 * `warmup` untimed runs (at least one: it checks that the output is finite and that the model fits), then `reps`
 * timed runs of which the first runs under `tf.profile()` (its per-kernel bookkeeping costs a few ms per thousand
 * kernels); returns the row (median of the timed runs) and the profile.
 */
async function timeModel(label: string, backend: string, fn: () => tf.Tensor, note: string): Promise<{ row: Row; profile: Profile }> {
  for (let i = 0; i < Math.max(1, warmup); i++) {
    const y = fn();
    if (i === 0 && !y.dataSync().every(Number.isFinite)) throw new Error(`${label}: output is not finite (badly scaled random weights)`);
    y.dispose();
  }
  const run = await profileRun(fn);
  const top = topKernels(run, 12);
  printProfile(`${label} · ${backend}`, run, top);
  const ms = [run.wallMs];
  for (let i = 1; i < Math.max(1, reps); i++) ms.push(timeIt(() => { const y = fn(); y.dataSync(); y.dispose(); }, { warmup: 0, reps: 1 }).medianMs);
  const flops = runFlops(run);
  const medianMs = median(ms);
  const profile: Profile = {
    case: label, backend, wallMs: run.wallMs, kernelCalls: run.kernels.length,
    kernelSumMs: run.kernels.reduce((a, k) => a + k.ms, 0), gflop: flops / 1e9, top,
  };
  // The 1-minute load average counts our own compute threads too; well above them, other processes shared the cores.
  const load = loadavg()[0]!;
  const threads = backendInfo()?.threads ?? 1;
  const busy = load > threads + 0.7 ? `; load average ${load.toFixed(1)} with ${threads} thread(s) of ours: other processes competed for the cores` : '';
  const r = row({
    case: label, backend, status: 'ran', medianMs, minMs: Math.min(...ms), reps: ms.length, gflop: flops / 1e9,
    gflops: flops / 1e6 / medianMs, heapMiB: heapMiB(), note: note + busy, loadAvg: +load.toFixed(1),
  });
  return { row: r, profile };
}

async function unetScenario(label: string): Promise<Pick<ChildResult, 'rows' | 'profiles'>> {
  const cfg = resolveUNetConfig(SD15_UNET);
  const fullBytes = 4 * Object.values(unetWeightShapes(cfg)).reduce((a, s) => a + size(s), 0);
  const rows: Row[] = [];
  try {
    assertFitsBackend('the SD 1.5 UNet (float32)', fullBytes);
    rows.push(row({ case: CASE_FULL, backend: label, status: 'not run', note: 'passes assertFitsBackend; not timed (the shared-weight step stands in)' }));
  } catch (e) {
    if (!(e instanceof ModelTooLargeError)) throw e;
    rows.push(row({ case: CASE_FULL, backend: label, status: 'not run', note: e.message }));
  }
  const { unet, uniqueTensors, uniqueBytes } = sharedUNet();
  assertFitsBackend('the shared-weight SD 1.5 UNet', uniqueBytes);
  const gen = createGenerator(7);
  const x = tf.tensor4d(gen.normal(2 * 64 * 64 * 4), [2, 64, 64, 4]);
  const ehs = tf.tensor3d(gen.normal(2 * 77 * 768), [2, 77, 768]);
  const note = `${uniqueTensors} of 686 tensors unique, ${(uniqueBytes / GIB).toFixed(2)} GiB of 3.20 GiB`;
  try {
    const { row: r, profile } = await timeModel(CASE_SHARED, label, () => unet.forward(x, 981, ehs), note);
    return { rows: [...rows, r], profiles: [profile] };
  } catch (e) {
    if (!(e instanceof HeapLimitError)) throw e; // the wasm heap guard refused an allocation: it does not fit
    return { rows: [...rows, row({ case: CASE_SHARED, backend: label, status: 'not run', heapMiB: heapMiB(), note: e.message })], profiles: [] };
  } finally {
    unet.dispose();
    tf.dispose([x, ehs]);
  }
}

/**
 * One VAE decode of `latent`x`latent` latents; a decode that exhausts the wasm heap is recorded as not run with the
 * guard's message.
 */
async function vaeScenario(label: string, latent: number): Promise<Pick<ChildResult, 'rows' | 'profiles'>> {
  const cfg = resolveVaeConfig(SD_VAE);
  const shapes = vaeWeightShapes(cfg);
  const vae = AutoencoderKL.fromWeights(randomWeights(shapes, Object.keys(shapes), 2), cfg);
  const z = tf.tensor4d(createGenerator(8).normal(latent * latent * 4), [1, latent, latent, 4]);
  const bytes = 4 * Object.values(shapes).reduce((a, s) => a + size(s), 0);
  const name = latent === 64 ? CASE_VAE : CASE_VAE_SMALL;
  const note = `whole AutoencoderKL loaded, ${(bytes / MIB).toFixed(0)} MiB; analytic conv/matmul ${vaeDecodeGflop(latent).toFixed(0)} GFLOP`;
  try {
    const { row: r, profile } = await timeModel(name, label, () => vae.decode(z), note);
    return { rows: [r], profiles: [profile] };
  } catch (e) {
    if (!(e instanceof HeapLimitError)) throw e; // the wasm heap guard refused an allocation: it does not fit
    return { rows: [row({ case: name, backend: label, status: 'not run', gflop: vaeDecodeGflop(latent), heapMiB: heapMiB(), note: e.message })], profiles: [] };
  } finally {
    vae.dispose();
    z.dispose();
  }
}

/**
 * Multiply-add GFLOP of the SD VAE decoder's convs and matmuls for `latent`x`latent` latents, from its config
 * (the cpu estimate of a decode no backend ran needs it; it matches the profiled count of the decodes that ran).
 */
function vaeDecodeGflop(latent: number): number {
  const cfg = resolveVaeConfig(SD_VAE);
  const ch = [...cfg.blockOutChannels].reverse();
  let hw = latent * latent;
  const conv = (cin: number, cout: number, k = 3) => 2 * hw * k * k * cin * cout;
  const resnet = (cin: number, cout: number) => conv(cin, cout) + conv(cout, cout) + (cin === cout ? 0 : conv(cin, cout, 1));
  const c0 = ch[0]!;
  let flops = conv(cfg.latentChannels, cfg.latentChannels, 1) + conv(cfg.latentChannels, c0);
  flops += 2 * resnet(c0, c0) + (cfg.midBlockAddAttention ? 4 * 2 * hw * c0 * c0 + 2 * 2 * hw * hw * c0 : 0);
  ch.forEach((c, i) => {
    for (let j = 0; j <= cfg.layersPerBlock; j++) flops += resnet(j === 0 ? ch[Math.max(i - 1, 0)]! : c, c);
    if (i < ch.length - 1) {
      hw *= 4;
      flops += conv(c, c);
    }
  });
  return (flops + conv(ch[ch.length - 1]!, cfg.outChannels)) / 1e9;
}

/** cpu: one SD 1.5 mid-block conv (batch 1) at the cpu backend's speed, for the estimates. */
function cpuConvGflops(): number {
  const x = tf.randomNormal([1, 8, 8, 1280]) as tf.Tensor4D;
  const f = tf.randomNormal([3, 3, 1280, 1280], 0, 0.01) as tf.Tensor4D;
  const flops = 2 * 8 * 8 * 9 * 1280 * 1280;
  const t = timeIt(() => tf.conv2d(x, f, 1, 'same').dataSync(), { warmup: 0, reps: 1 });
  tf.dispose([x, f]);
  return flops / 1e6 / t.medianMs;
}

/** Runs one configuration and scenario in this process and prints its result as JSON. */
async function child(index: number, scenario: string): Promise<void> {
  const c = CONFIGS[index]!;
  const info = await initBackend(c.opts);
  let result: ChildResult;
  if (scenario === 'unet') result = { info, ...(await unetScenario(c.label)) };
  else if (scenario === 'vae') result = { info, ...(await vaeScenario(c.label, 64)) };
  else if (scenario === 'vae-small') result = { info, ...(await vaeScenario(c.label, 32)) };
  else result = { info, rows: [], profiles: [], cpuConvGflops: cpuConvGflops() };
  process.stdout.write(`@@RESULT ${JSON.stringify(result)}\n`);
}

function runChild(index: number, scenario: string): ChildResult {
  const out = execFileSync(process.execPath, [...process.execArgv, fileURLToPath(import.meta.url), ...process.argv.slice(2), `--child=${index}`, `--scenario=${scenario}`], {
    encoding: 'utf8', maxBuffer: 1 << 26, stdio: ['ignore', 'pipe', 'inherit'],
  });
  const line = out.split('\n').find((l) => l.startsWith('@@RESULT '));
  process.stdout.write(out.split('\n').filter((l) => !l.startsWith('@@RESULT ')).join('\n'));
  if (!line) throw new Error(`${CONFIGS[index]!.label} / ${scenario} printed no result`);
  return JSON.parse(line.slice(9)) as ChildResult;
}

/** cpu rows: not run, with the lower-bound estimate (the step's conv/matmul GFLOP at the measured cpu conv rate). */
function cpuRows(label: string, gflops: number, rows: Row[]): Row[] {
  const gflopOf = (c: string) => median(rows.filter((r) => r.case === c && r.gflop !== null).map((r) => r.gflop!));
  const est = (c: string): Partial<Row> => {
    const g = gflopOf(c);
    return Number.isFinite(g) ? { estimatedMs: (1000 * g) / gflops, gflop: g } : {};
  };
  const why = `too slow to time: estimated from one conv 3x3 [1,8,8,1280]->1280 at ${gflops.toFixed(2)} GFLOPS on cpu, ` +
    'applied to the conv/matmul GFLOP of the step (lower bound: other kernels not counted)';
  return [
    ...(withUnet ? [
      row({ case: CASE_FULL, backend: label, status: 'estimated', ...est(CASE_SHARED), note: `the cpu backend can hold it (JS memory), but it is ${why}` }),
      row({ case: CASE_SHARED, backend: label, status: 'estimated', ...est(CASE_SHARED), note: why }),
    ] : []),
    ...(withVae ? [CASE_VAE, CASE_VAE_SMALL].map((c, i) => {
      const g = vaeDecodeGflop(i === 0 ? 64 : 32);
      return row({ case: c, backend: label, status: 'estimated', estimatedMs: (1000 * g) / gflops, gflop: g, note: why });
    }) : []),
  ];
}

async function main(): Promise<void> {
  const rows: Row[] = [];
  const profiles: Profile[] = [];
  const infos: BackendInfo[] = [];
  const scenarios = [...(withUnet ? ['unet'] : []), ...(withVae ? ['vae'] : [])];
  for (let i = 0; i < CONFIGS.length; i++) {
    const c = CONFIGS[i]!;
    if (c.opts?.backend === 'cpu') {
      const r = runChild(i, 'cpu');
      infos.push(r.info);
      rows.push(...cpuRows(c.label, r.cpuConvGflops!, rows));
      continue;
    }
    for (const s of scenarios) {
      const r = runChild(i, s);
      if (!infos.some((x) => x.detail === r.info.detail)) infos.push(r.info);
      rows.push(...r.rows);
      profiles.push(...r.profiles);
      // The 512x512 decode did not fit: a fresh process (the failed one left its heap full) times the stand-in.
      if (s === 'vae' && r.rows.some((x) => x.status === 'not run')) {
        const small = runChild(i, 'vae-small');
        rows.push(...small.rows);
        profiles.push(...small.profiles);
      }
    }
  }
  const base = CONFIGS[0]!.label;
  const baseMs = (r: Row) => rows.find((b) => b.case === r.case && b.backend === base && b.status === 'ran')?.medianMs ?? null;
  const ratios = rows
    .filter((r) => r.backend !== base && baseMs(r) !== null && (r.medianMs ?? r.estimatedMs) !== null)
    .map((r) => ({ case: `${r.case} · ${r.backend}${r.status === 'estimated' ? ' (estimate)' : ''}`, speedup: baseMs(r)! / (r.medianMs ?? r.estimatedMs)!, baseline: base }));
  const m = machine();
  console.log(`\nmachine: ${m.cpu}, ${m.logicalCores} logical cores, Node ${m.node}`);
  for (const i of infos) console.log(`backend: ${i.name} (${i.detail})`);
  const f = (v: number | null, d = 0) => (v === null ? '' : v.toFixed(d));
  printTable(['case', 'backend', 'status', 'median ms', 'est. ms', 'GFLOP', 'GFLOPS', `x vs ${base}`], rows.map((r) => {
    const b = baseMs(r);
    const ms = r.medianMs ?? r.estimatedMs;
    return [r.case, r.backend, r.status, f(r.medianMs), f(r.estimatedMs), f(r.gflop), f(r.gflops, 1), b !== null && ms !== null ? (b / ms).toFixed(2) : ''];
  }));
  for (const r of rows.filter((x) => x.status !== 'ran' || x.note.includes('competed'))) console.log(`${r.status}: ${r.case} · ${r.backend}: ${r.note}`);
  console.log(`wrote ${writeResult('sd', { bench: 'sd', date: new Date().toISOString(), machine: m, backends: infos, timings: rows, ratios, profiles })}`);
}

const childIndex = intArg('child', -1 >>> 0);
if (childIndex !== -1 >>> 0) await child(childIndex, process.argv.find((a) => a.startsWith('--scenario='))?.split('=')[1] ?? 'unet');
else await main();
