/**
 * The Node thread shim: the threaded SIMD build computes what the cpu backend computes, its worker script is
 * written once and compiles, and a process using it exits on its own.
 */
import { describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { execFile } from 'node:child_process';
import { createRequire } from 'node:module';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Script } from 'node:vm';
import { initBackend } from './index.js';
import { loadWasm } from './wasm.js';
import { wasmPackageDir, writePthreadWorker } from './wasm-threads.js';

function seeded(n: number, seed: number): Float32Array {
  const out = new Float32Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = s / 2 ** 31 - 1;
  }
  return out;
}

/** Runs `f` on a backend from the same input values; returns the output values. */
async function on(backend: string, shapes: number[][], f: (xs: tf.Tensor[]) => tf.Tensor): Promise<Float32Array> {
  await tf.setBackend(backend);
  const before = tf.memory().numTensors;
  const xs = shapes.map((s, i) => tf.tensor(seeded(s.reduce((a, b) => a * b, 1), 7 + i), s));
  const y = f(xs);
  const values = (await y.data()) as Float32Array;
  tf.dispose([...xs, y]);
  expect(tf.memory().numTensors).toBe(before);
  return values;
}

function expectClose(a: Float32Array, b: Float32Array): void {
  expect(a.length).toBe(b.length);
  const scale = b.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i]! - b[i]!) / (Math.abs(b[i]!) + scale));
  expect(worst).toBeLessThan(1e-4);
}

describe('threaded wasm in Node', () => {
  it('runs 2 XNNPACK threads and matches cpu on conv2d and matMul', async () => {
    const info = await initBackend({ backend: 'wasm', threads: 2 });
    expect(info).toMatchObject({ name: 'wasm', threads: 2, simd: true });
    expect(info.detail).toContain('threaded-simd build, 2 threads');
    const conv = (xs: tf.Tensor[]) => tf.conv2d(xs[0] as tf.Tensor4D, xs[1] as tf.Tensor4D, 1, 'same');
    const convShapes = [[2, 24, 24, 32], [3, 3, 32, 48]];
    expectClose(await on('wasm', convShapes, conv), await on('cpu', convShapes, conv));
    const mm = (xs: tf.Tensor[]) => tf.matMul(xs[0] as tf.Tensor2D, xs[1] as tf.Tensor2D);
    const mmShapes = [[192, 256], [256, 160]];
    expectClose(await on('wasm', mmShapes, mm), await on('cpu', mmShapes, mm));
  });

  it('writes the pthread worker script once, as a compilable file', () => {
    const a = writePthreadWorker(wasmPackageDir());
    const b = writePthreadWorker(wasmPackageDir());
    expect(b).toBe(a);
    const source = readFileSync(a, 'utf8');
    expect(source).toContain('worker_threads');
    expect(() => new Script(source)).not.toThrow();
  });

  it('lets a process using wasm threads exit by itself', async () => {
    const index = pathToFileURL(fileURLToPath(new URL('./index.ts', import.meta.url))).href;
    const tfCore = pathToFileURL(createRequire(import.meta.url).resolve('@tensorflow/tfjs-core')).href;
    const script = join(tmpdir(), `semedit-thread-exit-${process.pid}.mjs`);
    writeFileSync(
      script,
      `import * as tf from ${JSON.stringify(tfCore)};\n` +
        `import { initBackend } from ${JSON.stringify(index)};\n` +
        `const info = await initBackend({ backend: 'wasm', threads: 2 });\n` +
        `const y = tf.conv2d(tf.ones([1, 16, 16, 8]), tf.ones([3, 3, 8, 8]), 1, 'same');\n` +
        `console.log(JSON.stringify({ threads: info.threads, build: info.detail, value: (await y.data())[0] }));\n`,
    );
    const started = Date.now();
    const out = await new Promise<string>((resolve, reject) => {
      execFile(process.execPath, ['--import', 'tsx', script], { cwd: process.cwd(), timeout: 60_000 }, (err, stdout, stderr) =>
        err ? reject(new Error(`${err.message}\n${stderr}`)) : resolve(stdout),
      );
    }).finally(() => rmSync(script, { force: true }));
    const line = out.trim().split('\n').find((l) => l.startsWith('{'));
    expect(JSON.parse(line ?? '{}')).toEqual({ threads: 2, build: 'tfjs-backend-wasm 4.22.0, threaded-simd build, 2 threads', value: 4 * 8 });
    expect(Date.now() - started).toBeLessThan(60_000);
  });

  it('falls back to single-threaded SIMD, saying why, when the threaded build cannot start', async () => {
    const failing = async () => {
      throw new Error('worker_threads refused to start');
    };
    await initBackend({ backend: 'wasm', threads: 1 });
    const r = await loadWasm({ threads: 2, simd: true }, { instantiateThreaded: failing });
    expect(r).toMatchObject({ threads: 1, simd: true, build: 'simd' });
    expect(r.warnings).toEqual([expect.stringContaining('wasm threads unavailable (worker_threads refused to start)')]);
    const y = tf.tidy(() => tf.sum(tf.matMul(tf.ones([3, 5]), tf.ones([5, 2]))));
    expect((await y.data())[0]).toBe(30);
    y.dispose();
    expect((await initBackend({ backend: 'wasm', threads: 2 })).threads).toBe(2);
  });
});
