import { describe, expect, it } from 'vitest';
import { CheckpointFormatError, OptionError } from '../errors.js';
import { legacyTorchSave, PickleWriter, stateDictPickle, torchZip, type TensorSpec } from '../testing/torch-writers.js';
import { PickleObject } from './pickle.js';
import { detectTorchFormat, readTorchCheckpoint } from './torch.js';
import { flattenStateDict } from './torch-flatten.js';
import { TorchStorage, TorchTensor } from './torch-tensors.js';

const f32 = (...v: number[]) => new Uint8Array(new Float32Array(v).buffer);
const i64 = (...v: bigint[]) => new Uint8Array(new BigInt64Array(v).buffer);

/** Storage '0': float32 [0, 1, 2, 3, 4, 5]; '1': float16 [1, -2, 0.5, inf]; '2': int64 [7, -1]; '3': bool [1, 0, 1]. */
const STORAGES = new Map<string, Uint8Array>([
  ['0', f32(0, 1, 2, 3, 4, 5)],
  ['1', new Uint8Array(new Uint16Array([0x3c00, 0xc000, 0x3800, 0x7c00]).buffer)],
  ['2', i64(7n, -1n)],
  ['3', new Uint8Array([1, 0, 1])],
]);
const NUMEL = { '0': 6, '1': 4, '2': 2, '3': 3 } as const;
const SPECS: TensorSpec[] = [
  { name: 'a', key: '0', cls: 'FloatStorage', numel: 6, offset: 0, shape: [2, 3], stride: [3, 1] },
  { name: 'a_T', key: '0', cls: 'FloatStorage', numel: 6, offset: 0, shape: [3, 2], stride: [1, 3] },
  { name: 'tail', key: '0', cls: 'FloatStorage', numel: 6, offset: 2, shape: [2], stride: [2] },
  { name: 'h', key: '1', cls: 'HalfStorage', numel: 4, offset: 0, shape: [4], stride: [1] },
  { name: 'n', key: '2', cls: 'LongStorage', numel: 2, offset: 1, shape: [], stride: [] },
  { name: 'mask', key: '3', cls: 'BoolStorage', numel: 3, offset: 0, shape: [3], stride: [1] },
];

/** What every container holding SPECS must give (row-major logical values, worked out by hand). */
async function expectSpecs(bytes: Uint8Array): Promise<void> {
  const ckpt = await readTorchCheckpoint(bytes, { name: 'mem.pt' });
  const t = await ckpt.tensors();
  expect([...t.keys()]).toEqual(SPECS.map((s) => s.name));
  expect(Array.from(t.get('a')!.data as Float32Array)).toEqual([0, 1, 2, 3, 4, 5]);
  expect(Array.from(t.get('a_T')!.data as Float32Array)).toEqual([0, 3, 1, 4, 2, 5]);
  expect(t.get('a_T')!.stride).toEqual([1, 3]);
  expect(Array.from(t.get('tail')!.data as Float32Array)).toEqual([2, 4]);
  expect(t.get('tail')!.storageOffset).toBe(2);
  expect(t.get('h')!.dtype).toBe('float32');
  expect(Array.from(t.get('h')!.data as Float32Array)).toEqual([1, -2, 0.5, Infinity]);
  expect(t.get('n')).toMatchObject({ dtype: 'int64', shape: [], data: new BigInt64Array([-1n]) });
  expect(t.get('mask')).toMatchObject({ dtype: 'bool', data: new Uint8Array([1, 0, 1]) });
  const raw = await ckpt.tensors({ widen: false });
  expect(raw.get('h')).toMatchObject({ dtype: 'float16', data: new Uint16Array([0x3c00, 0xc000, 0x3800, 0x7c00]) });
  const refs = ckpt.tensorRefs();
  expect(refs.get('a')!.storage).toBe(refs.get('a_T')!.storage);
  await ckpt.close();
}

async function formatError(p: Promise<unknown>): Promise<CheckpointFormatError> {
  try {
    await (await p as { tensors?: () => Promise<unknown> }).tensors?.();
  } catch (e) {
    expect(e).toBeInstanceOf(CheckpointFormatError);
    return e as CheckpointFormatError;
  }
  return expect.fail('expected a CheckpointFormatError');
}

describe('readTorchCheckpoint: containers', () => {
  it('zip checkpoints: stored, deflated and zip64, any prefix', async () => {
    await expectSpecs(torchZip('my_model', stateDictPickle(SPECS), STORAGES));
    await expectSpecs(torchZip('archive', stateDictPickle(SPECS), STORAGES, { deflate: true, zip64: true }));
  });

  it('zip checkpoints saved big-endian are byte-swapped; an unknown byte order is an error', async () => {
    const swapped = new Map([...STORAGES].map(([k, b]) => {
      const size = { '0': 4, '1': 2, '2': 8, '3': 1 }[k as keyof typeof NUMEL];
      const out = b.slice();
      for (let i = 0; i < out.length; i += size) out.subarray(i, i + size).reverse();
      return [k, out];
    }));
    await expectSpecs(torchZip('be', stateDictPickle(SPECS), swapped, { byteorder: 'big' }));
    const e = await formatError(readTorchCheckpoint(torchZip('x', stateDictPickle(SPECS), STORAGES, { byteorder: 'middle' })));
    expect(e.message).toMatch(/byte order "middle"/);
  });

  it('legacy torch.save', async () => {
    const storages = new Map([...STORAGES].map(([k, bytes]) => [k, { numel: NUMEL[k as keyof typeof NUMEL], bytes }]));
    await expectSpecs(legacyTorchSave(stateDictPickle(SPECS, true), storages));
  });

  it('legacy torch.save whose pickles outgrow the first 16 MiB read window', async () => {
    const pad = 17 * 2 ** 20;
    const body = stateDictPickle(SPECS, true);
    const len = new Uint8Array(new Uint32Array([pad]).buffer);
    const obj = new Uint8Array(2 + 2 + 5 + pad + body.length - 3 + 2);
    obj.set([0x80, 2, 0x5d, 0x28, 0x42, ...len]); // PROTO 2, EMPTY_LIST, MARK, BINBYTES pad
    obj.set(body.subarray(2, body.length - 1), 9 + pad); // the state dict's opcodes (no PROTO / STOP)
    obj.set([0x65, 0x2e], obj.length - 2); // APPENDS, STOP
    const storages = new Map([...STORAGES].map(([k, bytes]) => [k, { numel: NUMEL[k as keyof typeof NUMEL], bytes }]));
    const ckpt = await readTorchCheckpoint(legacyTorchSave(obj, storages));
    const t = await ckpt.tensors({ root: '1' });
    expect(Array.from(t.get('a_T')!.data as Float32Array)).toEqual([0, 3, 1, 4, 2, 5]);
    expect(((ckpt.object as unknown[])[0] as Uint8Array).length).toBe(pad);
  });

  it('legacy view metadata: a persistent id naming a slice of a larger storage', async () => {
    const w = new PickleWriter().proto(2).global('torch._utils', '_rebuild_tensor_v2').mark()
      .mark().str('storage').global('torch', 'FloatStorage').str('root').str('cpu').int(6)
      .mark().str('view').int(3).int(2).tuple().tuple().binpersid()
      .int(1).mark().int(1).tuple().mark().int(1).tuple().bool(false).emptyDict().tuple().reduce().stop();
    const file = legacyTorchSave(w.bytes(), new Map([['root', { numel: 6, bytes: f32(0, 1, 2, 3, 4, 5) }]]));
    const ckpt = await readTorchCheckpoint(file);
    expect(Array.from((await ckpt.tensors()).get('')!.data as Float32Array)).toEqual([4]);
  });

  it('plain pickles with torch.storage._load_from_bytes (NVLabs style)', async () => {
    const nested = new PickleWriter().proto(2).mark().str('storage').global('torch', 'FloatStorage').str('k').str('cpu').int(3)
      .none().tuple().binpersid().stop().bytes();
    const blob = legacyTorchSave(nested, new Map([['k', { numel: 3, bytes: f32(9, 8, 7) }]]));
    const w = new PickleWriter().proto(2).emptyDict().str('w').global('torch._utils', '_rebuild_parameter')
      .global('torch._utils', '_rebuild_tensor_v2').mark()
      .global('torch.storage', '_load_from_bytes').binBytes(blob).tuple1().reduce()
      .int(0).mark().int(3).tuple().mark().int(1).tuple().bool(true).emptyDict().tuple().reduce()
      .bool(true).emptyDict().raw(0x87).reduce().setitem().stop();
    const ckpt = await readTorchCheckpoint(w.bytes());
    expect(ckpt.format).toBe('pickle');
    expect(Array.from((await ckpt.tensors()).get('w')!.data as Float32Array)).toEqual([9, 8, 7]);
  });

  it('rejects views outside their storage, missing records and wrong record sizes', async () => {
    const bad = [{ ...SPECS[0]!, shape: [2, 4], stride: [3, 1] }];
    const e1 = await formatError(readTorchCheckpoint(torchZip('m', stateDictPickle(bad), STORAGES)));
    expect(e1.message).toMatch(/reaches element 6 of a 6-element storage "0"/);
    expect(e1.file).toBe('<buffer> [m/data.pkl]');
    const e2 = await formatError(readTorchCheckpoint(torchZip('m', stateDictPickle(SPECS), new Map([['0', STORAGES.get('0')!]]))));
    expect(e2.message).toMatch(/storage record "m\/data\/1" is missing/);
    const wrong = new Map(STORAGES).set('2', i64(1n));
    expect((await formatError(readTorchCheckpoint(torchZip('m', stateDictPickle(SPECS), wrong)))).message).toMatch(/holds 8 bytes/);
    const legacyShort = legacyTorchSave(stateDictPickle([SPECS[0]!], true), new Map([['0', { numel: 5, bytes: f32(1, 2, 3, 4, 5, 6) }]]));
    expect((await formatError(readTorchCheckpoint(legacyShort))).message).toMatch(/holds 5 elements/);
  });

  it('detects the container from its first bytes', async () => {
    expect(detectTorchFormat(new Uint8Array([0x50, 0x4b, 3, 4]))).toBe('zip');
    expect(detectTorchFormat(new Uint8Array([0x80, 2, 0x7d, 0x2e]))).toBe('pickle');
    const tar = new Uint8Array(600);
    tar.set(new TextEncoder().encode('ustar'), 257);
    expect((await formatError(readTorchCheckpoint(tar))).message).toMatch(/tar-based/);
    const st = new Uint8Array([0x80, 5, 0, 0, 0, 0, 0, 0, 0x7b, 0x22, 0x7d]); // header length 0x580: not a protocol-5 pickle
    expect((await formatError(readTorchCheckpoint(st))).message).toMatch(/safetensors/);
    expect((await formatError(readTorchCheckpoint(new Uint8Array([0xfe, 0xfd])))).message).toMatch(/not a PyTorch checkpoint/);
    expect((await formatError(readTorchCheckpoint(new Uint8Array(0)))).message).toMatch(/not a PyTorch checkpoint/);
  });
});

describe('flattenStateDict: naming', () => {
  const storage = new TorchStorage({ dtype: 'float32', numel: 4, key: 's', where: 'test', read: async () => f32(1, 2, 3, 4) });
  const t = (offset: number) => new TorchTensor(storage, offset, [1], [1], false);
  const module = (params: [string, unknown][], modules: [string, unknown][] = [], buffers: [string, unknown][] = [], transient: string[] = []) => {
    const o = new PickleObject('torch.nn.modules.linear', 'Linear', []);
    o.state = new Map<string, unknown>([
      ['training', true], ['_parameters', new Map(params)], ['_buffers', new Map(buffers)],
      ['_non_persistent_buffers_set', new Set(transient)], ['_modules', new Map(modules)], ['other', t(3)],
    ]);
    return o;
  };

  it('modules use dotted attribute paths; containers use "/"; non-persistent buffers are skipped', () => {
    const child = module([['weight', t(0)], ['bias', null]], [], [['running', t(1)], ['scratch', t(2)]], ['scratch']);
    const top = new Map<string, unknown>([['net', module([], [['fc', child]])], ['step', 5], ['list', [t(0)]]]);
    expect([...flattenStateDict(top).keys()]).toEqual(['net/fc.weight', 'net/fc.running', 'list/0']);
    expect([...flattenStateDict(top, { root: 'net' }).keys()]).toEqual(['fc.weight', 'fc.running']);
    expect([...flattenStateDict(top, { root: ['net', 'fc'] }).keys()]).toEqual(['weight', 'running']);
  });

  it('NVLabs persistent records and TorchScript objects flatten through their state', () => {
    const nv = new PickleObject('torch_utils.persistence', '_reconstruct_persistent_obj', [
      new Map<string, unknown>([['module_src', 'print(1)'], ['state', module([['w', t(0)]])!.state]]),
    ]);
    const ts = new PickleObject('__torch__.m', 'Model', []);
    const sub = new PickleObject('__torch__.m', 'Sub', []);
    sub.state = new Map<string, unknown>([['training', false], ['b', t(1)]]);
    ts.state = new Map<string, unknown>([['training', false], ['w', t(0)], ['sub', sub]]);
    expect([...flattenStateDict(new Map([['G', nv]]), { root: 'G' }).keys()]).toEqual(['w']);
    expect([...flattenStateDict(ts).keys()]).toEqual(['w', 'sub.b']);
  });

  it('survives reference cycles, rejects name collisions and unknown roots', () => {
    const loop = new Map<string, unknown>([['x', t(0)]]);
    loop.set('self', loop);
    expect([...flattenStateDict(loop).keys()]).toEqual(['x']);
    const clash = new Map<string, unknown>([['a/b', t(0)], ['a', new Map([['b', t(1)]])]]);
    expect(() => flattenStateDict(clash)).toThrow(/two tensors would both be named "a\/b"/);
    expect(() => flattenStateDict(loop, { root: 'nope' })).toThrow(OptionError);
    expect(() => flattenStateDict(loop, { root: 'nope' })).toThrow(/no entry "nope" at the top level \(there: x, self\)/);
    let deep: unknown = t(0);
    for (let i = 0; i < 300; i++) deep = [deep];
    expect(() => flattenStateDict(deep)).toThrow(CheckpointFormatError);
  });
});
