/** Option resolution against the environment: precedence, defaults, validation and byte sizes. */
import { describe, expect, it } from 'vitest';
import { availableParallelism } from 'node:os';
import { OptionError } from '../errors.js';
import { WASM_HEAP_MAX_BYTES, WASM_MAX_THREADS, parseByteSize, resolveBackendOptions } from './options.js';

describe('resolveBackendOptions', () => {
  it('defaults: auto backend, every core (at most 8), SIMD, limit left as is', () => {
    expect(resolveBackendOptions({}, {})).toEqual({
      backend: undefined,
      threads: Math.min(availableParallelism(), WASM_MAX_THREADS),
      threadsExplicit: false,
      simd: true,
      heapLimitBytes: undefined,
      weightStorage: 'fp32',
      warnings: availableParallelism() > WASM_MAX_THREADS ? [expect.stringContaining('at most 8')] : [],
    });
  });

  it('reads SEMEDIT_BACKEND, SEMEDIT_THREADS and SEMEDIT_HEAP_LIMIT; options win', () => {
    const env = { SEMEDIT_BACKEND: 'CPU', SEMEDIT_THREADS: '3', SEMEDIT_HEAP_LIMIT: '1.5G' };
    expect(resolveBackendOptions({}, env)).toMatchObject({ backend: 'cpu', threads: 3, threadsExplicit: true, heapLimitBytes: 1.5 * 1024 ** 3 });
    expect(resolveBackendOptions({ backend: 'wasm', threads: 2, heapLimitBytes: 1000 }, env)).toMatchObject({
      backend: 'wasm',
      threads: 2,
      heapLimitBytes: 1000,
    });
    expect(resolveBackendOptions({}, { SEMEDIT_BACKEND: 'auto' }).backend).toBeUndefined();
    expect(resolveBackendOptions({}, { SEMEDIT_BACKEND: ' ' }).backend).toBeUndefined();
  });

  it('caps threads at 8 with a warning', () => {
    const r = resolveBackendOptions({ threads: 32 }, {});
    expect(r.threads).toBe(8);
    expect(r.warnings[0]).toContain('32 threads');
  });

  it('rejects bad values with OptionError naming the option', () => {
    const cases: [Parameters<typeof resolveBackendOptions>[0], Record<string, string>, string][] = [
      [{ backend: 'metal' as never }, {}, 'backend'],
      [{}, { SEMEDIT_BACKEND: 'metal' }, 'SEMEDIT_BACKEND'],
      [{ threads: 0 }, {}, 'threads'],
      [{ threads: 1.5 }, {}, 'threads'],
      [{}, { SEMEDIT_THREADS: 'many' }, 'SEMEDIT_THREADS'],
      [{ simd: false, threads: 2 }, {}, 'threads'],
      [{ heapLimitBytes: WASM_HEAP_MAX_BYTES + 1 }, {}, 'heapLimitBytes'],
      [{}, { SEMEDIT_HEAP_LIMIT: 'lots' }, 'SEMEDIT_HEAP_LIMIT'],
    ];
    for (const [opts, env, option] of cases) {
      let err: unknown;
      try {
        resolveBackendOptions(opts, env);
      } catch (e) {
        err = e;
      }
      expect(err, `${JSON.stringify([opts, env])}`).toBeInstanceOf(OptionError);
      expect((err as OptionError).option).toBe(option);
    }
  });

  it('drops to one thread without SIMD when threads were not asked for', () => {
    expect(resolveBackendOptions({ simd: false }, {}).threads).toBe(1);
  });
});

describe('parseByteSize', () => {
  it.each([
    ['1048576', 1048576],
    ['64M', 64 * 1024 ** 2],
    ['64MiB', 64 * 1024 ** 2],
    ['3.5G', 3.5 * 1024 ** 3],
    ['512 kb', 512 * 1024],
    ['100b', 100],
  ])('%s -> %d', (text, bytes) => {
    expect(parseByteSize('x', text)).toBe(bytes);
  });
  it('rejects text that is not a size', () => {
    expect(() => parseByteSize('SEMEDIT_HEAP_LIMIT', '-1G')).toThrow(OptionError);
    expect(() => parseByteSize('SEMEDIT_HEAP_LIMIT', '2T')).toThrow(OptionError);
  });
});
