/**
 * Mutation fuzzing of the checkpoint readers: small valid files of each kind (zip checkpoint, legacy torch.save,
 * NVLabs-style plain pickle) are corrupted deterministically (seeded PRNG) and read fully. Every read must end
 * in a SemeditError or a self-consistent result: never another exception, a hang, or a large allocation. Each
 * mutant is read in a child process under a deadline, so a hang is killed and reported.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { SemeditError } from '../errors.js';
import { legacyTorchSave, PickleWriter, stateDictPickle, torchZip, type TensorSpec } from '../testing/torch-writers.js';
import { readTorchCheckpoint } from './torch.js';
import { DeadlineReader } from '../testing/fuzz.js';

const MUTANTS_PER_FORMAT = 3000;
const MAX_MS_PER_FILE = 3000;
const MAX_TENSOR_BYTES = 1 << 22;

/** mulberry32: a small deterministic PRNG. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const f32 = (...v: number[]) => new Uint8Array(new Float32Array(v).buffer);
const SPECS: TensorSpec[] = [
  { name: 'w', key: '0', cls: 'FloatStorage', numel: 6, offset: 0, shape: [2, 3], stride: [3, 1] },
  { name: 'w_T', key: '0', cls: 'FloatStorage', numel: 6, offset: 0, shape: [3, 2], stride: [1, 3] },
  { name: 'b', key: '1', cls: 'HalfStorage', numel: 3, offset: 1, shape: [2], stride: [1] },
  { name: 'step', key: '2', cls: 'LongStorage', numel: 1, offset: 0, shape: [], stride: [] },
];
const STORAGES = new Map<string, Uint8Array>([
  ['0', f32(1, 2, 3, 4, 5, 6)],
  ['1', new Uint8Array(new Uint16Array([0x3c00, 0x4000, 0x4200]).buffer)],
  ['2', new Uint8Array(new BigInt64Array([42n]).buffer)],
]);
const NUMEL: Record<string, number> = { '0': 6, '1': 3, '2': 1 };

/** NVLabs-style: {'G': _reconstruct_persistent_obj({'module_src', 'state': {_parameters: {w: Parameter}}})}. */
function nvlabsPickle(): Uint8Array {
  const nested = new PickleWriter().proto(2).mark().str('storage').global('torch', 'FloatStorage').str('140').str('cpu').int(4)
    .none().tuple().binpersid().stop().bytes();
  const blob = legacyTorchSave(nested, new Map([['140', { numel: 4, bytes: f32(0.5, -1, 2, 8) }]]));
  const param = (w: PickleWriter) => w.get(1).get(2).mark().global('torch.storage', '_load_from_bytes').binBytes(blob).tuple1().reduce()
    .int(0).mark().int(2).int(2).tuple().mark().int(2).int(1).tuple().bool(false).get(0).emptyTuple().reduce().tuple().reduce()
    .bool(false).get(0).emptyTuple().reduce().raw(0x87).reduce();
  const w = new PickleWriter().proto(4).raw(0x95, 0, 0, 0, 0, 0, 0, 0, 0)
    .global('collections', 'OrderedDict').put(0).raw(0x30)
    .global('torch._utils', '_rebuild_parameter').put(1).raw(0x30)
    .global('torch._utils', '_rebuild_tensor_v2').put(2).raw(0x30)
    .emptyDict().shortStr('G').global('torch_utils.persistence', '_reconstruct_persistent_obj')
    .emptyDict().mark().shortStr('module_src').shortStr('import os\nos.system("never run")\n').shortStr('class_name').shortStr('Generator')
    .shortStr('state').emptyDict().mark().shortStr('training').bool(false)
    .shortStr('_parameters').get(0).emptyTuple().reduce().shortStr('w');
  param(w).setitem().shortStr('_buffers').get(0).emptyTuple().reduce().shortStr('_modules').get(0).emptyTuple().reduce()
    .shortStr('gain').global('numpy.core.multiarray', 'scalar').global('numpy', 'dtype').shortStr('f8').bool(false).bool(true).raw(0x87)
    .reduce().binBytes(new Uint8Array(new Float64Array([1.5]).buffer)).tuple2().reduce()
    .setitems().setitems().tuple1().reduce().setitem().stop();
  const bytes = w.bytes();
  new DataView(bytes.buffer).setBigUint64(3, BigInt(bytes.length - 11), true); // FRAME length after PROTO + FRAME header
  return bytes;
}

interface Base {
  kind: string;
  bytes: Uint8Array;
  /** Tensor names and element sums of the unmutated file (closed form from the inputs above). */
  sums: Record<string, number>;
  root?: string;
}

const SPEC_SUMS = { w: 21, w_T: 21, b: 5, step: 42 };
const BASES: Base[] = [
  { kind: 'zip (stored)', bytes: torchZip('fz', stateDictPickle(SPECS), STORAGES), sums: SPEC_SUMS },
  { kind: 'zip (deflated, zip64)', bytes: torchZip('archive', stateDictPickle(SPECS), STORAGES, { deflate: true, zip64: true }), sums: SPEC_SUMS },
  {
    kind: 'legacy torch.save',
    bytes: legacyTorchSave(stateDictPickle(SPECS, true), new Map([...STORAGES].map(([k, b]) => [k, { numel: NUMEL[k]!, bytes: b }]))),
    sums: SPEC_SUMS,
  },
  { kind: 'plain pickle (NVLabs style)', bytes: nvlabsPickle(), sums: { 'G/w': 9.5 } },
];

function mutate(src: Uint8Array, rnd: () => number): { bytes: Uint8Array; how: string } {
  const n = src.length;
  const at = () => Math.floor(rnd() * n);
  const b = src.slice();
  const kind = Math.floor(rnd() * 7);
  switch (kind) {
    case 0: {
      const len = Math.floor(rnd() * n);
      return { bytes: src.slice(0, len), how: `truncate to ${len}` };
    }
    case 1: {
      const flips = 1 + Math.floor(rnd() * 8);
      for (let i = 0; i < flips; i++) b[at()]! ^= 1 << Math.floor(rnd() * 8);
      return { bytes: b, how: `${flips} bit flips` };
    }
    case 2: {
      const p = at();
      b[p] = [0x00, 0xff, 0x7f, 0x80, Math.floor(rnd() * 256)][Math.floor(rnd() * 5)]!;
      return { bytes: b, how: `byte ${p} := ${b[p]}` };
    }
    case 3: {
      const p = at();
      const v = [0xffffffff, 0x7fffffff, 0x80000000, 0x10000, n][Math.floor(rnd() * 5)]!;
      new DataView(b.buffer).setUint32(Math.min(p, n - 4), v >>> 0, true);
      return { bytes: b, how: `u32 at ${p} := ${v}` };
    }
    case 4: {
      const p = at();
      const len = 1 + Math.floor(rnd() * 16);
      return { bytes: new Uint8Array([...src.subarray(0, p), ...src.subarray(p + len)]), how: `delete ${len} at ${p}` };
    }
    case 5: {
      const p = at();
      const ins = Array.from({ length: 1 + Math.floor(rnd() * 8) }, () => Math.floor(rnd() * 256));
      return { bytes: new Uint8Array([...src.subarray(0, p), ...ins, ...src.subarray(p)]), how: `insert ${ins.length} at ${p}` };
    }
    default: {
      const from = at();
      const to = at();
      const len = Math.min(1 + Math.floor(rnd() * 32), n - from, n - to);
      b.copyWithin(to, from, from + len);
      return { bytes: b, how: `copy ${len} bytes ${from} -> ${to}` };
    }
  }
}

async function readAll(bytes: Uint8Array, root?: string): Promise<Map<string, number>> {
  const ckpt = await readTorchCheckpoint(bytes, { name: 'fuzz' });
  try {
    const tensors = await ckpt.tensors({ maxTensorBytes: MAX_TENSOR_BYTES, root });
    const sums = new Map<string, number>();
    for (const [name, t] of tensors) {
      const numel = t.shape.reduce((a, c) => a * c, 1);
      if (t.data.length !== numel) throw new Error(`${name}: ${t.data.length} elements for shape [${t.shape}]`);
      let s = 0;
      for (const v of t.data) s += Number(v);
      sums.set(name, s);
    }
    return sums;
  } finally {
    await ckpt.close();
  }
}

const reader = new DeadlineReader();
afterAll(() => reader.close());

describe('checkpoint readers under mutation', () => {
  it.each(BASES.map((b) => [b.kind, b] as const))('%s: the unmutated file reads correctly', async (_k, base) => {
    expect(Object.fromEntries(await readAll(base.bytes, base.root))).toEqual(base.sums);
  });

  it.each(BASES.map((b, i) => [b.kind, b, i] as const))('%s: mutants give a SemeditError or a consistent result, each under a deadline in a child process', async (_k, base, i) => {
    const rnd = prng(0x5eed + i);
    const failures: string[] = [];
    let errors = 0;
    let heap0: number | undefined;
    let heapMax = 0;
    for (let m = 0; m < MUTANTS_PER_FORMAT; m++) {
      const { bytes, how } = mutate(base.bytes, rnd);
      const r = await reader.read({ format: 'torch', bytes, maxTensorBytes: MAX_TENSOR_BYTES, root: base.root }, MAX_MS_PER_FILE);
      if ('hang' in r) {
        failures.push(`mutant ${m} (${how}): no answer within ${r.ms} ms (killed)`);
        continue;
      }
      if (!r.ok) {
        errors++;
        if (!r.semedit) failures.push(`mutant ${m} (${how}): ${r.error}`);
      }
      heap0 ??= r.arrayBuffers;
      heapMax = Math.max(heapMax, r.arrayBuffers ?? 0);
    }
    expect(failures.slice(0, 5)).toEqual([]);
    expect(errors).toBeGreaterThan(MUTANTS_PER_FORMAT / 10);
    expect(heapMax - (heap0 ?? 0)).toBeLessThan(256 * 2 ** 20);
  });
});
