/**
 * The wasm heap guard under a small limit: uploads and kernel outputs past the limit throw HeapLimitError,
 * smaller ones work, the byte count follows allocations, and the backend stays usable.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { OptionError, SemeditError } from '../errors.js';
import {
  DEFAULT_HEAP_LIMIT_BYTES,
  HeapLimitError,
  WASM_HEAP_MAX_BYTES,
  getHeapLimit,
  initBackend,
  setHeapLimit,
  wasmHeapStats,
} from './index.js';
import { installHeapGuard, type WasmHeapModule } from './heap-guard.js';

const MiB = 1024 ** 2;

function catchError(f: () => unknown): unknown {
  try {
    f();
  } catch (e) {
    return e;
  }
  return undefined;
}

beforeAll(async () => {
  await initBackend({ backend: 'wasm' });
});
afterAll(() => setHeapLimit(DEFAULT_HEAP_LIMIT_BYTES));

describe('wasm heap guard', () => {
  it('counts the bytes of live tensors', () => {
    const before = wasmHeapStats()!.trackedBytes;
    const t = tf.zeros([1000, 250]); // 1e6 bytes
    expect(wasmHeapStats()!.trackedBytes - before).toBe(1_000_000);
    t.dispose();
    expect(wasmHeapStats()!.trackedBytes).toBe(before);
  });

  it('refuses an upload past a 64 MiB limit with HeapLimitError, and keeps working', async () => {
    setHeapLimit(64 * MiB);
    const tensors = tf.memory().numTensors;
    const stats = wasmHeapStats()!;
    const err = catchError(() => tf.zeros([32 * MiB])); // 128 MiB
    expect(err).toBeInstanceOf(HeapLimitError);
    expect(err).toBeInstanceOf(SemeditError);
    const e = err as HeapLimitError;
    expect(e.code).toBe('E_HEAP');
    expect(e.kind).toBe('limit');
    expect(e.requestedBytes).toBe(128 * MiB);
    expect(e.limitBytes).toBe(64 * MiB);
    expect(e.freeBytes).toBe(64 * MiB - stats.baselineBytes - stats.trackedBytes);
    expect(e.message).toContain(String(128 * MiB));
    expect(e.message).toContain(String(64 * MiB));
    expect(e.message).toContain(String(e.freeBytes));
    expect(tf.memory().numTensors).toBe(tensors);

    const small = tf.ones([MiB]); // 4 MiB fits
    const total = tf.sum(small);
    expect((await total.data())[0]).toBe(MiB);
    tf.dispose([small, total]);
    expect(tf.memory().numTensors).toBe(tensors);
    expect(wasmHeapStats()!.trackedBytes).toBe(stats.trackedBytes);
  });

  it('refuses a kernel output past the limit', async () => {
    setHeapLimit(64 * MiB);
    const tensors = tf.memory().numTensors;
    const x = tf.ones([1024, 1024]); // 4 MiB
    const err = catchError(() => tf.tile(x, [20, 1])); // 80 MiB output
    expect(err).toBeInstanceOf(HeapLimitError);
    expect((err as HeapLimitError).requestedBytes).toBe(80 * MiB);
    // The backend still computes (a conv and a reduction) after the refusal.
    const y = tf.tidy(() => tf.sum(tf.conv2d(tf.ones([1, 8, 8, 2]) as tf.Tensor4D, tf.ones([3, 3, 2, 1]) as tf.Tensor4D, 1, 'valid')));
    expect((await y.data())[0]).toBe(36 * 18);
    tf.dispose([x, y]);
    expect(tf.memory().numTensors).toBe(tensors);
  });

  it('applies SEMEDIT_HEAP_LIMIT and the heapLimitBytes option through initBackend', async () => {
    process.env['SEMEDIT_HEAP_LIMIT'] = '96M';
    try {
      const info = await initBackend({ backend: 'wasm' });
      expect(getHeapLimit()).toBe(96 * MiB);
      expect(info.heapLimitBytes).toBe(96 * MiB);
    } finally {
      delete process.env['SEMEDIT_HEAP_LIMIT'];
    }
    await initBackend({ backend: 'wasm', heapLimitBytes: 128 * MiB });
    expect(getHeapLimit()).toBe(128 * MiB);
  });

  it('rejects limits outside 1..4294901760 bytes with OptionError', () => {
    expect(() => setHeapLimit(0)).toThrow(OptionError);
    expect(() => setHeapLimit(WASM_HEAP_MAX_BYTES + 1)).toThrow(OptionError);
    expect(() => setHeapLimit(Number.NaN)).toThrow(OptionError);
  });
});

describe('heap guard on an allocator that fails', () => {
  it('turns a null pointer into HeapLimitError (kind "exhausted") instead of a write at address 0', () => {
    // A stand-in module whose raw malloc fails like Emscripten's when the heap cannot grow.
    setHeapLimit(64 * MiB);
    const heap = new Uint8Array(16);
    const module: WasmHeapModule = { HEAPU8: heap, asm: { malloc: () => 0, free: () => undefined }, _malloc: () => 0, _free: () => undefined };
    installHeapGuard(module);
    const err = catchError(() => module._malloc(1024));
    expect(err).toBeInstanceOf(HeapLimitError);
    expect((err as HeapLimitError).kind).toBe('exhausted');
    expect((err as HeapLimitError).requestedBytes).toBe(1024);
  });
});
