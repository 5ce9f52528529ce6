/**
 * Fuzz tests: deterministic mutations (seeded PRNG below) of valid safetensors and tfjs-weights files. Every
 * mutated input must give a SemeditError or a correct result, within a time bound, without huge allocations.
 * Failures report the case number so a case can be replayed from its seed.
 */
import '@tensorflow/tfjs-backend-cpu';
import * as tf from '@tensorflow/tfjs-core';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SemeditError } from '../errors.js';
import { DeadlineReader, type FuzzRequest } from '../testing/fuzz.js';
import { DTYPE_SIZE, type DType, type TensorData } from './dtype.js';
import { serializeSafetensors } from './safetensors-write.js';
import { openSafetensors, parseSafetensors } from './safetensors.js';
import { encodeTfjsWeights } from './tfjs-weights-write.js';
import { decodeTfjsWeights, readTfjsWeights, type TfjsModelJson, type TfjsWeightSpec } from './tfjs-weights.js';
import type { RawTensor } from './types.js';

const SEED = 0x5eed;
const TIME_LIMIT_MS = 2000;

/** mulberry32: a tiny deterministic PRNG. */
function rng(seed: number) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const int = (n: number) => Math.floor(next() * n);
  return { next, int, pick: <T>(xs: readonly T[]): T => xs[int(xs.length)]! };
}
type Rng = ReturnType<typeof rng>;

const DTYPES: DType[] = ['float64', 'float32', 'float16', 'bfloat16', 'int64', 'int32', 'int16', 'int8', 'uint8', 'bool'];
const WILD: unknown[] = [
  -1, -0, 0.5, 1e308, 1e400, 2 ** 53, 2 ** 53 + 2, 2 ** 63, 2 ** 64, 2 ** 31, 2 ** 32 - 1, '7', null, true, [], {}, [1, 2], 1e-9,
];
const BAD_DTYPES = ['F32', 'F16', 'BF16', 'I64', 'U8', 'BOOL', 'F8_E4M3', 'U64', 'f32', '', 'complex64', 'string', 'float32', 'int32', 'bool'];

/** Random elements: random bit patterns (NaN, inf, huge values included), or with `small` floats in [-8, 8). */
function randomData(r: Rng, dtype: DType, n: number, small: boolean): TensorData {
  if (small && dtype === 'float32') return Float32Array.from({ length: n }, () => (r.next() - 0.5) * 16);
  const bytes = new Uint8Array(n * DTYPE_SIZE[dtype]).map(() => r.int(256));
  const copy = (C: { new (b: ArrayBuffer): TensorData }) => new C(bytes.buffer);
  if (dtype === 'bool') return Uint8Array.from(bytes, (b) => b & 1);
  const map: Record<DType, { new (b: ArrayBuffer): TensorData }> = {
    float64: Float64Array, float32: Float32Array, float16: Uint16Array, bfloat16: Uint16Array, int64: BigInt64Array,
    int32: Int32Array, int16: Int16Array, int8: Int8Array, uint8: Uint8Array, bool: Uint8Array,
  };
  return copy(map[dtype]);
}

function randomTensors(r: Rng, dtypes: readonly DType[], small = false): Map<string, { dtype: DType; shape: number[]; data: TensorData }> {
  const out = new Map<string, { dtype: DType; shape: number[]; data: TensorData }>();
  const count = 1 + r.int(5);
  for (let i = 0; i < count; i++) {
    const shape = Array.from({ length: r.int(4) }, () => r.int(r.next() < 0.1 ? 1 : 5));
    const dtype = r.pick(dtypes);
    out.set(`${r.pick(['w', 'blk.', 'ünï/', 'a"b'])}${i}`, { dtype, shape, data: randomData(r, dtype, shape.reduce((a, b) => a * b, 1), small) });
  }
  return out;
}

const CLASS: Record<DType, string> = {
  float64: 'Float64Array', float32: 'Float32Array', float16: 'Uint16Array', bfloat16: 'Uint16Array', int64: 'BigInt64Array',
  int32: 'Int32Array', int16: 'Int16Array', int8: 'Int8Array', uint8: 'Uint8Array', bool: 'Uint8Array',
};

/** Invariants of any successful read: element counts, storage types, and bytes bounded by the input size. */
function checkResult(tensors: Map<string, RawTensor>, inputBytes: number): string | undefined {
  let total = 0;
  for (const [name, t] of tensors) {
    const numel = t.shape.reduce((a, b) => a * b, 1);
    if (t.data.length !== numel) return `${name}: ${t.data.length} elements for shape [${t.shape}]`;
    if (Object.prototype.toString.call(t.data).slice(8, -1) !== CLASS[t.dtype]) return `${name}: wrong array type for ${t.dtype}`;
    total += t.data.byteLength;
  }
  return total <= 2 * inputBytes + 64 ? undefined : `returned ${total} bytes from a ${inputBytes}-byte input`;
}

interface Outcome {
  ok: number;
  rejected: number;
  failures: string[];
}

/**
 * Runs one parse and classifies the outcome; `verify` checks a successful result; with `mustSucceed` (the
 * mutation touched only tensor data) a rejection is a failure too.
 */
function trial(
  o: Outcome,
  label: string,
  run: () => Map<string, RawTensor>,
  inputBytes: number,
  verify?: (m: Map<string, RawTensor>) => string | undefined,
  mustSucceed = false,
) {
  const before = process.memoryUsage().arrayBuffers;
  const t0 = performance.now();
  try {
    const m = run();
    const problem = checkResult(m, inputBytes) ?? verify?.(m);
    if (problem) o.failures.push(`${label}: ${problem}`);
    else o.ok++;
  } catch (e) {
    if (e instanceof SemeditError && !mustSucceed) o.rejected++;
    else o.failures.push(`${label}: threw ${(e as Error)?.constructor?.name}: ${(e as Error)?.message}`);
  }
  const ms = performance.now() - t0;
  if (ms > TIME_LIMIT_MS) o.failures.push(`${label}: took ${ms.toFixed(0)} ms`);
  const grew = process.memoryUsage().arrayBuffers - before;
  if (grew > 64 * 2 ** 20 + 4 * inputBytes) o.failures.push(`${label}: array buffers grew by ${grew} bytes`);
}

const enc = new TextEncoder();
const reader = new DeadlineReader();
afterAll(() => reader.close());

/** Reads a mutant in the child under the deadline first: a hang is a failure (and the in-process read is skipped). */
async function hangs(o: Outcome, label: string, req: Omit<FuzzRequest, 'id'>): Promise<boolean> {
  const r = await reader.read(req, TIME_LIMIT_MS);
  if (!('hang' in r)) return false;
  o.failures.push(`${label}: no answer within ${r.ms} ms (killed)`);
  return true;
}

/** Rebuilds a safetensors file with a new header text and the original data section. */
function withHeader(json: string, data: Uint8Array, declared?: bigint): Uint8Array {
  const h = enc.encode(json);
  const out = new Uint8Array(8 + h.length + data.length);
  new DataView(out.buffer).setBigUint64(0, declared ?? BigInt(h.length), true);
  out.set(h, 8);
  out.set(data, 8 + h.length);
  return out;
}

interface StMutation {
  kind: string;
  bytes: Uint8Array;
  dataOnly: boolean;
}

function mutateSafetensors(r: Rng, file: Uint8Array): StMutation {
  const n = Number(new DataView(file.buffer, file.byteOffset).getBigUint64(0, true));
  const headerText = new TextDecoder().decode(file.subarray(8, 8 + n));
  const data = file.subarray(8 + n);
  const header = JSON.parse(headerText) as Record<string, Record<string, unknown>>;
  const names = Object.keys(header).filter((k) => k !== '__metadata__');
  const kind = r.pick(['truncate', 'flip-header', 'flip-data', 'edit', 'edit', 'dup', 'length', 'huge']);
  const bytes = file.slice();
  switch (kind) {
    case 'truncate':
      return { kind, bytes: bytes.subarray(0, r.int(file.length)), dataOnly: false };
    case 'flip-header': {
      for (let k = 1 + r.int(3); k > 0; k--) bytes[r.int(8 + n)]! ^= 1 << r.int(8);
      return { kind, bytes, dataOnly: false };
    }
    case 'flip-data': {
      if (data.length === 0) return { kind, bytes, dataOnly: true };
      for (let k = 1 + r.int(8); k > 0; k--) bytes[8 + n + r.int(data.length)]! ^= 1 << r.int(8);
      return { kind, bytes, dataOnly: true };
    }
    case 'edit': {
      const e = header[r.pick(names)]!;
      const field = r.pick(['shape', 'data_offsets', 'dtype', 'delete', '__metadata__']);
      if (field === 'shape') e['shape'] = r.next() < 0.5 ? [r.pick(WILD)] : Array.from({ length: r.int(4) }, () => r.pick([...WILD, 0, 1, 2, 3]));
      else if (field === 'data_offsets') e['data_offsets'] = r.next() < 0.5 ? [r.pick(WILD), r.pick(WILD)] : [r.int(64), r.int(64)];
      else if (field === 'dtype') e['dtype'] = r.pick(BAD_DTYPES);
      else if (field === 'delete') delete e[r.pick(['dtype', 'shape', 'data_offsets'])];
      else (header as Record<string, unknown>)['__metadata__'] = r.pick([{ a: 1 }, 'x', [], { k: 'v' }, null, { k: { z: 1 } }]);
      return { kind, bytes: withHeader(JSON.stringify(header), data), dataOnly: false };
    }
    case 'dup': {
      const name = r.pick(names);
      const entry = JSON.stringify(header[name]);
      return { kind, bytes: withHeader(`${headerText.trimEnd().slice(0, -1)},${JSON.stringify(name)}:${entry}}`, data), dataOnly: false };
    }
    case 'length': {
      const declared = r.pick([0n, 1n, BigInt(n - 1), BigInt(n + 1), BigInt(file.length), 2n ** 32n, 2n ** 63n, 2n ** 64n - 1n, 100_000_001n]);
      new DataView(bytes.buffer).setBigUint64(0, declared, true);
      return { kind, bytes, dataOnly: false };
    }
    default: {
      const e = header[r.pick(names)]!;
      const big = r.pick([2 ** 31, 2 ** 32, 2 ** 40, 2 ** 50]);
      e['shape'] = [big, r.pick([1, 2 ** 20, big])];
      e['dtype'] = 'F64';
      e['data_offsets'] = [0, Math.min(8 * big, Number.MAX_SAFE_INTEGER)];
      return { kind, bytes: withHeader(JSON.stringify(header), data), dataOnly: false };
    }
  }
}

/** Independent oracle for data-only mutations: the bytes each tensor must hold, from the header via JSON.parse. */
function expectedBytes(file: Uint8Array, m: Map<string, RawTensor>): string | undefined {
  const n = Number(new DataView(file.buffer, file.byteOffset).getBigUint64(0, true));
  const header = JSON.parse(new TextDecoder().decode(file.subarray(8, 8 + n))) as Record<string, { data_offsets?: [number, number] }>;
  for (const [name, e] of Object.entries(header)) {
    if (name === '__metadata__') continue;
    const t = m.get(name);
    if (!t) return `tensor ${name} missing after a data-only mutation`;
    const want = file.subarray(8 + n + e.data_offsets![0], 8 + n + e.data_offsets![1]);
    const got = new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength);
    if (got.length !== want.length || got.some((b, i) => b !== want[i])) return `tensor ${name} bytes differ from the file`;
  }
  return undefined;
}

let dir = '';
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'semedit-fuzz-'));
  await tf.setBackend('cpu');
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('safetensors fuzz', () => {
  it('2,000 mutated in-memory files: SemeditError or a correct result, each first read under a deadline in a child process', async () => {
    const o: Outcome = { ok: 0, rejected: 0, failures: [] };
    let dataOnly = 0;
    for (let i = 0; i < 2000; i++) {
      const r = rng(SEED + i);
      const meta = r.next() < 0.3 ? { format: 'pt', i: String(i) } : undefined;
      const base = serializeSafetensors(randomTensors(r, DTYPES), meta);
      const mut = mutateSafetensors(r, base);
      const widen = r.next() < 0.5;
      const verify = (m: Map<string, RawTensor>) => (mut.dataOnly && !widen ? expectedBytes(mut.bytes, m) : undefined);
      if (await hangs(o, `case ${i} (${mut.kind})`, { format: 'safetensors', bytes: mut.bytes })) continue;
      trial(o, `case ${i} (${mut.kind})`, () => parseSafetensors(mut.bytes, `case${i}`, { widen }), mut.bytes.length, verify, mut.dataOnly);
      if (mut.dataOnly) dataOnly++;
    }
    expect(o.failures).toEqual([]);
    expect(dataOnly).toBeGreaterThan(50);
    expect(o.rejected).toBeGreaterThan(500);
    expect(o.ok).toBeGreaterThan(100);
  });

  it('120 mutated files on disk (mostly truncated) through openSafetensors', async () => {
    const failures: string[] = [];
    let rejected = 0;
    for (let i = 0; i < 120; i++) {
      const r = rng(SEED * 7 + i);
      const base = serializeSafetensors(randomTensors(r, DTYPES));
      const mut = r.next() < 0.7 ? { kind: 'truncate', bytes: base.subarray(0, r.int(base.length)), dataOnly: false } : mutateSafetensors(r, base);
      const path = join(dir, `f${i}.safetensors`);
      await writeFile(path, mut.bytes);
      const t0 = performance.now();
      try {
        const st = await openSafetensors(path);
        try {
          const problem = checkResult(await st.readAll({ widen: false }), mut.bytes.length);
          if (problem) failures.push(`file ${i}: ${problem}`);
        } finally {
          await st.close();
        }
      } catch (e) {
        if (e instanceof SemeditError) rejected++;
        else failures.push(`file ${i} (${mut.kind}): threw ${(e as Error).message}`);
      }
      if (performance.now() - t0 > TIME_LIMIT_MS) failures.push(`file ${i}: too slow`);
    }
    expect(failures).toEqual([]);
    expect(rejected).toBeGreaterThan(60);
  });
});

const TFJS_DTYPES: DType[] = ['float32', 'float16', 'int32', 'int8', 'uint8', 'bool'];

function mutateManifest(r: Rng, mj: TfjsModelJson): TfjsModelJson {
  const m = structuredClone(mj);
  const g = m.weightsManifest[0]!;
  const w = g.weights[r.int(g.weights.length)]! as unknown as Record<string, unknown>;
  switch (r.int(7)) {
    case 0: w['shape'] = r.next() < 0.5 ? [r.pick(WILD)] : Array.from({ length: r.int(3) }, () => r.pick([...WILD, 1, 2, 3])); break;
    case 1: w['dtype'] = r.pick(BAD_DTYPES); break;
    case 2: w['quantization'] = r.pick([{ dtype: 'float16' }, { dtype: 'uint8' }, { dtype: 'uint16', scale: 1, min: 0 }, { dtype: 'int4' }, 'x', null]); break;
    case 3: g.weights.push(structuredClone(g.weights[0]!)); break;
    case 4: g.paths = r.pick([[], ['../x.bin'], ['/abs.bin'], [...g.paths, 'extra.bin'], g.paths.slice(1), [5 as unknown as string]]); break;
    case 5: delete w[r.pick(['name', 'shape', 'dtype'])]; break;
    default: (m as Record<string, unknown>)['weightsManifest'] = r.pick([null, {}, [null], [{ paths: g.paths }]]);
  }
  return m;
}

describe('tfjs weights fuzz', () => {
  it('2,000 mutated manifests and shards: SemeditError or what tfjs-core decodes, each first read under a deadline in a child process', async () => {
    const o: Outcome = { ok: 0, rejected: 0, failures: [] };
    for (let i = 0; i < 2000; i++) {
      const r = rng(SEED * 13 + i);
      const { modelJson, shards } = encodeTfjsWeights(randomTensors(r, TFJS_DTYPES, true), { float16: r.next() < 0.3, shardBytes: 1 + r.int(40) });
      const paths = modelJson.weightsManifest[0]!.paths;
      let mj: unknown = modelJson;
      let files = new Map(paths.map((p, k) => [p, shards[k]!.slice()]));
      const kind = r.pick(['text', 'manifest', 'manifest', 'truncate-shard', 'grow-shard', 'drop-shard', 'flip-data']);
      const size = [...files.values()].reduce((a, s) => a + s.length, 0);
      if (kind === 'text') {
        const text = enc.encode(JSON.stringify(modelJson));
        for (let k = 1 + r.int(3); k > 0; k--) text[r.int(text.length)]! ^= 1 << r.int(8);
        mj = text;
      } else if (kind === 'manifest') mj = mutateManifest(r, modelJson);
      else if (kind === 'truncate-shard' || kind === 'grow-shard') {
        const p = r.pick(paths);
        const s = files.get(p)!;
        files.set(p, kind === 'grow-shard' ? new Uint8Array(s.length + 1 + r.int(9)) : s.subarray(0, r.int(Math.max(1, s.length))));
      } else if (kind === 'drop-shard') {
        const gone = r.pick(paths);
        files = new Map([...files].filter(([p]) => p !== gone));
      } else if (size > 0) {
        for (let k = 1 + r.int(6); k > 0; k--) {
          const s = files.get(r.pick(paths))!;
          if (s.length > 0) s[r.int(s.length)]! ^= 1 << r.int(8);
        }
      }
      const verify = kind !== 'flip-data' ? undefined : (ours: Map<string, RawTensor>) => {
        const all = new Uint8Array(size);
        let at = 0;
        for (const p of paths) (all.set(files.get(p)!, at), (at += files.get(p)!.length));
        const specs = modelJson.weightsManifest[0]!.weights as TfjsWeightSpec[];
        const theirs = tf.io.decodeWeights(all.buffer, specs as never);
        try {
          for (const [name, x] of Object.entries(theirs)) {
            const t = ours.get(name);
            if (!t || t.dtype !== x.dtype || !tf.util.arraysEqual(t.shape, x.shape)) return `${name}: dtype/shape differ from tfjs-core`;
            const a = x.dataSync();
            if (a.length !== t.data.length || a.some((v, k) => !Object.is(v, t.data[k]))) return `${name}: values differ from tfjs-core`;
          }
          return undefined;
        } finally {
          tf.dispose(Object.values(theirs));
        }
      };
      const run = () => decodeTfjsWeights(mj, (p) => files.get(p), `case${i}`);
      const text = mj instanceof Uint8Array ? mj : new Uint8Array();
      if (await hangs(o, `case ${i} (${kind})`, { format: 'tfjs', bytes: text, manifest: mj instanceof Uint8Array ? undefined : mj, shards: files })) continue;
      trial(o, `case ${i} (${kind})`, run, size + 4096, verify, kind === 'flip-data');
    }
    expect(o.failures).toEqual([]);
    expect(o.rejected).toBeGreaterThan(400);
    expect(o.ok).toBeGreaterThan(150);
  });

  it('60 folders on disk with truncated or missing shards through readTfjsWeights', async () => {
    const failures: string[] = [];
    let rejected = 0;
    for (let i = 0; i < 60; i++) {
      const r = rng(SEED * 17 + i);
      const { modelJson, shards } = encodeTfjsWeights(randomTensors(r, ['float32', 'int32']), { shardBytes: 4 + r.int(20) });
      const folder = join(dir, `t${i}`);
      await rm(folder, { recursive: true, force: true });
      await mkdir(folder);
      await writeFile(join(folder, 'model.json'), JSON.stringify(modelJson));
      const paths = modelJson.weightsManifest[0]!.paths;
      const victim = r.int(paths.length);
      for (const [k, p] of paths.entries()) {
        if (k === victim && r.next() < 0.3) continue;
        const s = shards[k]!;
        await writeFile(join(folder, p), k === victim ? s.subarray(0, r.int(Math.max(1, s.length))) : s);
      }
      try {
        const m = await readTfjsWeights(folder);
        const problem = checkResult(m, 1 << 16);
        if (problem) failures.push(`folder ${i}: ${problem}`);
      } catch (e) {
        if (e instanceof SemeditError) rejected++;
        else failures.push(`folder ${i}: threw ${(e as Error).message}`);
      }
    }
    expect(failures).toEqual([]);
    expect(rejected).toBeGreaterThan(30);
  });
});
