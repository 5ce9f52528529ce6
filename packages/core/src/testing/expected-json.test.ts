import { describe, expect, it } from 'vitest';
import type { RawTensor } from '../io/types.js';
import { compareTensorsToExpected, isContiguous, readJsonPath, tensorSumF64, tolerancesFromChecks } from './expected-json.js';
import type { FixtureCheck } from '../fixtures/manifest.js';

const tol = { sum_f64: { atol: 1e-6, rtol: 1e-6 }, first4: { atol: 1e-7, rtol: 1e-7 } };

describe('expected-json helper', () => {
  it('sums in float64 from stored values: float16 bits, exact int64, non-finite cases', () => {
    expect(tensorSumF64({ dtype: 'float16', shape: [3], data: new Uint16Array([0x3c00, 0xc000, 0x3800]) })).toBe(-0.5);
    const big = 2n ** 60n;
    expect(tensorSumF64({ dtype: 'int64', shape: [3], data: new BigInt64Array([big, 1n, -big]) })).toBe(1);
    expect(tensorSumF64({ dtype: 'float32', shape: [2], data: new Float32Array([Infinity, 1]) })).toBe(Infinity);
    expect(tensorSumF64({ dtype: 'float32', shape: [2], data: new Float32Array([Infinity, -Infinity]) })).toBeNaN();
    // 1e16 + 1 + 1 - 1e16: naive float64 summation gives 0 or 4; the compensated sum gives the exact 2.
    expect(tensorSumF64({ dtype: 'float64', shape: [4], data: new Float64Array([1e16, 1, 1, -1e16]) })).toBe(2);
  });

  it('reports every kind of mismatch and accepts a matching table', () => {
    const t: RawTensor = { dtype: 'float32', shape: [2, 2], data: new Float32Array([1, 2, -Infinity, 4]) };
    const actual = new Map([['a', t], ['extra', t]]);
    const good = { dtype: 'float32', shape: [2, 2], sum_f64: '-inf', first4: [1, 2, '-inf', 4] };
    expect(compareTensorsToExpected(new Map([['a', t]]), { a: good }, tol)).toEqual([]);
    const m = compareTensorsToExpected(
      actual,
      {
        a: { dtype: 'float16', shape: [4], sum_f64: 7, first4: [1, 2.001, 3, 4] },
        gone: good,
      },
      tol,
    );
    expect(m).toEqual([
      'gone: missing from the tensors read',
      'extra: not in the expected table',
      'a: dtype float32 != float16',
      'a: shape [2, 2] != [4]',
      'a: sum_f64 -inf != 7 (|diff| inf > atol 0.000001 + rtol 0.000001 * |expected|)',
      expect.stringMatching(/^a: first4\[1\] 2 != 2.001/),
      'a: first4[2] -inf != 3 (|diff| inf > atol 1e-7 + rtol 1e-7 * |expected|)',
    ]);
  });

  it('compares int64 and strided-view fields', () => {
    const t: RawTensor = { dtype: 'int64', shape: [2, 3], data: new BigInt64Array([0n, 1n, 2n, 3n, 4n, 5n]), stride: [1, 2], storageOffset: 3 };
    const e = { dtype: 'int64', shape: [2, 3], sum_f64: 15, first4: [0, 1, 2, 3], stride: [1, 2], storage_offset: 3, contiguous: false };
    expect(compareTensorsToExpected(new Map([['t', t]]), { t: e }, tol)).toEqual([]);
    expect(compareTensorsToExpected(new Map([['t', { ...t, stride: [3, 1] }]]), { t: e }, tol)).toEqual([
      't: stride [3,1] != [1,2]',
      't: contiguous true != false',
    ]);
    expect(isContiguous([1, 3], [99, 1])).toBe(true);
  });

  it('finds tolerances by file and output path, and follows JSON paths', () => {
    const checks = [
      { output: 'x.*.sum_f64', file: 'f', from: '', layout: 'json', atol: 1, rtol: 2 },
      { output: 'x.*.first4', file: 'f', from: '', layout: 'json', atol: 3, rtol: 4 },
    ] as FixtureCheck[];
    expect(tolerancesFromChecks(checks, 'f', 'x')).toEqual({ sum_f64: { atol: 1, rtol: 2 }, first4: { atol: 3, rtol: 4 } });
    expect(() => tolerancesFromChecks(checks, 'g', 'x')).toThrow(/no check for g/);
    expect(readJsonPath({ a: { b: [1] } }, 'a.b')).toEqual([1]);
    expect(() => readJsonPath({ a: {} }, 'a.c')).toThrow(/no key "c"/);
  });
});
