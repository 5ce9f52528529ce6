import { mkdtemp, open, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CheckpointFormatError, MissingWeightError, OptionError, SemeditError } from '../errors.js';
import type { DType, TensorData } from './dtype.js';
import { bufferSource, FileAccessError, type ByteSource } from './file-source.js';
import { serializeSafetensors, writeSafetensors } from './safetensors-write.js';
import { openSafetensors, openSafetensorsSource, parseSafetensors, readSafetensors } from './safetensors.js';

const enc = new TextEncoder();

/** A safetensors file built by hand from the format spec: u64 LE header length, header JSON, data. */
function fileFrom(header: string | object, data: Uint8Array = new Uint8Array(0), declared?: bigint): Uint8Array {
  const json = enc.encode(typeof header === 'string' ? header : JSON.stringify(header));
  const out = new Uint8Array(8 + json.length + data.length);
  new DataView(out.buffer).setBigUint64(0, declared ?? BigInt(json.length), true);
  out.set(json, 8);
  out.set(data, 8 + json.length);
  return out;
}

function le(bytes: number[] | Uint8Array): Uint8Array {
  return Uint8Array.from(bytes);
}

function formatError(fn: () => unknown, re: RegExp): CheckpointFormatError {
  let caught: unknown;
  try {
    fn();
  } catch (e) {
    caught = e;
  }
  expect(caught).toBeInstanceOf(CheckpointFormatError);
  expect((caught as Error).message).toMatch(re);
  return caught as CheckpointFormatError;
}

let dir = '';
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'semedit-st-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('safetensors reader: hand-built files (closed form)', () => {
  it('decodes every dtype from little-endian bytes', () => {
    const parts: [string, string, number[], number[]][] = [
      ['f64', 'F64', [1], [0, 0, 0, 0, 0, 0, 0xf0, 0x3f]], // 1.0
      ['f32', 'F32', [2], [0, 0, 0x80, 0x3f, 0, 0, 0, 0xc0]], // 1, -2
      ['i64', 'I64', [1], [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]], // -1
      ['i32', 'I32', [1], [0x00, 0x01, 0x00, 0x00]], // 256
      ['f16', 'F16', [1], [0x00, 0x3c]], // 1.0
      ['bf16', 'BF16', [1], [0x80, 0x3f]], // 1.0
      ['i16', 'I16', [1], [0xfe, 0xff]], // -2
      ['i8', 'I8', [1], [0x80]], // -128
      ['u8', 'U8', [1], [0xff]], // 255
      ['b', 'BOOL', [2], [1, 0]],
    ];
    const header: Record<string, unknown> = {};
    const data: number[] = [];
    for (const [name, dt, shape, bytes] of parts) {
      header[name] = { dtype: dt, shape, data_offsets: [data.length, data.length + bytes.length] };
      data.push(...bytes);
    }
    const t = parseSafetensors(fileFrom(header, le(data)), 'hand', { widen: false });
    const get = (n: string) => t.get(n)!;
    expect(get('f64')).toEqual({ dtype: 'float64', shape: [1], data: new Float64Array([1]) });
    expect(get('f32').data).toEqual(new Float32Array([1, -2]));
    expect(get('i64').data).toEqual(new BigInt64Array([-1n]));
    expect(get('i32').data).toEqual(new Int32Array([256]));
    expect(get('f16')).toEqual({ dtype: 'float16', shape: [1], data: new Uint16Array([0x3c00]) });
    expect(get('bf16')).toEqual({ dtype: 'bfloat16', shape: [1], data: new Uint16Array([0x3f80]) });
    expect(get('i16').data).toEqual(new Int16Array([-2]));
    expect(get('i8').data).toEqual(new Int8Array([-128]));
    expect(get('u8')).toEqual({ dtype: 'uint8', shape: [1], data: new Uint8Array([255]) });
    expect(get('b')).toEqual({ dtype: 'bool', shape: [2], data: new Uint8Array([1, 0]) });
  });

  it('widens float16 and bfloat16 bit patterns to their exact float32 values', () => {
    const half: [number, number][] = [
      [0x3c00, 1], [0xc000, -2], [0x7bff, 65504], [0x0001, 2 ** -24], [0x03ff, 1023 * 2 ** -24], [0x0400, 2 ** -14],
      [0x3555, 0.333251953125], [0x7c00, Infinity], [0xfc00, -Infinity], [0x8000, -0],
    ];
    const bf: [number, number][] = [
      [0x3f80, 1], [0xc000, -2], [0x4049, 3.140625], [0x0001, 2 ** -133], [0x7f7f, 3.3895313892515355e38],
      [0x7f80, Infinity], [0xff80, -Infinity], [0x8000, -0],
    ];
    const bytesOf = (xs: number[]) => new Uint8Array(Uint16Array.from(xs).buffer);
    const nanH = [0x7e00, 0xfe01];
    const nanB = [0x7fc0, 0xffc1];
    const h = [...half.map((p) => p[0]), ...nanH];
    const b = [...bf.map((p) => p[0]), ...nanB];
    const file = fileFrom(
      {
        h: { dtype: 'F16', shape: [h.length], data_offsets: [0, 2 * h.length] },
        b: { dtype: 'BF16', shape: [b.length], data_offsets: [2 * h.length, 2 * (h.length + b.length)] },
      },
      new Uint8Array([...bytesOf(h), ...bytesOf(b)]),
    );
    const t = parseSafetensors(file);
    expect(t.get('h')!.dtype).toBe('float32');
    expect(t.get('b')!.dtype).toBe('float32');
    const hv = [...(t.get('h')!.data as Float32Array)];
    const bv = [...(t.get('b')!.data as Float32Array)];
    expect(hv.slice(0, half.length)).toEqual(half.map((p) => p[1]));
    expect(Object.is(hv[half.length - 1], -0)).toBe(true);
    expect(hv.slice(half.length).every(Number.isNaN)).toBe(true);
    expect(bv.slice(0, bf.length)).toEqual(bf.map((p) => Math.fround(p[1])));
    expect(bv.slice(bf.length).every(Number.isNaN)).toBe(true);
  });

  it('reads __metadata__ and keeps header order', () => {
    const file = fileFrom(
      { __metadata__: { format: 'pt', note: 'x' }, z: { dtype: 'U8', shape: [], data_offsets: [0, 1] } },
      le([7]),
    );
    expect(parseSafetensors(file).get('z')).toEqual({ dtype: 'uint8', shape: [], data: new Uint8Array([7]) });
  });

  it('returns copies, never aliasing the input buffer', () => {
    const file = fileFrom({ a: { dtype: 'U8', shape: [1], data_offsets: [0, 1] } }, le([1]));
    const t = parseSafetensors(file).get('a')!;
    (t.data as Uint8Array)[0] = 9;
    expect(file[file.length - 1]).toBe(1);
  });
});

describe('safetensors writer', () => {
  it('writes the reference layout byte for byte (single I32 tensor)', () => {
    const out = serializeSafetensors({ test: { dtype: 'int32', shape: [2, 2], data: new Int32Array(4) } });
    const json = '{"test":{"dtype":"I32","shape":[2,2],"data_offsets":[0,16]}}';
    const expected = new Uint8Array([64, 0, 0, 0, 0, 0, 0, 0, ...enc.encode(json), 32, 32, 32, 32, ...new Uint8Array(16)]);
    expect(out).toEqual(expected);
  });

  it('matches the reference crate test vectors (test_serialization, test_empty, forced alignment)', () => {
    // huggingface/safetensors safetensors/src/tensor.rs tests, written here as header text + data.
    const vec = (n: number, json: string, data: number[] = []) =>
      new Uint8Array([n, 0, 0, 0, 0, 0, 0, 0, ...enc.encode(json.padEnd(n, ' ')), ...new Uint8Array(new Float32Array(data).buffer)]);
    const f = (shape: number[]) => ({ dtype: 'float32' as const, shape, data: new Float32Array([0, 1, 2, 3, 4, 5]) });
    expect(serializeSafetensors({ 'attn.0': f([1, 2, 3]) })).toEqual(
      vec(64, '{"attn.0":{"dtype":"F32","shape":[1,2,3],"data_offsets":[0,24]}}', [0, 1, 2, 3, 4, 5]),
    );
    expect(serializeSafetensors({ attn0: f([1, 1, 2, 3]) })).toEqual(
      vec(72, '{"attn0":{"dtype":"F32","shape":[1,1,2,3],"data_offsets":[0,24]}}', [0, 1, 2, 3, 4, 5]),
    );
    expect(serializeSafetensors({})).toEqual(vec(8, '{}'));
    expect(serializeSafetensors({}, { framework: 'pt' })).toEqual(vec(40, '{"__metadata__":{"framework":"pt"}}'));
  });

  it('sorts by dtype (reference enum order, descending) then name, aligning every tensor', () => {
    const t = (dtype: DType, data: TensorData) => ({ dtype, shape: [data.length], data });
    const out = serializeSafetensors(
      new Map([
        ['u', t('uint8', new Uint8Array(3))],
        ['b', t('float32', new Float32Array(1))],
        ['a', t('float32', new Float32Array(1))],
        ['h', t('float16', new Uint16Array(1))],
        ['l', t('int64', new BigInt64Array(1))],
        ['d', t('float64', new Float64Array(1))],
      ]),
      { format: 'pt' },
    );
    const n = Number(new DataView(out.buffer).getBigUint64(0, true));
    expect(n % 8).toBe(0);
    const text = new TextDecoder().decode(out.subarray(8, 8 + n));
    expect(text.trimEnd().length).toBeLessThanOrEqual(n);
    expect(text.slice(text.trimEnd().length)).toMatch(/^ *$/);
    const header = JSON.parse(text) as Record<string, { data_offsets: [number, number]; dtype: string }>;
    expect(Object.keys(header)).toEqual(['__metadata__', 'l', 'd', 'a', 'b', 'h', 'u']);
    for (const [k, v] of Object.entries(header)) {
      if (k === '__metadata__') continue;
      const size = { I64: 8, F64: 8, F32: 4, F16: 2, U8: 1 }[v.dtype as 'I64']!;
      expect((8 + n + v.data_offsets[0]) % size).toBe(0);
    }
  });

  it('round-trips every dtype, 0-d and zero-size tensors, and metadata (memory and disk)', async () => {
    const tensors = new Map<string, { dtype: DType; shape: number[]; data: TensorData }>([
      ['f64', { dtype: 'float64', shape: [2, 1], data: new Float64Array([Math.PI, -1e300]) }],
      ['f32', { dtype: 'float32', shape: [3], data: new Float32Array([1.5, NaN, -Infinity]) }],
      ['f16', { dtype: 'float16', shape: [2], data: new Uint16Array([0x3c00, 0x7e00]) }],
      ['bf16', { dtype: 'bfloat16', shape: [1, 1, 1], data: new Uint16Array([0x4049]) }],
      ['i64', { dtype: 'int64', shape: [2], data: new BigInt64Array([-(2n ** 63n), 2n ** 62n]) }],
      ['i32', { dtype: 'int32', shape: [], data: new Int32Array([-7]) }],
      ['i16', { dtype: 'int16', shape: [2], data: new Int16Array([-32768, 32767]) }],
      ['i8', { dtype: 'int8', shape: [1], data: new Int8Array([-1]) }],
      ['u8', { dtype: 'uint8', shape: [0, 4], data: new Uint8Array(0) }],
      ['bool', { dtype: 'bool', shape: [3], data: new Uint8Array([1, 0, 1]) }],
      ['empty', { dtype: 'float32', shape: [5, 0], data: new Float32Array(0) }],
    ]);
    const meta = { format: 'pt', 'ünï': 'çødé "q"' };
    const check = (got: Map<string, unknown>) => {
      expect(new Set(got.keys())).toEqual(new Set(tensors.keys()));
      for (const [k, v] of tensors) expect(got.get(k)).toEqual(v);
    };
    check(parseSafetensors(serializeSafetensors(tensors, meta), 'mem', { widen: false }));
    const path = join(dir, 'rt.safetensors');
    await writeSafetensors(path, tensors, meta);
    check(await readSafetensors(path, { widen: false }));
    const st = await openSafetensors(path);
    expect(st.metadata).toEqual(meta);
    expect(st.info('f16')).toMatchObject({ dtype: 'float16', shape: [2], byteLength: 4 });
    expect((await st.read('f16')).data).toEqual(new Float32Array([1, NaN]));
    await st.close();
  });

  it('narrows Float32Array values for float16/bfloat16 with round-to-nearest-even', () => {
    // 1 + 2^-11 is halfway between half 1 (0x3c00) and 1 + 2^-10 (0x3c01): ties to even -> 0x3c00.
    // 1 + 3*2^-11 ties between 0x3c01 and 0x3c02 -> 0x3c02. bfloat16: 1 + 2^-8 ties -> 0x3f80; 1 + 3*2^-8 -> 0x3f82.
    const out = parseSafetensors(
      serializeSafetensors({
        h: { dtype: 'float16', shape: [2], data: new Float32Array([1 + 2 ** -11, 1 + 3 * 2 ** -11]) },
        b: { dtype: 'bfloat16', shape: [3], data: new Float32Array([1 + 2 ** -8, 1 + 3 * 2 ** -8, NaN]) },
      }),
      'n',
      { widen: false },
    );
    expect(out.get('h')!.data).toEqual(new Uint16Array([0x3c00, 0x3c02]));
    const b = out.get('b')!.data as Uint16Array;
    expect([b[0], b[1]]).toEqual([0x3f80, 0x3f82]);
    expect(b[2]! & 0x7f80).toBe(0x7f80);
    expect(b[2]! & 0x7f).not.toBe(0);
  });

  it('rejects inconsistent input with OptionError naming the tensor', () => {
    const bad = (t: unknown, re: RegExp) =>
      expect(() => serializeSafetensors({ w: t } as never)).toThrow(expect.objectContaining({ message: expect.stringMatching(re) }));
    bad({ dtype: 'float32', shape: [3], data: new Float32Array(2) }, /"w".*2 elements.*needs 3/);
    bad({ dtype: 'int64', shape: [1], data: new Int32Array(1) }, /BigInt64Array, got Int32Array/);
    bad({ dtype: 'complex64', shape: [1], data: new Float32Array(1) }, /unknown dtype/);
    bad({ dtype: 'int8', shape: [-1], data: new Int8Array(1) }, /non-negative integers/);
    expect(() => serializeSafetensors({ w: { dtype: 'int8', shape: [], data: [1] } } as never)).toThrow(OptionError);
    expect(() => serializeSafetensors({ __metadata__: { dtype: 'int8', shape: [], data: new Int8Array(1) } })).toThrow(/reserved/);
    expect(() => serializeSafetensors({}, { a: 1 } as never)).toThrow(/must be a string/);
  });
});

describe('safetensors header validation', () => {
  const ok = { a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] } };
  const data8 = new Uint8Array(8);
  const entry = (v: unknown) => fileFrom({ a: v }, data8);

  it('rejects files shorter than 8 bytes and bad header lengths', () => {
    expect(formatError(() => parseSafetensors(new Uint8Array(5), 'x'), /5 bytes, too short/).offset).toBe(0);
    formatError(() => parseSafetensors(fileFrom(ok, data8, 10_000n)), /header length 10000 exceeds the file size/);
    formatError(() => parseSafetensors(fileFrom(ok, data8, 2n ** 64n - 1n)), /exceeds the file size/);
    const f = fileFrom(ok, data8);
    formatError(() => parseSafetensors(f, 'x', { maxHeaderBytes: 16 }), /exceeds the limit of 16 bytes/);
    formatError(() => parseSafetensors(fileFrom('', new Uint8Array(8))), /too small/);
  });

  it('rejects non-UTF-8, non-JSON and non-object headers, naming the byte offset', () => {
    const f = fileFrom('{"a\u00e9":1}');
    f[8 + 3] = 0xff;
    expect(formatError(() => parseSafetensors(f), /not valid UTF-8/).offset).toBe(11);
    formatError(() => parseSafetensors(fileFrom('{"a": ')), /not valid JSON/);
    formatError(() => parseSafetensors(fileFrom('[1,2]')), /must start with '\{'/);
    formatError(() => parseSafetensors(fileFrom('{} {}')), /not valid JSON/);
  });

  it('rejects entries with missing or mistyped fields', () => {
    formatError(() => parseSafetensors(entry(5)), /"a": entry is not an object/);
    formatError(() => parseSafetensors(entry({ shape: [2], data_offsets: [0, 8] })), /"dtype" is missing/);
    formatError(() => parseSafetensors(entry({ dtype: 1, shape: [2], data_offsets: [0, 8] })), /"dtype" is not a string/);
    formatError(() => parseSafetensors(entry({ dtype: 'F32', data_offsets: [0, 8] })), /"shape" is missing/);
    formatError(() => parseSafetensors(entry({ dtype: 'F32', shape: '2', data_offsets: [0, 8] })), /"shape" is not an array/);
    formatError(() => parseSafetensors(entry({ dtype: 'F32', shape: [2] })), /"data_offsets" is missing/);
    formatError(() => parseSafetensors(entry({ dtype: 'F32', shape: [2], data_offsets: { b: 0 } })), /"data_offsets" is not an array/);
  });

  it('rejects unknown dtypes', () => {
    formatError(() => parseSafetensors(entry({ dtype: 'F8_E4M3', shape: [8], data_offsets: [0, 8] })), /unknown dtype "F8_E4M3"/);
    formatError(() => parseSafetensors(entry({ dtype: 'f32', shape: [2], data_offsets: [0, 8] })), /unknown dtype "f32"/);
  });

  it('rejects negative, fractional and huge shape dims', () => {
    for (const d of [-1, 1.5, 2 ** 53, '2', null]) {
      formatError(() => parseSafetensors(entry({ dtype: 'F32', shape: [d], data_offsets: [0, 8] })), /shape\[0\] = .* not a non-negative integer/);
    }
    formatError(() => parseSafetensors(fileFrom('{"a":{"dtype":"F32","shape":[1e400],"data_offsets":[0,8]}}', data8)), /shape\[0\] = null/);
    const huge = entry({ dtype: 'F64', shape: [2 ** 40, 2 ** 40, 2 ** 40], data_offsets: [0, 8] });
    formatError(() => parseSafetensors(huge), /larger than 2\^53 bytes/);
  });

  it('rejects malformed data_offsets and size mismatches', () => {
    for (const offs of [[0], [0, 8, 9], [-8, 0], [0.5, 8], ['0', 8], [0, 2 ** 60]]) {
      formatError(() => parseSafetensors(entry({ dtype: 'F32', shape: [2], data_offsets: offs })), /data_offsets/);
    }
    formatError(() => parseSafetensors(entry({ dtype: 'F32', shape: [2], data_offsets: [8, 0] })), /end before begin/);
    formatError(() => parseSafetensors(entry({ dtype: 'F32', shape: [3], data_offsets: [0, 8] })), /span 8 bytes but shape \[3\] of F32 needs 12/);
  });

  it('rejects out-of-range, overlapping and gapped ranges, truncation and trailing bytes', () => {
    const two = (b: [number, number]) => ({ a: { dtype: 'F32', shape: [1], data_offsets: [0, 4] }, b: { dtype: 'F32', shape: [1], data_offsets: b } });
    formatError(() => parseSafetensors(fileFrom(two([4, 8]), new Uint8Array(6))), /truncated.*holds 6 bytes.*"b" ends at 8/);
    formatError(() => parseSafetensors(fileFrom(two([2, 6]), data8)), /"b" \[2, 6\) overlaps tensor "a"/);
    formatError(() => parseSafetensors(fileFrom(two([0, 4]), data8)), /overlaps/);
    const gap = formatError(() => parseSafetensors(fileFrom(two([6, 10]), new Uint8Array(10))), /gap of 2 unused bytes before tensor "b"/);
    expect(gap.offset).toBeGreaterThan(8);
    formatError(() => parseSafetensors(fileFrom(ok, new Uint8Array(12))), /4 trailing bytes/);
    formatError(() => parseSafetensors(fileFrom({}, new Uint8Array(1))), /1 trailing bytes/);
  });

  it('rejects duplicate tensor names and duplicate entry fields that JSON.parse would hide', () => {
    const dup = '{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}';
    const e = formatError(() => parseSafetensors(fileFrom(dup, data8)), /tensor name "a" appears twice/);
    expect(e.offset).toBe(8 + dup.lastIndexOf('"a"'));
    const esc = '{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"\\u0061":{"dtype":"F32","shape":[0],"data_offsets":[8,8]}}';
    formatError(() => parseSafetensors(fileFrom(esc, data8)), /"a" appears twice/);
    const inner = '{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8],"dtype":"I64"}}';
    formatError(() => parseSafetensors(fileFrom(inner, data8)), /key "dtype" appears twice in one entry/);
    const inString = '{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"__metadata__":{"k":"\\"a\\":"}}';
    expect(parseSafetensors(fileFrom(inString, data8)).size).toBe(1);
  });

  it('rejects __metadata__ that is not a string map', () => {
    for (const m of [{ a: 1 }, [], 'x', { a: { b: 'c' } }]) {
      formatError(() => parseSafetensors(fileFrom({ __metadata__: m, ...ok }, data8)), /__metadata__/);
    }
    expect(parseSafetensors(fileFrom({ __metadata__: null, ...ok }, data8)).size).toBe(1);
  });
});

describe('openSafetensors (lazy file access)', () => {
  it('reads only the header up front and exactly each tensor range on demand', async () => {
    const bytes = serializeSafetensors({
      a: { dtype: 'float32', shape: [2], data: new Float32Array([1, 2]) },
      b: { dtype: 'int8', shape: [3], data: new Int8Array([1, 2, 3]) },
    });
    const reads: [number, number][] = [];
    const inner = bufferSource(bytes, 'counted');
    const src: ByteSource = { ...inner, name: 'counted', size: inner.size, read: (o, n) => (reads.push([o, n]), inner.read(o, n)) };
    const st = await openSafetensorsSource(src);
    const n = Number(new DataView(bytes.buffer).getBigUint64(0, true));
    expect(reads).toEqual([[0, 8], [8, n]]);
    expect(st.names()).toEqual(['a', 'b']);
    expect((await st.read('b')).data).toEqual(new Int8Array([1, 2, 3]));
    expect(reads[2]).toEqual([st.info('b').fileOffset, 3]);
    expect(st.has('zz')).toBe(false);
    expect(() => st.info('zz')).toThrow(MissingWeightError);
    await expect(st.read('zz')).rejects.toThrow(/missing weight "zz" in counted/);
  });

  it('reads tensors past 4 GiB through positional reads (sparse file)', async () => {
    const path = join(dir, 'big.safetensors');
    const pad = 2 ** 32 + 4096;
    const header = enc.encode(
      JSON.stringify({ pad: { dtype: 'U8', shape: [pad], data_offsets: [0, pad] }, tail: { dtype: 'F32', shape: [2], data_offsets: [pad, pad + 8] } }),
    );
    const fh = await open(path, 'w');
    try {
      const len = new Uint8Array(8);
      new DataView(len.buffer).setBigUint64(0, BigInt(header.length), true);
      await fh.write(len, 0, 8, 0);
      await fh.write(header, 0, header.length, 8);
      await fh.write(new Uint8Array(new Float32Array([3.5, -1]).buffer), 0, 8, 8 + header.length + pad);
    } finally {
      await fh.close();
    }
    const st = await openSafetensors(path);
    expect(st.info('tail').fileOffset).toBe(8 + header.length + pad);
    expect((await st.read('tail')).data).toEqual(new Float32Array([3.5, -1]));
    await st.close();
    await rm(path);
  });

  it('reports truncated files on disk, missing files and reads after close', async () => {
    const good = serializeSafetensors({ a: { dtype: 'float64', shape: [4], data: new Float64Array(4) } });
    const path = join(dir, 'trunc.safetensors');
    await writeFile(path, good.subarray(0, good.length - 3));
    await expect(openSafetensors(path)).rejects.toThrow(/truncated: the data section holds 29 bytes but tensor "a" ends at 32/);
    await writeFile(path, good.subarray(0, 4));
    await expect(openSafetensors(path)).rejects.toBeInstanceOf(CheckpointFormatError);
    await expect(openSafetensors(join(dir, 'nope.safetensors'))).rejects.toBeInstanceOf(FileAccessError);
    await expect(openSafetensors(dir)).rejects.toThrow(/not a regular file/);
    await writeFile(path, good);
    const st = await openSafetensors(path);
    await st.close();
    await expect(st.read('a')).rejects.toBeInstanceOf(SemeditError);
  });
});
