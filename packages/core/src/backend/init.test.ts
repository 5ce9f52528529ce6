/**
 * Backend selection: the default choice here (native where its addon is built, else wasm, threaded, SIMD, with
 * the reason native was skipped), SEMEDIT_BACKEND, unknown and unavailable
 * names, idempotence, re-creating wasm with another thread count, and no leaked tensors or process listeners.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { createRequire } from 'node:module';
import { availableParallelism } from 'node:os';
import { OptionError, SemeditError } from '../errors.js';
import { BackendUnavailableError, WASM_MAX_THREADS, backendInfo, initBackend } from './index.js';

const SAVED = ['SEMEDIT_BACKEND', 'SEMEDIT_THREADS', 'SEMEDIT_HEAP_LIMIT'].map((k) => [k, process.env[k]] as const);
beforeEach(() => SAVED.forEach(([k]) => delete process.env[k]));
afterEach(() => SAVED.forEach(([k, v]) => (v === undefined ? delete process.env[k] : (process.env[k] = v))));

const webgpuInstalled = (() => {
  try {
    createRequire(import.meta.url).resolve('@tensorflow/tfjs-backend-webgpu');
    return true;
  } catch {
    return false;
  }
})();

/** Whether @semedit/native's addon loads here, and why not. */
const native = (await import('@semedit/native')).nativeAvailability();

async function rejection(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (e) {
    return e;
  }
  throw new Error('expected a rejection');
}

describe('initBackend', () => {
  it('picks native when its addon is built, else threaded SIMD wasm, saying in one line why native was skipped', async () => {
    const info = await initBackend();
    expect(info.tried[0]!.name).toBe('tensorflow');
    expect(info.tried[0]!.error).toContain('@tensorflow/tfjs-node');
    expect(info.tried[1]!.name).toBe('native');
    if (native.available) {
      expect(info.name).toBe('native');
      expect(info.tried.map((t) => t.name)).toEqual(['tensorflow', 'native']);
      expect(info.detail).toMatch(/^@semedit\/native: oneDNN \d+\.\d+\.\d+ \(.+\), \d+ threads?$/);
      expect(info.warnings).toEqual([]);
    } else {
      expect(info.name).toBe('wasm');
      expect(info.simd).toBe(true);
      expect(info.threads).toBe(Math.min(availableParallelism(), WASM_MAX_THREADS));
      expect(info.tried.map((t) => t.name)).toEqual(['tensorflow', 'native', 'webgpu', 'wasm']);
      expect(info.tried[1]!.error).toBe(native.reason);
      expect(info.warnings).toEqual([`native unavailable: ${native.reason}; using wasm`]);
    }
    expect(info.tried.at(-1)!.error).toBeUndefined();
    expect(tf.getBackend()).toBe(info.name);
    expect(backendInfo()).toEqual(info);
    expect(tf.memory().numTensors).toBe(0); // initialization leaves no tensor behind
  });

  it('picks threaded SIMD wasm when named', async () => {
    const info = await initBackend({ backend: 'wasm' });
    expect(info.name).toBe('wasm');
    expect(info.simd).toBe(true);
    expect(info.threads).toBe(Math.min(availableParallelism(), WASM_MAX_THREADS));
    if (availableParallelism() > 1) {
      expect(info.threads).toBeGreaterThan(1);
      expect(info.detail).toContain('threaded-simd');
    }
  });

  it('is idempotent: the same options return the same backend instance', async () => {
    const a = await initBackend();
    const backend = tf.backend();
    const b = await initBackend();
    expect(b).toEqual(a);
    expect(tf.backend()).toBe(backend);
  });

  it('honours SEMEDIT_BACKEND=cpu, then returns to the same wasm backend', async () => {
    await initBackend({ backend: 'wasm' });
    const wasm = tf.backend();
    process.env['SEMEDIT_BACKEND'] = 'cpu';
    const info = await initBackend();
    expect(info).toMatchObject({ name: 'cpu', threads: 1, tried: [{ name: 'cpu' }] });
    expect(tf.getBackend()).toBe('cpu');
    delete process.env['SEMEDIT_BACKEND'];
    expect((await initBackend({ backend: 'wasm' })).name).toBe('wasm');
    expect(tf.backend()).toBe(wasm);
  });

  it('rejects an unknown backend name with OptionError (option or environment)', async () => {
    const e1 = await rejection(initBackend({ backend: 'gpu' as never }));
    expect(e1).toBeInstanceOf(OptionError);
    expect((e1 as OptionError).option).toBe('backend');
    process.env['SEMEDIT_BACKEND'] = 'tpu';
    const e2 = await rejection(initBackend());
    expect(e2).toBeInstanceOf(OptionError);
    expect((e2 as OptionError).option).toBe('SEMEDIT_BACKEND');
    expect((e2 as Error).message).toContain('tensorflow, native, webgpu, wasm, cpu');
  });

  it('rejects a named backend that cannot load with BackendUnavailableError saying why, keeping the current one', async () => {
    await initBackend({ backend: 'wasm' });
    const e = await rejection(initBackend({ backend: 'tensorflow' }));
    expect(e).toBeInstanceOf(BackendUnavailableError);
    expect(e).toBeInstanceOf(SemeditError);
    expect((e as BackendUnavailableError).code).toBe('E_BACKEND_UNAVAILABLE');
    expect((e as BackendUnavailableError).backend).toBe('tensorflow');
    expect((e as Error).message).toContain('@tensorflow/tfjs-node-gpu: not installed');
    expect((e as Error).message).toContain('@tensorflow/tfjs-node: not installed');
    expect(tf.getBackend()).toBe('wasm');

    if (!native.available) {
      const e2 = await rejection(initBackend({ backend: 'native' }));
      expect(e2).toBeInstanceOf(BackendUnavailableError);
      expect((e2 as Error).message).toContain(native.reason);
    }
  });

  it.skipIf(webgpuInstalled)('rejects webgpu by name when @tensorflow/tfjs-backend-webgpu is not installed', async () => {
    const e = await rejection(initBackend({ backend: 'webgpu' }));
    expect(e).toBeInstanceOf(BackendUnavailableError);
    expect((e as Error).message).toContain('@tensorflow/tfjs-backend-webgpu: not installed');
  });

  it('re-creates wasm for another thread count only once its tensors are disposed', async () => {
    await initBackend({ backend: 'wasm', threads: 2 });
    const listeners = ['uncaughtException', 'unhandledRejection'].map((e) => process.listeners(e as 'uncaughtException'));
    const x = tf.ones([4, 4]);
    const e = await rejection(initBackend({ backend: 'wasm', threads: 1 }));
    expect(e).toBeInstanceOf(OptionError);
    expect((e as Error).message).toContain('still live');
    expect(tf.getBackend()).toBe('wasm');
    expect(backendInfo()!.threads).toBe(2);
    x.dispose();

    const one = await initBackend({ backend: 'wasm', threads: 1 });
    expect(one).toMatchObject({ name: 'wasm', threads: 1, simd: true });
    expect(one.detail).toContain('simd build, 1 thread');
    const s = tf.tidy(() => tf.sum(tf.matMul(tf.ones([8, 4]), tf.ones([4, 2]))));
    expect((await s.data())[0]).toBe(64);
    s.dispose();
    const two = await initBackend({ backend: 'wasm', threads: 2 });
    expect(two.threads).toBe(2);
    // Disposing the old modules left the host's process error listeners alone and added none.
    expect(['uncaughtException', 'unhandledRejection'].map((e) => process.listeners(e as 'uncaughtException'))).toEqual(listeners);
  });
});
