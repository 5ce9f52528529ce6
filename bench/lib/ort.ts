/**
 * onnxruntime-node baseline: times an exported ONNX model on the CPU execution provider with every core, on the
 * inputs stored beside it, and compares its output to the stored PyTorch output.
 *
 * As a script (the bench runs it in its own child process, one runtime per process):
 *
 * ```sh
 * pnpm exec tsx --conditions=@repo/source bench/lib/ort.ts --model=bench/.cache/sd15/onnx/unet.onnx \
 *   --io=bench/.cache/sd15/io.safetensors --reps=2 --warmup=1
 * ```
 *
 * prints one line `@@RESULT {json}` with an {@link OrtTiming}.
 * @module
 */
import { availableParallelism, loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import { readSafetensors, type RawTensor } from '@semedit/core/io';
import { median } from './harness.js';

/** Options of {@link timeOnnx}. */
export interface OrtOptions {
  /** The `.onnx` file (external data files beside it are found by onnxruntime). */
  model: string;
  /** safetensors file holding a float32 tensor per model input, and the expected output under the output's name. */
  io: string;
  /** Untimed runs first. */
  warmup: number;
  /** Timed runs (the median is reported). */
  reps: number;
  /** intra-op threads; default: every core (`availableParallelism()`). */
  threads?: number;
}

/** Result of {@link timeOnnx}. */
export interface OrtTiming {
  medianMs: number;
  minMs: number;
  reps: number;
  warmup: number;
  threads: number;
  /** Session creation (load + graph optimization), ms. */
  loadMs: number;
  /** Largest |onnxruntime - PyTorch| over the first output, or null when the io file has no expected tensor. */
  maxAbsDiff: number | null;
  /** The output compared. */
  output: string;
  /** onnxruntime-node version. */
  version: string;
  /** 1-minute load average when the timing finished. */
  loadAvg: number;
}

/**
 * Times `model` with onnxruntime-node's CPU provider (sequential execution, `intraOpNumThreads` = `threads`, all
 * graph optimizations) and compares the first output with the io file's tensor of the same name.
 *
 * @example
 * ```ts
 * const t = await timeOnnx({ model: 'unet.onnx', io: 'io.safetensors', warmup: 1, reps: 2 });
 * console.log(t.medianMs, t.maxAbsDiff);
 * ```
 */
export async function timeOnnx(opts: OrtOptions): Promise<OrtTiming> {
  const ort = await import('onnxruntime-node');
  const threads = opts.threads ?? availableParallelism();
  const t0 = performance.now();
  const session = await ort.InferenceSession.create(opts.model, {
    executionProviders: ['cpu'], intraOpNumThreads: threads, interOpNumThreads: 1,
    executionMode: 'sequential', graphOptimizationLevel: 'all',
  });
  const loadMs = performance.now() - t0;
  const io = await readSafetensors(opts.io);
  const feeds: Record<string, InstanceType<typeof ort.Tensor>> = {};
  for (const name of session.inputNames) {
    const t = io.get(name);
    if (!t) throw new Error(`ort: ${opts.io} has no tensor for the model input ${name}`);
    feeds[name] = new ort.Tensor('float32', Float32Array.from(t.data as Float32Array), t.shape);
  }
  const output = session.outputNames[0]!;
  let y: Float32Array | undefined;
  const ms: number[] = [];
  for (let i = 0; i < opts.warmup + opts.reps; i++) {
    const t1 = performance.now();
    const out = await session.run(feeds);
    const dt = performance.now() - t1;
    if (i >= opts.warmup) ms.push(dt);
    y = out[output]!.data as Float32Array;
  }
  await session.release();
  const want = io.get(output);
  return {
    medianMs: median(ms), minMs: Math.min(...ms), reps: opts.reps, warmup: opts.warmup, threads, loadMs, output,
    maxAbsDiff: want && y ? maxAbsDiff(y, want) : null, version: ort.env.versions.node ?? 'unknown', loadAvg: loadavg()[0]!,
  };
}

/**
 * Largest absolute elementwise difference (NaN if the sizes differ or any value is not finite).
 *
 * @example
 * ```ts
 * maxAbsDiff(new Float32Array([1, 2]), { dtype: 'float32', shape: [2], data: new Float32Array([1, 2.5]) }); // 0.5
 * ```
 */
export function maxAbsDiff(a: ArrayLike<number>, b: RawTensor | ArrayLike<number>): number {
  const bd = 'data' in b ? (b.data as ArrayLike<number>) : b;
  if (a.length !== bd.length) return NaN;
  let m = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i]! - bd[i]!);
    if (!(d <= m)) m = d; // NaN propagates
  }
  return m;
}

function arg(name: string): string | undefined {
  return process.argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const model = arg('model');
  const io = arg('io');
  if (!model || !io) throw new Error('usage: ort.ts --model=FILE.onnx --io=FILE.safetensors [--reps=N] [--warmup=N] [--threads=N]');
  const threads = arg('threads');
  const r = await timeOnnx({ model, io, reps: Number(arg('reps') ?? 2), warmup: Number(arg('warmup') ?? 1), ...(threads ? { threads: Number(threads) } : {}) });
  process.stdout.write(`@@RESULT ${JSON.stringify(r)}\n`);
}
