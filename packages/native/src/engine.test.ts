/**
 * The engine around the kernels: bad input reaches JavaScript as a typed error (never a crash), the addon's own
 * bytes are counted and return to zero, repeated work leaves tensors and bytes where they were, SEMEDIT_THREADS is
 * honoured, and a long kernel loop dies on SIGINT. (The fallback to wasm is tested with initBackend, in core.)
 */
import * as tf from '@tensorflow/tfjs-core';
import { spawn, spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { loadAddon, type Addon } from './addon.js';
import { call, NativeKernelError } from './errors.js';
import { nativeAvailability, physicalCores, registerNativeBackend } from './index.js';

// tfjs-core's Node entry registers no gradients (semedit's initBackend does; this package does not depend on it).
await import('@tensorflow/tfjs-core/dist/register_all_gradients.js');

const avail = nativeAvailability();
if (!avail.available) console.log(`native engine tests skipped: ${avail.reason}`);
const d = avail.available ? describe : describe.skip;
const CHILD = fileURLToPath(new URL('./testing/child.ts', import.meta.url));
const NODE_ARGS = ['--conditions=@repo/source', '--import', 'tsx', CHILD];

function addon(): Addon {
  const r = loadAddon();
  if ('reason' in r) throw new Error(r.reason);
  return r.addon;
}

function codeOf(f: () => void): string {
  try {
    call('Test', f);
  } catch (e) {
    expect(e).toBeInstanceOf(NativeKernelError);
    expect((e as NativeKernelError).kernel).toBe('Test');
    return (e as NativeKernelError).code;
  }
  throw new Error('expected a NativeKernelError');
}

d('native engine', () => {
  it('turns bad arguments into typed errors naming what was wrong', () => {
    const a = addon();
    const f = (n: number): Float32Array => new Float32Array(n);
    // Data shorter than its shape, a wrong dtype, a shape that does not match the output, non-integer dims.
    expect(codeOf(() => a.conv2d(f(10), [1, 4, 4, 1], f(9), [3, 3, 1, 1], f(16), [1, 4, 4, 1], [1, 1], [1, 1], [1, 1, 1, 1], null, 0, 0, false, 0))).toBe('E_NATIVE_SHAPE');
    expect(codeOf(() => a.conv2d(f(16), [1, 4, 4, 1], f(9), [3, 3, 1, 1], f(16), [1, 4, 4, 2], [1, 1], [1, 1], [1, 1, 1, 1], null, 0, 0, false, 0))).toBe('E_NATIVE_SHAPE');
    expect(codeOf(() => a.conv2d(f(16), [1, 4, 4, 1], f(9), [3, 3, 2, 1], f(16), [1, 4, 4, 1], [1, 1], [1, 1], [1, 1, 1, 1], null, 0, 0, false, 0))).toBe('E_NATIVE_SHAPE');
    expect(codeOf(() => a.conv2d(f(16), [1, 4, 4, 1], f(9), [3, 3, 1, 1], f(16), [1, 4, 4, 1], [0, 1], [1, 1], [1, 1, 1, 1], null, 0, 0, false, 0))).toBe('E_NATIVE_ARG');
    expect(codeOf(() => a.conv2d(f(16), [1, 4, 4, 1], f(9), [3, 3, 1, 1], f(16), [1, 4, 4, 1], [1, 1], [1, 1], [1, 1, 1, 1], null, 99, 0, false, 0))).toBe('E_NATIVE_ARG');
    expect(codeOf(() => a.matmul(new Int32Array(4) as unknown as Float32Array, [1, 2, 2], f(4), [1, 2, 2], f(4), [1, 2, 2], false, false, null, null, 0, 0, 0))).toBe('E_NATIVE_DTYPE');
    expect(codeOf(() => a.matmul(f(6), [1, 2, 3], f(4), [1, 2, 2], f(4), [1, 2, 2], false, false, null, null, 0, 0, 0))).toBe('E_NATIVE_SHAPE');
    expect(codeOf(() => a.binary(0, f(6), [2, 3], f(4), [2, 2], f(6), [2, 3]))).toBe('E_NATIVE_SHAPE');
    expect(codeOf(() => a.binary(42, f(6), [2, 3], f(6), [2, 3], f(6), [2, 3]))).toBe('E_NATIVE_ARG');
    expect(codeOf(() => a.unary(1000, 0, 0, f(3), f(3)))).toBe('E_NATIVE_ARG');
    expect(codeOf(() => a.unary(0, 0, 0, f(3), f(4)))).toBe('E_NATIVE_SHAPE');
    expect(codeOf(() => a.transpose(f(6), [2, 3], [0, 0], f(6)))).toBe('E_NATIVE_ARG');
    expect(codeOf(() => a.transpose(f(6), [2, 3.5], [1, 0], f(6)))).toBe('E_NATIVE_ARG');
    expect(codeOf(() => a.reduce(0, f(6), 2, 4, 1, f(2)))).toBe('E_NATIVE_SHAPE');
    expect(codeOf(() => a.softmax(f(6), 2, 3, f(5)))).toBe('E_NATIVE_SHAPE');
    expect(codeOf(() => a.concat([f(6), f(5)], [3, 2], 2, f(10)))).toBe('E_NATIVE_SHAPE');
    expect(codeOf(() => a.concat([f(6), new Int32Array(4) as unknown as Float32Array], [3, 2], 2, f(10)))).toBe('E_NATIVE_DTYPE');
    expect(codeOf(() => a.concat([f(6), f(4)], [3, 2], 2, f(9)))).toBe('E_NATIVE_SHAPE');
    expect(codeOf(() => a.resizeNearest(f(8), [1, 2, 2, 2], Int32Array.from([0, 2]), Int32Array.from([0, 1]), f(8)))).toBe('E_NATIVE_SHAPE');
    expect(codeOf(() => a.resizeNearest(f(8), [1, 2, 2, 2], Int32Array.from([0, 1]), Int32Array.from([0, 1]), f(7)))).toBe('E_NATIVE_SHAPE');
    expect(codeOf(() => a.pad(f(6), [2, 3], [1, 0], [0, 1], 0, f(11)))).toBe('E_NATIVE_SHAPE');
    expect(codeOf(() => a.pad(f(6), [2, 3], [-1, 0], [0, 1], 0, f(8)))).toBe('E_NATIVE_ARG');
    expect(codeOf(() => a.slice(f(6), [2, 3], [1, 2], [1, 2], f(2)))).toBe('E_NATIVE_SHAPE');
    expect(codeOf(() => a.binary(8, f(6), [2, 3], f(6), [2, 3], f(6), [2, 3]))).toBe('E_NATIVE_DTYPE'); // a comparison writes bools
    expect(codeOf(() => a.binary(14, f(6), [2, 3], new Uint8Array(6), [2, 3], new Uint8Array(6), [2, 3]))).toBe('E_NATIVE_DTYPE');
    expect(codeOf(() => a.select(new Uint8Array(5), f(6), f(6), f(6)))).toBe('E_NATIVE_SHAPE');
    expect(codeOf(() => a.biasAct(f(12), 2, 3, 2, null, f(5), 2, null, 0.2, 1, -1, f(12)))).toBe('E_NATIVE_SHAPE'); // noise is [rows, positions]
    expect(codeOf(() => a.biasAct(f(12), 2, 3, 2, f(4), f(9), 3, null, 0.2, 1, -1, f(12)))).toBe('E_NATIVE_SHAPE');
    expect(codeOf(() => a.biasActGrad(f(12), f(12), 2, 3, 2, null, f(5), 2, null, 0.2, 1, -1, f(12), null, null, null))).toBe('E_NATIVE_SHAPE');
    expect(codeOf(() => a.biasActGrad(f(12), f(11), 2, 3, 2, null, null, 0, null, 0.2, 1, -1, f(12), null, null, null))).toBe('E_NATIVE_SHAPE');
    expect(codeOf(() => a.biasActGrad(f(12), f(12), 2, 3, 2, null, null, 0, null, 0.2, 1, -1, null, f(4), null, null))).toBe('E_NATIVE_ARG'); // dscale without scale
    expect(codeOf(() => a.groupNormGrad(f(12), f(12), 2, 3, 2, 3, f(2), f(2), 1e-5, false, f(12), null, null))).toBe('E_NATIVE_SHAPE'); // 3 groups of 2 channels
    expect(codeOf(() => a.groupNormGrad(f(12), f(11), 2, 3, 2, 1, f(2), f(2), 1e-5, false, f(12), null, null))).toBe('E_NATIVE_SHAPE');
    expect(codeOf(() => a.groupNormGrad(f(12), f(12), 2, 3, 2, 1, f(2), f(2), 1e-5, false, null, f(3), null))).toBe('E_NATIVE_SHAPE');
    expect(codeOf(() => a.setPrecision('fp16' as 'bf16'))).toBe('E_NATIVE_ARG');
    expect(codeOf(() => a.setWinograd(1 as unknown as boolean))).toBe('E_NATIVE_ARG');
  });

  it('counts its own bytes, and repeated work leaves tensors, bytes and addon bytes where they were', async () => {
    registerNativeBackend();
    await tf.setBackend('native');
    const x = tf.randomNormal([2, 16, 16, 32]) as tf.Tensor4D;
    const w = tf.randomNormal([3, 3, 32, 32]) as tf.Tensor4D;
    const work = (): void => {
      tf.tidy(() => {
        const y = tf.conv2d(x, w, 1, 'same');
        const g = tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.square(tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, 2, 'same'))))([x, w]);
        tf.softmax(tf.matMul(tf.reshape(y, [512, 32]), tf.reshape(y, [512, 32]), false, true)).dataSync();
        g.forEach((t) => t.dataSync());
      });
    };
    work();
    const before = tf.memory() as tf.MemoryInfo & { addonBytes: number; addonPeakBytes: number };
    for (let i = 0; i < 5; i++) work();
    const after = tf.memory() as tf.MemoryInfo & { addonBytes: number; addonPeakBytes: number };
    expect(after.numTensors).toBe(before.numTensors);
    expect(after.numBytes).toBe(before.numBytes);
    expect(after.addonBytes).toBe(before.addonBytes); // the filter kept in oneDNN's layout, and nothing else
    expect(after.addonBytes).toBeGreaterThan(0);
    expect(after.addonPeakBytes).toBeGreaterThan(after.addonBytes); // scratchpads came and went, counted
    tf.dispose([x, w]);
    expect((tf.memory() as tf.MemoryInfo & { addonBytes: number }).addonBytes).toBe(0); // released with the filter
  });

  it('uses SEMEDIT_THREADS threads, else OMP_NUM_THREADS, else the physical cores', () => {
    const run = (env: Record<string, string>): { threads: number; detail: string } => {
      const r = spawnSync(process.execPath, [...NODE_ARGS, 'threads'], { env: { ...process.env, ...env }, encoding: 'utf8' });
      expect(r.status, r.stderr).toBe(0);
      return JSON.parse(r.stdout.trim().split('\n').at(-1)!);
    };
    expect(run({ SEMEDIT_THREADS: '', OMP_NUM_THREADS: '1' }).threads).toBe(1);
    const one = run({ SEMEDIT_THREADS: '1' });
    expect(one.threads).toBe(1);
    expect(one.detail).toMatch(/, 1 thread$/);
    const { SEMEDIT_THREADS: _, OMP_NUM_THREADS: __, ...rest } = process.env;
    expect(spawnSync(process.execPath, [...NODE_ARGS, 'threads'], { env: rest, encoding: 'utf8' }).stdout).toContain(`"threads":${physicalCores()}`);
  });

  it('dies on SIGINT in the middle of long kernels', async () => {
    const child = spawn(process.execPath, [...NODE_ARGS, 'spin'], { stdio: ['ignore', 'pipe', 'inherit'] });
    await new Promise<void>((resolve) => child.stdout.on('data', (b: Buffer) => b.toString().includes('ready') && resolve()));
    await new Promise((r) => setTimeout(r, 500)); // inside the conv loop
    const sent = Date.now();
    child.kill('SIGINT');
    const [code, signal] = await new Promise<[number | null, string | null]>((resolve) => child.on('exit', (c, s) => resolve([c, s])));
    expect(signal ?? String(code)).toMatch(/SIGINT|130/);
    expect(Date.now() - sent).toBeLessThan(10_000);
  });
});
