/**
 * `pnpm bench`: every headline case of the issue-11 contract on semedit's default backend (`initBackend()`: `native`
 * where the addon is built), with its baselines measured in the same run, written as one JSON file
 * (`bench/lib/bench-json.ts` describes it) that the dashboard renders.
 *
 *   pnpm bench [--quick] [--only a,b] [--json FILE]     # FILE default: bench/results/bench.json (+ index.html)
 *
 * - Each (case, backend configuration) runs in its own child process (`--child-case=...`): ours, and the stock
 *   single-threaded tfjs wasm build (`tfjs-wasm-stock`). Two wasm backends in one process run slower.
 * - `unet-step-sd15`, `vae-decode-512`: PyTorch and onnxruntime-node via `sd15Baselines()` on the cached weights and
 *   inputs (bench/.cache/sd15, made the first time), which our child loads with `loadUNet` / `loadVae`.
 * - `stylegan2-1024`, `styleclip-step`: PyTorch (`baselines/stylegan2_cases.py`) makes the random weights and inputs
 *   in bench/.cache/stylegan2 first, our child loads them with `loadNvlabsGenerator` / `loadClipModel`, then PyTorch
 *   is timed on them with our thread count (`lib/gan-baselines.ts`).
 * - Kernel cases: PyTorch via `torch_kernels.py`, one process for all of them.
 * - `--quick` (within 15 min on 2 cores): 1 warm-up + 1 timed run for the big models, fewer for the rest, and no
 *   PyTorch timing of the UNet and VAE nor wasm VAE decode (each result's notes say so).
 *
 * The bench is never a timed test: nothing here asserts a time.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { availableParallelism } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { initBackend, type BackendInfo } from '@semedit/core/backend';
import { writeDashboard } from './dashboard.js';
import {
  BenchArgError, CASE_NAMES, benchJson, benchMachine, caseResult, parseBenchArgs, writeBenchJson,
  type BaselineName, type BenchCaseResult, type CaseName, type Measurement,
} from './lib/bench-json.js';
import { NotRun, kernelSpecs, prepareCase, timeCase, type BenchConfig, type KernelSpec, type RepPolicy } from './lib/bench-cases.js';
import { machine } from './lib/harness.js';
import { ganSetup, ganTorchBaseline } from './lib/gan-baselines.js';
import { findPython } from './lib/python.js';
import { sd15Baselines, type BaselineTiming } from './lib/sd15-baselines.js';

const HERE = dirname(fileURLToPath(import.meta.url));
const RESULTS = join(HERE, 'results');
const KERNELS: readonly CaseName[] = ['conv3x3-sd', 'matmul-sd', 'attention-self-sd'];
const BIG: readonly CaseName[] = ['unet-step-sd15', 'vae-decode-512', 'stylegan2-1024', 'styleclip-step'];

/**
 * Warm-up and timed runs of a case: `--quick` 1 + 1 for the models and 1 + 3 for the
 * kernels; else 1 + 2 (UNet, VAE), 1 + 3 (StyleGAN2, StyleCLIP, attention) and 1 + 5.
 *
 * @example
 * ```ts
 * repPolicy('unet-step-sd15', true); // { warmup: 1, reps: 1 }
 * ```
 */
export function repPolicy(name: CaseName, quick: boolean): RepPolicy {
  if (BIG.includes(name)) return { warmup: 1, reps: quick ? 1 : name.includes('sd15') || name.startsWith('vae') ? 2 : 3 };
  if (KERNELS.includes(name)) return { warmup: 1, reps: quick ? 3 : name.startsWith('attention') ? 3 : 5 };
  return { warmup: 1, reps: quick ? 1 : 5 };
}

/** Baselines `--quick` leaves out, and why. */
const QUICK_SKIPS: Partial<Record<CaseName, Partial<Record<BaselineName, string>>>> = {
  'unet-step-sd15': { torch: 'skipped in --quick: the slowest baseline (about 50 s a step on 2 cores); run without --quick' },
  'vae-decode-512': {
    torch: 'skipped in --quick: about 30 s a decode on 2 cores; run without --quick',
    'tfjs-wasm-stock': 'skipped in --quick: the 512x512 decode exhausts the wasm heap after minutes (see bench/README.md, sd.ts)',
  },
};

const CONFIG_OPTS: Record<BenchConfig, Parameters<typeof initBackend>[0]> = { main: {}, 'tfjs-wasm-stock': { backend: 'wasm', threads: 1 } };

interface ChildOut { info: BackendInfo; measurement: Measurement }

/** The child side: one case on one configuration, printed as `@@RESULT {json}`. */
async function child(argv: readonly string[]): Promise<void> {
  const get = (k: string) => argv.find((a) => a.startsWith(`--child-${k}=`))?.slice(`--child-${k}=`.length) ?? '';
  const config = get('config') as BenchConfig;
  const info = await initBackend(CONFIG_OPTS[config]);
  let measurement: Measurement;
  if (get('case') === 'info') measurement = { ms: null };
  else {
    const name = get('case') as CaseName;
    if (!CASE_NAMES.includes(name)) throw new Error(`child: unknown case ${name}`);
    const policy = { warmup: Number(get('warmup')), reps: Number(get('reps')) };
    try {
      measurement = await timeCase(await prepareCase(name, config, policy), policy, get('profile') === '1');
    } catch (e) {
      if (!(e instanceof NotRun)) throw e;
      measurement = { ms: null, note: e.message };
    }
  }
  process.stdout.write(`@@RESULT ${JSON.stringify({ info, measurement } satisfies ChildOut)}\n`);
}

function runChild(name: CaseName | 'info', config: BenchConfig, policy: RepPolicy, quick = false, env: Record<string, string> = {}): ChildOut | { error: string } {
  const args = [`--child-case=${name}`, `--child-config=${config}`, `--child-warmup=${policy.warmup}`, `--child-reps=${policy.reps}`, `--child-profile=${config === 'main' && !(quick && BIG.includes(name as CaseName)) ? 1 : 0}`];
  const r = spawnSync(process.execPath, [...process.execArgv, fileURLToPath(import.meta.url), ...args], {
    encoding: 'utf8', maxBuffer: 1 << 26, stdio: ['ignore', 'pipe', 'inherit'], timeout: 60 * 60_000, env: { ...process.env, ...env },
  });
  const line = (r.stdout ?? '').split('\n').find((l) => l.startsWith('@@RESULT '));
  if (r.status === 0 && line) return JSON.parse(line.slice(9)) as ChildOut;
  return { error: `${config} child failed (${r.error?.message ?? `exit ${String(r.status ?? r.signal)}`}; its stderr is above)` };
}

/** PyTorch timings of the kernel cases (one `torch_kernels.py` process), or the reason there are none. */
function torchKernels(specs: KernelSpec[]): Map<string, Measurement> | string {
  const py = findPython();
  if ('reason' in py) return py.reason;
  try {
    const out = execFileSync(py.python, [join(HERE, 'torch_kernels.py'), JSON.stringify({ cases: specs })], {
      encoding: 'utf8', maxBuffer: 1 << 24, env: { ...process.env, OMP_NUM_THREADS: String(availableParallelism()) }, stdio: ['ignore', 'pipe', 'inherit'],
    });
    const r = JSON.parse(out) as { torch: string; threads: number; blas: string[]; results: { id: string; medianMs: number; minMs: number; reps: number }[] };
    const optimized = r.blas.length === 0 || r.blas.some((p) => /openblas|blis|mkl/i.test(p));
    const how = `PyTorch ${r.torch}, ${r.threads} threads (${py.python})${optimized ? '' : `; matmul on the reference BLAS (${r.blas.join(', ')}): not a fair baseline`}`;
    return new Map(r.results.map((x) => [x.id, { ms: x.medianMs, minMs: x.minMs, reps: x.reps, note: how }]));
  } catch (e) {
    return `torch_kernels.py failed: ${(e as Error).message.split('\n')[0]}`;
  }
}

function fromSd15(t: BaselineTiming | null, reasons: string[], prefixes: string[], what: string): Measurement {
  if (t) return { ms: t.ms, minMs: t.minMs, reps: t.reps, note: `${what}, ${t.threads} threads${t.maxAbsDiff === undefined ? '' : `; max abs diff vs stored PyTorch output ${t.maxAbsDiff.toExponential(1)}`}` };
  return { ms: null, note: reasons.filter((r) => prefixes.some((p) => r.startsWith(p))).join('; ') || 'not run' };
}

/** onnxruntime's SD 1.5 UNet step of this run, reused as the bf16 case's baseline. */
let lastUNetOrt: BaselineTiming | null = null;

/** Measures one case with its baselines; `backend` receives the main configuration's BackendInfo. */
async function measureCase(name: CaseName, quick: boolean, torchKernelTimes: Map<string, Measurement> | string, onInfo: (i: BackendInfo) => void): Promise<BenchCaseResult> {
  const policy = repPolicy(name, quick);
  const skips = quick ? QUICK_SKIPS[name] ?? {} : {};
  const baselines: Partial<Record<BaselineName, Measurement>> = {};
  if (name === 'unet-step-sd15-bf16') {
    // The same step with SEMEDIT_PRECISION=bf16 (native: bf16 convs and matmuls, fp32 accumulation), against
    // onnxruntime's fp32 step (the target is half of it): the one measured for unet-step-sd15 in this run, else now.
    const ort = lastUNetOrt ?? (await sd15Baselines({ model: 'unet', ...policy, torch: false })).onnxruntime;
    baselines.onnxruntime = ort ? { ms: ort.ms, minMs: ort.minMs, reps: ort.reps, note: `onnxruntime-node fp32, ${ort.threads} threads` } : { ms: null, note: 'onnxruntime unavailable' };
    baselines.torch = { ms: null, note: 'no PyTorch bf16 baseline' };
    baselines['tfjs-wasm-stock'] = { ms: null, note: 'tfjs-wasm has no bf16 compute' };
    const ours = runChild(name, 'main', policy, quick, { SEMEDIT_PRECISION: 'bf16' });
    if ('info' in ours) onInfo(ours.info);
    return caseResult(name, 'error' in ours ? { ms: null, note: ours.error } : ours.measurement, baselines);
  }
  if (name === 'unet-step-sd15' || name === 'vae-decode-512') {
    const model = name === 'unet-step-sd15' ? 'unet' : 'vae';
    const b = await sd15Baselines({ model, ...policy, torch: skips.torch === undefined });
    baselines.torch = skips.torch ? { ms: null, note: skips.torch } : fromSd15(b.torch, b.reasons, ['PyTorch', 'setup'], `PyTorch ${String(b.torch?.detail['torch'])}`);
    baselines.onnxruntime = fromSd15(b.onnxruntime, b.reasons, ['onnxruntime', 'setup'], `onnxruntime-node ${String(b.onnxruntime?.detail['onnxruntime'])}`);
    if (model === 'unet') lastUNetOrt = b.onnxruntime;
  } else if (KERNELS.includes(name)) {
    baselines.torch = typeof torchKernelTimes === 'string' ? { ms: null, note: torchKernelTimes } : torchKernelTimes.get(name) ?? { ms: null, note: 'not run' };
    baselines.onnxruntime = { ms: null, note: 'no onnxruntime baseline for single kernels' };
  } else {
    baselines.torch = { ms: null, note: 'no PyTorch baseline for this case yet' };
    baselines.onnxruntime = { ms: null, note: 'no ONNX export of this case' };
  }
  // StyleGAN2 cases: PyTorch makes the weights and inputs first (our child loads them), then runs on our thread count.
  const ganCase = name === 'stylegan2-1024' || name === 'styleclip-step' ? name : null;
  const gan = ganCase ? ganSetup(ganCase) : null;
  const ours = runChild(name, 'main', policy, quick);
  if ('info' in ours) onInfo(ours.info);
  if (ganCase && gan) {
    baselines.torch = skips.torch ? { ms: null, note: skips.torch } : ganTorchBaseline(ganCase, policy, gan, 'info' in ours ? ours.info : undefined);
  }
  const wasmSkip = skips['tfjs-wasm-stock'];
  const wasm = wasmSkip ? { measurement: { ms: null, note: wasmSkip } } : runChild(name, 'tfjs-wasm-stock', policy);
  baselines['tfjs-wasm-stock'] = 'error' in wasm ? { ms: null, note: wasm.error } : { ...wasm.measurement, note: wasm.measurement.note ?? 'tfjs-backend-wasm, 1 thread' };
  return caseResult(name, 'error' in ours ? { ms: null, note: ours.error } : ours.measurement, baselines);
}

const fmt = (v: number | null): string => (v === null ? '-' : v >= 100 ? v.toFixed(0) : v.toFixed(1));

async function main(argv: readonly string[]): Promise<void> {
  const args = parseBenchArgs(argv);
  const m = benchMachine(machine());
  console.log(`pnpm bench${args.quick ? ' --quick' : ''}: ${args.cases.join(', ')}; ${m.cpu}, ${m.logicalCores} cores, load ${m.loadAvg1}`);
  const kernels = args.cases.filter((c) => KERNELS.includes(c));
  const torchTimes = kernels.length > 0 ? torchKernels(kernels.map((k) => kernelSpecs(repPolicy(k, args.quick))[k as 'matmul-sd'])) : new Map<string, Measurement>();
  let backend: BackendInfo | null = null;
  const results: BenchCaseResult[] = [];
  for (const name of args.cases) {
    const r = await measureCase(name, args.quick, torchTimes, (i) => { backend ??= i; });
    results.push(r);
    console.log(`${name}: ${fmt(r.ms)} ms · torch ${fmt(r.baselines.torch)} · onnxruntime ${fmt(r.baselines.onnxruntime)} · wasm 1 thread ${fmt(r.baselines['tfjs-wasm-stock'])}${r.note ? ` (${r.note})` : ''}`);
  }
  if (backend === null) {
    const info = runChild('info', 'main', { warmup: 0, reps: 0 });
    backend = 'info' in info ? info.info : null;
  }
  const file = args.json ? resolve(args.json) : join(RESULTS, 'bench.json');
  console.log(`wrote ${writeBenchJson(file, benchJson({ machine: m, backend, quick: args.quick, results }))}`);
  if (!args.json) console.log(`wrote ${writeDashboard()}`);
  else console.log(`render it with: pnpm bench:dashboard ${file}`);
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const argv = process.argv.slice(2);
  if (argv.some((a) => a.startsWith('--child-case='))) await child(argv);
  else {
    try {
      await main(argv);
    } catch (e) {
      if (!(e instanceof BenchArgError)) throw e;
      console.error(`pnpm bench: ${e.message}`);
      process.exitCode = 2;
    }
  }
}
