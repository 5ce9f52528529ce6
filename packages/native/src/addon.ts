/**
 * Loading the compiled addon (`build/Release/semedit_native.node`) and its typed surface. The addon is built by
 * the package's install hook when a C++ compiler and oneDNN are present; otherwise the hook leaves the reason in
 * `build/unavailable.txt`, which {@link loadAddon} reports.
 * @module
 */
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** A shape, strides or an axis list as passed to the addon. */
export type Dims = readonly number[];

/** Half-width formats of weight storage: bfloat16 (fp32's range, 8 significant bits) or IEEE fp16 (11 bits, ±65504). */
export type HalfFormat = 'bf16' | 'fp16';

/** Tensor data kept in half-width storage: the raw bits and their format. */
export interface HalfBits {
  bits: Uint16Array;
  format: HalfFormat;
}

/**
 * The functions the addon exports. Every call is synchronous and writes into the output array it is given; bad
 * arguments throw an `Error` with `code` (`E_NATIVE_ARG`, `E_NATIVE_SHAPE`, `E_NATIVE_DTYPE`, `E_NATIVE_DNNL`,
 * `E_NATIVE_OOM`) and `kernel`.
 *
 * @example
 * ```ts
 * const addon = loadAddon();
 * if ('addon' in addon) console.log(addon.addon.info().onednn); // '2.6.3'
 * ```
 */
export interface Addon {
  info(): { onednn: string; isa: string; threads: number; runtime: string; precision: 'fp32' | 'bf16'; winograd: boolean };
  setThreads(n: number): void;
  /** Compute precision of convolutions and matmuls; `bf16` needs AVX512-BF16 or AMX. */
  setPrecision(p: 'fp32' | 'bf16'): void;
  /** Whether 3x3 stride-1 convolutions may run as Winograd F(4x4, 3x3) (on by default). */
  setWinograd(on: boolean): void;
  /** `bytes`: the addon's own live allocations; `workspaceBytes`: the work buffers kept between calls. */
  memory(): { bytes: number; peakBytes: number; workspaceBytes: number };
  /** Frees the work buffers kept between calls. */
  releaseWorkspace(): void;
  conv2d(x: Float32Array, xs: Dims, w: Float32Array | HalfBits, ws: Dims, y: Float32Array, ys: Dims, strides: Dims, dilations: Dims, pads: Dims,
    bias: Float32Array | null, activation: number, alpha: number, depthwise: boolean, packId: number): void;
  conv2dBackpropInput(dy: Float32Array, dys: Dims, w: Float32Array | HalfBits, ws: Dims, dx: Float32Array, dxs: Dims, strides: Dims, dilations: Dims,
    pads: Dims, depthwise: boolean, packId: number): void;
  /** bits = x rounded to the half-width format (nearest even). */
  toHalf(x: Float32Array, format: HalfFormat, bits: Uint16Array): void;
  /** y = the float32 values of half-width bits. */
  fromHalf(bits: Uint16Array, format: HalfFormat, y: Float32Array): void;
  /** Frees an array's memory now (its buffer is detached and reads as empty). */
  detach(x: Float32Array): void;
  /** Drops the filter layouts kept for a pack id (the tensor was disposed). */
  release(packId: number): void;
  conv2dBackpropFilter(x: Float32Array, xs: Dims, dy: Float32Array, dys: Dims, dw: Float32Array, ws: Dims, strides: Dims, dilations: Dims,
    pads: Dims, depthwise: boolean): void;
  matmul(a: Float32Array, as: Dims, b: Float32Array | HalfBits, bs: Dims, y: Float32Array, ys: Dims, transposeA: boolean, transposeB: boolean,
    bias: Float32Array | null, biasShape: Dims | null, activation: number, alpha: number, packIdB: number): void;
  /** Codes 0-7 arithmetic (float32), 8-13 comparisons (float32 in, Uint8Array out), 14-15 AND/OR (Uint8Array). */
  binary(op: number, a: Float32Array | Uint8Array, as: Dims, b: Float32Array | Uint8Array, bs: Dims, y: Float32Array | Uint8Array, ys: Dims): void;
  /** y = cond ? t : e, element-wise. */
  select(cond: Uint8Array, t: Float32Array, e: Float32Array, y: Float32Array): void;
  unary(alg: number, alpha: number, beta: number, x: Float32Array, y: Float32Array): void;
  softmax(x: Float32Array, rows: number, cols: number, y: Float32Array): void;
  transpose(x: Float32Array, xs: Dims, perm: Dims, y: Float32Array): void;
  /** y [rows, Σ widths] from xs[i] [rows, widths[i]]. */
  concat(xs: Float32Array[], widths: Dims, rows: number, y: Float32Array): void;
  /** y[b, r, c, :] = x[b, rows[r], cols[c], :] for NHWC x. */
  resizeNearest(x: Float32Array, xs: Dims, rows: Int32Array, cols: Int32Array, y: Float32Array): void;
  /** y = x padded with `value`: `before[i]` and `after[i]` elements on axis i. */
  pad(x: Float32Array, xs: Dims, before: Dims, after: Dims, value: number, y: Float32Array): void;
  /** y = x[begin : begin + size] on every axis. */
  slice(x: Float32Array, xs: Dims, begin: Dims, size: Dims, y: Float32Array): void;
  reduce(op: number, x: Float32Array, outer: number, size: number, inner: number, y: Float32Array): void;
  attention(q: Float32Array, k: Float32Array, v: Float32Array, bias: Float32Array | null, biasRows: number, batch: number, queries: number,
    keys: number, channels: number, heads: number, scale: number, y: Float32Array): void;
  /** y = clamp(leakyRelu(x · scale[b, c] + noise[b | 0, p] + bias[c], alpha) · gain) over x [B, P, C] (clamp < 0: none). */
  biasAct(x: Float32Array, batch: number, positions: number, channels: number, scale: Float32Array | null, noise: Float32Array | null,
    noiseRows: number, bias: Float32Array | null, alpha: number, gain: number, clamp: number, y: Float32Array): void;
  /** The gradients of biasAct asked for (the outputs given) in one pass. */
  biasActGrad(dy: Float32Array, x: Float32Array, batch: number, positions: number, channels: number, scale: Float32Array | null, noise: Float32Array | null,
    noiseRows: number, bias: Float32Array | null, alpha: number, gain: number, clamp: number, dx: Float32Array | null, dscale: Float32Array | null,
    dnoise: Float32Array | null, dbias: Float32Array | null): void;
  groupNorm(x: Float32Array, batch: number, positions: number, channels: number, groups: number, gamma: Float32Array, beta: Float32Array,
    eps: number, silu: boolean, y: Float32Array): void;
  /** The gradients of groupNorm asked for (the outputs given), statistics recomputed. */
  groupNormGrad(dy: Float32Array, x: Float32Array, batch: number, positions: number, channels: number, groups: number, gamma: Float32Array,
    beta: Float32Array, eps: number, silu: boolean, dx: Float32Array | null, dgamma: Float32Array | null, dbeta: Float32Array | null): void;
}

/**
 * The addon, or why it is not there.
 *
 * @example
 * ```ts
 * const r: AddonLoad = loadAddon(); // { addon } or { reason: 'oneDNN not found (...)' }
 * ```
 */
export type AddonLoad = { addon: Addon; path: string } | { reason: string };

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
let cached: AddonLoad | undefined;

/**
 * Loads the addon once (later calls return the same result). `SEMEDIT_NATIVE_ADDON` names another `.node` file.
 *
 * @example
 * ```ts
 * const r = loadAddon();
 * console.log('reason' in r ? `native unavailable: ${r.reason}` : r.path);
 * ```
 */
export function loadAddon(): AddonLoad {
  if (cached) return cached;
  const path = process.env['SEMEDIT_NATIVE_ADDON'] ?? join(ROOT, 'build', 'Release', 'semedit_native.node');
  if (!existsSync(path)) {
    const status = join(ROOT, 'build', 'unavailable.txt');
    const why = existsSync(status) ? readFileSync(status, 'utf8').trim().split('\n')[0]! : 'the addon was not built (run `pnpm install` or `node scripts/install.mjs` in packages/native)';
    return (cached = { reason: why });
  }
  try {
    return (cached = { addon: createRequire(import.meta.url)(path) as Addon, path });
  } catch (e) {
    return (cached = { reason: `${path} failed to load: ${(e as Error).message.split('\n')[0]}` });
  }
}
