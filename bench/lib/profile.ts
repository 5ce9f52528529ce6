/**
 * Per-kernel profiles: runs a function under `tf.profile()` (which times every kernel the engine dispatches;
 * wasm and cpu kernels are synchronous, so a kernel's time is its wall time), counts the multiply-add FLOPs of
 * the conv and matmul kernels from their recorded shapes, and groups the records by kernel name into a "top
 * kernels" table: calls, total ms, share of the profiled run, GFLOP and GFLOPS, and the input shapes that cost
 * the most time under that name.
 */
import * as tf from '@tensorflow/tfjs-core';
import { printTable } from './harness.js';

/** One kernel call as recorded by `tf.profile()`. */
export interface KernelRecord {
  name: string;
  ms: number;
  inputShapes: number[][];
  outputShapes: number[][];
}

/** A profiled run: wall time of the whole call and every kernel it dispatched. */
export interface ProfileRun {
  wallMs: number;
  kernels: KernelRecord[];
}

/** One row of a top-kernels table. */
export interface KernelStat {
  kernel: string;
  calls: number;
  totalMs: number;
  /** Percentage of the profiled run's wall time. */
  sharePct: number;
  /** Multiply-add FLOPs of these calls, in 1e9 (null for kernels that are not conv or matmul). */
  gflop: number | null;
  gflops: number | null;
  /** Input shapes of the calls of this kernel that took the most time together, and that share of its time. */
  topShapes: string;
}

const size = (s: readonly number[]): number => s.reduce((a, b) => a * b, 1);

/**
 * Multiply-add FLOPs (2 per MAC) of one kernel call from its recorded shapes: convolutions
 * (`Conv2D`, `FusedConv2D`: filter `[kh, kw, Cin, Cout]`, `2 · |out| · kh · kw · Cin`) and matrix products
 * (`MatMul`, `BatchMatMul`, `_FusedMatMul`: `2 · |out| · K` with `K = |a| / (batch(a) · M)`, whatever the
 * transposes); 0 for every other kernel.
 *
 * @param r a recorded kernel call
 * @example
 * ```ts
 * kernelFlops({ name: 'MatMul', ms: 1, inputShapes: [[8192, 320], [320, 320]], outputShapes: [[8192, 320]] }); // 1677721600
 * ```
 */
export function kernelFlops(r: KernelRecord): number {
  const out = r.outputShapes[0];
  const [a, b] = r.inputShapes;
  if (!out || !a || !b) return 0;
  if (r.name === 'Conv2D' || r.name === 'FusedConv2D') {
    return b.length === 4 ? 2 * size(out) * b[0]! * b[1]! * b[2]! : 0;
  }
  if (r.name === 'MatMul' || r.name === 'BatchMatMul' || r.name === '_FusedMatMul') {
    const m = out[out.length - 2]!;
    const batchA = size(a.slice(0, -2));
    return 2 * size(out) * (size(a) / (batchA * m));
  }
  return 0;
}

/**
 * Runs `fn` once under `tf.profile()` and returns its wall time and kernel records (registered kernels of the
 * active backend only); whatever `fn` returns is read back (`dataSync`) inside the timed span and then disposed.
 *
 * @param fn the work, returning its output tensor(s)
 * @example
 * ```ts
 * const run = await profileRun(() => unet.forward(x, 981, ehs));
 * ```
 */
export async function profileRun(fn: () => tf.Tensor | tf.Tensor[]): Promise<ProfileRun> {
  let wallMs = 0;
  const info = await tf.profile(() => {
    const t0 = performance.now();
    const out = fn();
    const list = Array.isArray(out) ? out : [out];
    list.forEach((t) => t.dataSync());
    wallMs = performance.now() - t0;
    tf.dispose(list);
    return [];
  });
  // Ops with a custom gradient (the fused ones) are recorded twice: under their op scope (`fusedConv2d__op`) and
  // as the kernel they run (`FusedConv2D`). Keep registered kernels only, so nothing is counted twice.
  const backend = tf.getBackend();
  const kernels = info.kernels.filter((k) => tf.getKernel(k.name, backend) !== undefined).map((k) => ({
    name: k.name,
    ms: k.kernelTimeMs as number,
    inputShapes: k.inputShapes.map((s) => [...(s ?? [])]),
    outputShapes: k.outputShapes.map((s) => [...(s ?? [])]),
  }));
  return { wallMs, kernels };
}

/**
 * Groups kernel records by kernel name, sorted by total time, keeping the `top` most expensive.
 *
 * @param run a profiled run
 * @param top how many kernels to keep (default 12)
 * @example
 * ```ts
 * topKernels(run, 12)[0]; // { kernel: 'FusedConv2D', calls: 100, totalMs: 5412, sharePct: 61.2, ... }
 * ```
 */
export function topKernels(run: ProfileRun, top = 12): KernelStat[] {
  const groups = new Map<string, KernelRecord[]>();
  for (const k of run.kernels) groups.set(k.name, [...(groups.get(k.name) ?? []), k]);
  const stats: KernelStat[] = [];
  for (const [name, list] of groups) {
    const totalMs = list.reduce((a, k) => a + k.ms, 0);
    const flops = list.reduce((a, k) => a + kernelFlops(k), 0);
    const byShape = new Map<string, number>();
    for (const k of list) {
      const key = k.inputShapes.map((s) => `[${s.join(',')}]`).join(' ');
      byShape.set(key, (byShape.get(key) ?? 0) + k.ms);
    }
    const [shape, shapeMs] = [...byShape].sort((x, y) => y[1] - x[1])[0]!;
    stats.push({
      kernel: name,
      calls: list.length,
      totalMs,
      sharePct: (100 * totalMs) / run.wallMs,
      gflop: flops > 0 ? flops / 1e9 : null,
      gflops: flops > 0 && totalMs > 0 ? flops / 1e6 / totalMs : null,
      topShapes: `${shape} (${totalMs > 0 ? Math.round((100 * shapeMs) / totalMs) : 0}%)`,
    });
  }
  return stats.sort((x, y) => y.totalMs - x.totalMs).slice(0, top);
}

/**
 * Total multiply-add FLOPs of a profiled run's conv and matmul kernels (see {@link kernelFlops}).
 *
 * @param run a profiled run
 * @example
 * ```ts
 * runFlops(run) / 1e9; // GFLOP of one UNet step
 * ```
 */
export function runFlops(run: ProfileRun): number {
  return run.kernels.reduce((a, k) => a + kernelFlops(k), 0);
}

/**
 * Prints a top-kernels table under a title line giving the run's wall time and the kernels' summed time.
 *
 * @param title what was profiled
 * @param run   the profiled run
 * @param stats its top kernels
 * @example
 * ```ts
 * printProfile('UNet step · wasm all threads', run, topKernels(run));
 * ```
 */
export function printProfile(title: string, run: ProfileRun, stats: readonly KernelStat[]): void {
  const sum = run.kernels.reduce((a, k) => a + k.ms, 0);
  console.log(`\nprofile: ${title}: ${run.wallMs.toFixed(0)} ms wall, ${run.kernels.length} kernel calls summing to ${sum.toFixed(0)} ms`);
  printTable(
    ['kernel', 'calls', 'total ms', 'share %', 'GFLOP', 'GFLOPS', 'costliest inputs'],
    stats.map((s) => [
      s.kernel, String(s.calls), s.totalMs.toFixed(1), s.sharePct.toFixed(1),
      s.gflop === null ? '' : s.gflop.toFixed(1), s.gflops === null ? '' : s.gflops.toFixed(1), s.topShapes,
    ]),
  );
}
