import { describe, expect, it } from 'vitest';
import { CheckpointFormatError } from '../errors.js';
import { PickleWriter } from '../testing/torch-writers.js';
import { isTuple, PickleGlobal, PickleObject, unpickle, unpickleAt, type UnpickleOptions } from './pickle.js';

const hex = (h: string): Uint8Array => Uint8Array.from(Buffer.from(h, 'hex'));
const ascii = (s: string): Uint8Array => Uint8Array.from(s, (c) => c.charCodeAt(0));

/**
 * CPython 3 `pickle.dumps(OBJ, protocol=p)` for p = 0..5, where
 * OBJ = [1, -5, 300, 70000, -70000, True, False, None, 1.5, -0.25, 'héllo', b'ab\x00', (1, 2), (), (1,), (1, 2, 3, 4),
 *        {'a': 1}, {3}, frozenset([4]), 2**70, -2**70, 2**53, bytearray(b'xy')]
 */
const PROTOCOLS: Record<number, string> = {
  0: '286c70300a49310a61492d350a61493330300a614937303030300a61492d37303030300a614930310a614930300a614e6146312e350a61462d302e32350a615668e96c6c6f0a70310a61635f636f646563730a656e636f64650a70320a285661625c75303030300a70330a566c6174696e310a70340a7470350a5270360a612849310a49320a7470370a612874612849310a7470380a612849310a49320a49330a49340a7470390a6128647031300a56610a7031310a49310a7361635f5f6275696c74696e5f5f0a7365740a7031320a28286c7031330a49330a61747031340a527031350a61635f5f6275696c74696e5f5f0a66726f7a656e7365740a7031360a28286c7031370a49340a61747031380a527031390a614c313138303539313632303731373431313330333432344c0a614c2d313138303539313632303731373431313330333432344c0a614c393030373139393235343734303939324c0a61635f5f6275696c74696e5f5f0a6279746561727261790a7032300a2867320a285678790a7032310a67340a747032320a527032330a747032340a527032350a612e',
  1: '5d7100284b014afbffffff4d2c014a701101004a90eefeff4930310a4930300a4e473ff800000000000047bfd0000000000000580600000068c3a96c6c6f7101635f636f646563730a656e636f64650a7102285803000000616200710358060000006c6174696e317104747105527106284b014b0274710729284b01747108284b014b024b034b047471097d710a580100000061710b4b0173635f5f6275696c74696e5f5f0a7365740a710c285d710d4b036174710e52710f635f5f6275696c74696e5f5f0a66726f7a656e7365740a7110285d71114b04617471125271134c313138303539313632303731373431313330333432344c0a4c2d313138303539313632303731373431313330333432344c0a4c393030373139393235343734303939324c0a635f5f6275696c74696e5f5f0a6279746561727261790a7114286802285802000000787971156804747116527117747118527119652e',
  2: '80025d7100284b014afbffffff4d2c014a701101004a90eefeff88894e473ff800000000000047bfd0000000000000580600000068c3a96c6c6f7101635f636f646563730a656e636f64650a71025803000000616200710358060000006c6174696e3171048671055271064b014b02867107294b01857108284b014b024b034b047471097d710a580100000061710b4b0173635f5f6275696c74696e5f5f0a7365740a710c5d710d4b036185710e52710f635f5f6275696c74696e5f5f0a66726f7a656e7365740a71105d71114b04618571125271138a090000000000000000408a090000000000000000c08a0700000000000020635f5f6275696c74696e5f5f0a6279746561727261790a711468025802000000787971156804867116527117857118527119652e',
  3: '80035d7100284b014afbffffff4d2c014a701101004a90eefeff88894e473ff800000000000047bfd0000000000000580600000068c3a96c6c6f7101430361620071024b014b02867103294b01857104284b014b024b034b047471057d710658010000006171074b0173636275696c74696e730a7365740a71085d71094b036185710a52710b636275696c74696e730a66726f7a656e7365740a710c5d710d4b046185710e52710f8a090000000000000000408a090000000000000000c08a0700000000000020636275696c74696e730a6279746561727261790a7110430278797111857112527113652e',
  4: '800495a8000000000000005d94284b014afbffffff4d2c014a701101004a90eefeff88894e473ff800000000000047bfd00000000000008c0668c3a96c6c6f944303616200944b014b028694294b018594284b014b024b034b0474947d948c0161944b01738f94284b0390284b0491948a090000000000000000408a090000000000000000c08a07000000000000208c086275696c74696e73948c09627974656172726179949394430278799485945294652e',
  5: '80059592000000000000005d94284b014afbffffff4d2c014a701101004a90eefeff88894e473ff800000000000047bfd00000000000008c0668c3a96c6c6f944303616200944b014b028694294b018594284b014b024b034b0474947d948c0161944b01738f94284b0390284b0491948a090000000000000000408a090000000000000000c08a0700000000000020960200000000000000787994652e',
};

const EXPECTED = [
  1, -5, 300, 70000, -70000, true, false, null, 1.5, -0.25, 'héllo', new Uint8Array([0x61, 0x62, 0]), [1, 2], [], [1],
  [1, 2, 3, 4], new Map([['a', 1]]), new Set([3]), new Set([4]), 2n ** 70n, -(2n ** 70n), 2 ** 53, new Uint8Array([0x78, 0x79]),
];

function formatError(bytes: Uint8Array, opts: UnpickleOptions = {}): CheckpointFormatError {
  try {
    unpickle(bytes, { file: 'test.pkl', ...opts });
  } catch (e) {
    expect(e).toBeInstanceOf(CheckpointFormatError);
    return e as CheckpointFormatError;
  }
  return expect.fail('expected a CheckpointFormatError');
}

describe('unpickle: CPython pickles of every protocol', () => {
  it.each([0, 1, 2, 3, 4, 5])('protocol %i decodes to the same values', (p) => {
    const v = unpickle(hex(PROTOCOLS[p]!)) as unknown[];
    expect(v).toEqual(EXPECTED);
    expect(isTuple(v[12])).toBe(true);
    expect(isTuple(v)).toBe(false);
    expect(typeof v[21]).toBe('number');
  });

  it('memo (BINPUT/BINGET, MEMOIZE) yields the same object twice', () => {
    for (const h of ['80025d7100287d710158010000006b71024b01736801652e', '80049510000000000000005d94287d948c016b944b01736801652e']) {
      const v = unpickle(hex(h)) as Map<string, number>[];
      expect(v[0]).toEqual(new Map([['k', 1]]));
      expect(v[0]).toBe(v[1]);
    }
  });

  it('persistent ids (PERSID, BINPERSID) go to the callback', () => {
    const seen: unknown[] = [];
    const persistentLoad = (pid: unknown) => (seen.push(pid), `<${String(pid)}>`);
    expect(unpickle(hex('286c70300a506162630a6156780a70310a612e'), { persistentLoad })).toEqual(['<abc>', 'x']);
    expect(unpickle(hex('80025d71002858030000006162637101515801000000787102652e'), { persistentLoad })).toEqual(['<abc>', 'x']);
    expect(seen).toEqual(['abc', 'abc']);
    expect(formatError(hex('80025d71002858030000006162637101515801000000787102652e')).message).toMatch(/persistent id/);
  });

  it('OrderedDict becomes a Map; its BUILD state (_metadata) is dropped', () => {
    const od = hex('800263636f6c6c656374696f6e730a4f726465726564446963740a7100295271012858010000006171024b0158010000006271034b02752e');
    expect(unpickle(od)).toEqual(new Map([['a', 1], ['b', 2]]));
    const w = new PickleWriter().proto(2).global('collections', 'OrderedDict').emptyTuple().reduce()
      .str('x').int(1).setitem().emptyDict().str('_metadata').emptyDict().setitem().build().stop();
    expect(unpickle(w.bytes())).toEqual(new Map([['x', 1]]));
  });

  it('several pickles back to back: unpickleAt reports where each ends', () => {
    const a = new PickleWriter().proto(2).int(1).stop().bytes();
    const b = new PickleWriter().proto(2).str('two').stop().bytes();
    const both = new Uint8Array([...a, ...b]);
    const first = unpickleAt(both, 0);
    expect(first).toEqual({ value: 1, end: a.length });
    expect(unpickleAt(both, first.end).value).toBe('two');
  });
});

describe('unpickle: globals are never executed', () => {
  it('os.system via REDUCE is an inert record holding its arguments', () => {
    const v = unpickle(ascii("cos\nsystem\n(S'echo pwned'\ntR."));
    expect(v).toBeInstanceOf(PickleObject);
    const o = v as PickleObject;
    expect([o.module, o.name, o.args]).toEqual(['os', 'system', ['echo pwned']]);
  });

  it('builtins.eval / subprocess via STACK_GLOBAL stay inert; INST and OBJ build records only', () => {
    const w = new PickleWriter().proto(4).mark()
      .shortStr('builtins').shortStr('eval').raw(0x93).shortStr('__import__("os").system("x")').tuple1().reduce()
      .mark().raw(0x69, ...ascii('subprocess\nPopen\n'))
      .mark().global('shutil', 'rmtree').str('/').raw(0x6f)
      .tuple().stop();
    const [ev, inst, obj] = unpickle(w.bytes()) as PickleObject[];
    expect(ev!.qualifiedName).toBe('builtins.eval');
    expect(ev!.args).toEqual(['__import__("os").system("x")']);
    expect(inst!.qualifiedName).toBe('subprocess.Popen');
    expect(obj!.qualifiedName).toBe('shutil.rmtree');
    expect(obj!.args).toEqual(['/']);
  });

  it('NEWOBJ + BUILD record class, args and state; a GLOBAL alone is a reference', () => {
    const w = new PickleWriter().proto(2).mark().global('argparse', 'Namespace').emptyTuple().newobj()
      .emptyDict().str('lr').raw(0x47, 0x3f, 0x60, 0x62, 0x4d, 0xd2, 0xf1, 0xa9, 0xfc).setitem().build()
      .global('torch', 'FloatStorage').tuple().stop();
    const [ns, g] = unpickle(w.bytes()) as [PickleObject, PickleGlobal];
    expect(ns.qualifiedName).toBe('argparse.Namespace');
    expect(ns.state).toEqual(new Map([['lr', 0.002]]));
    expect(g).toEqual(new PickleGlobal('torch', 'FloatStorage'));
  });

  it('a dict subclass instance keeps its SETITEMS items', () => {
    const w = new PickleWriter().proto(2).global('dnnlib.util', 'EasyDict').emptyTuple().newobj().mark().str('a').int(1).setitems().stop();
    const o = unpickle(w.bytes()) as PickleObject;
    expect(o.items).toEqual(new Map([['a', 1]]));
  });

  it('numpy scalars are decoded from their dtype and bytes', () => {
    const f8 = new Uint8Array(new Float64Array([1.25]).buffer);
    const w = new PickleWriter().proto(2).global('numpy.core.multiarray', 'scalar')
      .global('numpy', 'dtype').str('f8').bool(false).bool(true).raw(0x87).reduce()
      .mark().int(3).str('<').none().none().none().int(-1).int(-1).int(0).tuple().build()
      .binBytes(f8).tuple2().reduce().stop();
    const v = unpickle(w.bytes()) as PickleObject;
    expect(v.qualifiedName).toBe('numpy.core.multiarray.scalar');
    expect(v.value).toBe(1.25);
  });

  it('a resolver supplies extra callables; unknown ones stay inert', () => {
    const w = new PickleWriter().proto(2).global('m', 'double').int(21).tuple1().reduce().stop();
    expect(unpickle(w.bytes(), { resolveGlobal: (mod, n) => (mod === 'm' && n === 'double' ? (a) => (a[0] as number) * 2 : undefined) })).toBe(42);
    expect(unpickle(w.bytes())).toEqual(new PickleObject('m', 'double', [21]));
  });
});

describe('unpickle: malformed input fails with located errors', () => {
  it('names an unknown opcode byte and its offset', () => {
    const e = formatError(new Uint8Array([0x80, 0x02, 0xff, 0x2e]));
    expect(e.message).toMatch(/unknown opcode byte 0xff/);
    expect(e.offset).toBe(2);
    expect(e.file).toBe('test.pkl');
  });

  it('checks lengths against the remaining bytes before allocating', () => {
    const huge = new Uint8Array([0x80, 0x04, 0x8e, 0, 0, 0, 0, 0, 0, 0, 0x10, 0x2e]); // BINBYTES8 of 2^60 bytes
    const e = formatError(huge);
    expect(e.message).toMatch(/^test\.pkl at byte 2: pickle opcode BINBYTES8: length 1152921504606846976 is too large/);
    expect(e.offset).toBe(2);
    const big = new Uint8Array([0x80, 0x04, 0x8e, 0, 0, 0, 0, 0, 1, 0, 0, 0x2e]); // BINBYTES8 of 2^40 bytes
    expect(formatError(big).message).toMatch(/BINBYTES8: bytes of 1099511627776 bytes runs past the end of the data \(1 left\)/);
    expect(formatError(new Uint8Array([0x58, 0xff, 0xff, 0xff, 0x7f, 0x61])).message).toMatch(/BINUNICODE.*runs past the end/);
    expect(formatError(new Uint8Array([0x80, 0x04, 0x95, 0xff, 0xff, 0, 0, 0, 0, 0, 0, 0x2e])).message).toMatch(/FRAME/);
    expect(formatError(new Uint8Array([0x8b, 0xff, 0xff, 0xff, 0x7f])).message).toMatch(/LONG4/);
  });

  it('rejects extension codes, out-of-band buffers, bad memo keys and stack underflow', () => {
    expect(formatError(new Uint8Array([0x82, 0x01, 0x2e])).message).toMatch(/EXT1.*extension/);
    expect(formatError(new Uint8Array([0x80, 0x05, 0x97, 0x2e])).message).toMatch(/NEXT_BUFFER/);
    expect(formatError(new Uint8Array([0x80, 0x05, 0x98, 0x2e])).message).toMatch(/READONLY_BUFFER/);
    expect(formatError(new Uint8Array([0x68, 0x07, 0x2e])).message).toMatch(/memo key 7/);
    expect(formatError(new Uint8Array([0x61, 0x2e])).message).toMatch(/APPEND.*underflow/);
    expect(formatError(new Uint8Array([0x28, 0x4b, 0x01, 0x28, 0x73, 0x2e])).message).toMatch(/SETITEM.*underflow/);
    expect(formatError(new Uint8Array([0x4b, 0x01])).message).toMatch(/ended before STOP/);
    expect(formatError(new Uint8Array([0x80, 0x06, 0x2e])).message).toMatch(/protocol 6/);
    expect(formatError(ascii('I12x\n.')).message).toMatch(/not an integer/);
    expect(formatError(new Uint8Array([0x29, 0x4b, 0x01, 0x61, 0x2e])).message).toMatch(/cannot append to tuple/);
  });

  it('enforces operation, stack and memo limits', () => {
    const dups = new PickleWriter().proto(2).none();
    for (let i = 0; i < 50; i++) dups.raw(0x32);
    expect(formatError(dups.stop().bytes(), { limits: { maxStack: 10 } }).message).toMatch(/stack exceeds 10/);
    expect(formatError(dups.bytes(), { limits: { maxOps: 20 } }).message).toMatch(/operation limit/);
    const memo = new PickleWriter().proto(4).none();
    for (let i = 0; i < 20; i++) memo.raw(0x94);
    expect(formatError(memo.stop().bytes(), { limits: { maxMemo: 5 } }).message).toMatch(/memo exceeds 5/);
    const budget = { opsLeft: 4 };
    const one = new PickleWriter().proto(2).int(1).stop().bytes();
    expect(unpickle(one, { budget })).toBe(1);
    expect(formatError(one, { budget }).message).toMatch(/operation limit/);
  });
});
