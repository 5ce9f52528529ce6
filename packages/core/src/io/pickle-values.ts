/**
 * Values the data-only unpickler produces besides plain JS data, and the few Python callables it is allowed to
 * "call" (each re-implemented here as pure data construction; nothing is imported or executed).
 *
 * Python → JS: `None` → `null`, `bool` → boolean, `int` → number (bigint beyond 2^53), `float` → number,
 * `str` → string, `bytes`/`bytearray` → `Uint8Array`, `list` → array, `tuple` → frozen array, `dict` and
 * `OrderedDict` → `Map`, `set`/`frozenset` → `Set`, a class or function reference → {@link PickleGlobal},
 * an instance or a call of anything else → {@link PickleObject}.
 * @module
 */

/**
 * A reference to a Python global (`module.name`) as GLOBAL / STACK_GLOBAL name it; never imported.
 *
 * @example
 * ```ts
 * const g = new PickleGlobal('collections', 'OrderedDict');
 * g.qualifiedName; // 'collections.OrderedDict'
 * ```
 */
export class PickleGlobal {
  /**
   * @param module dotted module path (`torch._utils`)
   * @param name   attribute name (`_rebuild_tensor_v2`)
   */
  constructor(readonly module: string, readonly name: string) {}
  /** `module.name`. */
  get qualifiedName(): string {
    return `${this.module}.${this.name}`;
  }
}

/**
 * An inert record of a Python object the unpickler does not know: the class (or function) name, the arguments
 * it would have been called with, and the state BUILD would have set. Nothing is ever executed.
 *
 * @example
 * ```ts
 * // pickle of argparse.Namespace(lr=0.002) → PickleObject
 * obj.qualifiedName;                       // 'argparse.Namespace'
 * (obj.state as Map<string, unknown>).get('lr'); // 0.002
 * ```
 */
export class PickleObject {
  /** State given by BUILD (usually a `Map` of the instance `__dict__`), if any. */
  state: unknown = undefined;
  /** Items added by SETITEM(S) when the object is a dict subclass. */
  items: Map<unknown, unknown> | undefined = undefined;
  /** Items added by APPEND(S) when the object is a list subclass. */
  list: unknown[] | undefined = undefined;
  /** Keyword arguments (NEWOBJ_EX). */
  kwargs: unknown = undefined;
  /** A decoded value, for records the reader understands as data (numpy scalars). */
  value: unknown = undefined;
  /**
   * @param module module of the class or function
   * @param name   its name
   * @param args   positional arguments of the call / constructor
   */
  constructor(readonly module: string, readonly name: string, readonly args: readonly unknown[]) {}
  /** `module.name`. */
  get qualifiedName(): string {
    return `${this.module}.${this.name}`;
  }
}

/**
 * What a {@link PickleCallable} may use: failing with a located error, and calling another known global.
 *
 * @example
 * ```ts
 * const double: PickleCallable = (args, ctx) => (typeof args[0] === 'number' ? args[0] * 2 : ctx.fail('not a number'));
 * ```
 */
export interface CallContext {
  /** Throws a `CheckpointFormatError` at the current opcode. */
  fail(detail: string): never;
  /** Calls `fn` (a {@link PickleGlobal}) with `args` as REDUCE would (inert record when unknown). */
  call(fn: unknown, args: readonly unknown[]): unknown;
}

/**
 * A data-only stand-in for a Python callable: builds the value REDUCE would produce from `args`.
 *
 * @example
 * ```ts
 * const toList: PickleCallable = (args) => [...(args[0] as unknown[])];
 * ```
 */
export type PickleCallable = (args: readonly unknown[], ctx: CallContext) => unknown;

/**
 * Resolves `module.name` to a known callable, or `undefined` to make the call an inert {@link PickleObject}.
 *
 * @example
 * ```ts
 * const resolve: GlobalResolver = (module, name) => (module === 'm' && name === 'f' ? () => 1 : undefined);
 * ```
 */
export type GlobalResolver = (module: string, name: string) => PickleCallable | undefined;

/**
 * Whether `v` is a pickled tuple (the unpickler freezes tuples; lists stay mutable).
 *
 * @param v any unpickled value
 * @example
 * ```ts
 * isTuple(unpickle(tupleBytes)); // true
 * isTuple([1, 2]);              // false
 * ```
 */
export function isTuple(v: unknown): v is readonly unknown[] {
  return Array.isArray(v) && Object.isFrozen(v);
}

function iterableItems(v: unknown, ctx: CallContext): unknown[] {
  if (v === undefined) return [];
  if (Array.isArray(v)) return [...v];
  if (v instanceof Set) return [...v];
  if (v instanceof Map) return [...v.keys()];
  return ctx.fail(`expected a list, tuple or set, got ${describeValue(v)}`);
}

function toMap(args: readonly unknown[], ctx: CallContext): Map<unknown, unknown> {
  const m = new Map<unknown, unknown>();
  const src = args[0];
  if (src instanceof Map) return new Map(src);
  for (const pair of iterableItems(src, ctx)) {
    if (!Array.isArray(pair) || pair.length !== 2) ctx.fail(`dict item is not a (key, value) pair: ${describeValue(pair)}`);
    m.set(pair[0], pair[1]);
  }
  return m;
}

function encodeText(s: unknown, encoding: unknown, ctx: CallContext): Uint8Array {
  if (typeof s !== 'string') return ctx.fail(`expected a str to encode, got ${describeValue(s)}`);
  const enc = String(encoding ?? 'utf-8').toLowerCase().replace('_', '-');
  if (enc === 'latin1' || enc === 'latin-1' || enc === 'iso-8859-1') {
    const out = new Uint8Array(s.length);
    for (let i = 0; i < s.length; i++) {
      const c = s.charCodeAt(i);
      if (c > 255) ctx.fail(`character U+${c.toString(16)} cannot be encoded as latin-1`);
      out[i] = c;
    }
    return out;
  }
  if (enc === 'utf-8' || enc === 'utf8' || enc === 'ascii') return new TextEncoder().encode(s);
  return ctx.fail(`unsupported text encoding "${String(encoding)}"`);
}

const NUMPY_KINDS: Record<string, (v: DataView, le: boolean) => unknown> = {
  f8: (v, le) => v.getFloat64(0, le), f4: (v, le) => v.getFloat32(0, le),
  i8: (v, le) => v.getBigInt64(0, le), i4: (v, le) => v.getInt32(0, le), i2: (v, le) => v.getInt16(0, le),
  i1: (v) => v.getInt8(0), u8: (v, le) => v.getBigUint64(0, le), u4: (v, le) => v.getUint32(0, le),
  u2: (v, le) => v.getUint16(0, le), u1: (v) => v.getUint8(0), b1: (v) => v.getUint8(0) !== 0,
};
const NUMPY_SIZES: Record<string, number> = { f8: 8, f4: 4, i8: 8, i4: 4, i2: 2, i1: 1, u8: 8, u4: 4, u2: 2, u1: 1, b1: 1 };

/** `numpy.core.multiarray.scalar(dtype, bytes)`: an inert record whose `value` is decoded when the dtype is simple. */
function numpyScalar(module: string): PickleCallable {
  return (args) => {
    const rec = new PickleObject(module, 'scalar', args);
    const [dtype, bytes] = args;
    if (!(dtype instanceof PickleObject) || !(bytes instanceof Uint8Array)) return rec;
    const kind = dtype.args[0];
    const state = dtype.state;
    const order = Array.isArray(state) ? state[1] : '<';
    const decode = typeof kind === 'string' ? NUMPY_KINDS[kind] : undefined;
    if (decode && bytes.length === NUMPY_SIZES[kind as string] && (order === '<' || order === '>' || order === '|')) {
      rec.value = decode(new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength), order !== '>');
    }
    return rec;
  };
}

const BUILTINS: Record<string, PickleCallable> = {
  'collections.OrderedDict': toMap,
  'builtins.dict': toMap,
  '__builtin__.dict': toMap,
  'collections.defaultdict': () => new Map(),
  'builtins.set': (a, ctx) => new Set(iterableItems(a[0], ctx)),
  '__builtin__.set': (a, ctx) => new Set(iterableItems(a[0], ctx)),
  'builtins.frozenset': (a, ctx) => new Set(iterableItems(a[0], ctx)),
  '__builtin__.frozenset': (a, ctx) => new Set(iterableItems(a[0], ctx)),
  'builtins.bytes': (a, ctx) => (a.length === 0 ? new Uint8Array(0) : bytesLike(a, ctx)),
  'builtins.bytearray': (a, ctx) => (a.length === 0 ? new Uint8Array(0) : bytesLike(a, ctx)),
  '__builtin__.bytearray': (a, ctx) => (a.length === 0 ? new Uint8Array(0) : bytesLike(a, ctx)),
  '_codecs.encode': (a, ctx) => encodeText(a[0], a[1], ctx),
  'copyreg._reconstructor': (a, ctx) => {
    const cls = a[0];
    if (!(cls instanceof PickleGlobal)) return ctx.fail(`copyreg._reconstructor of a non-class ${describeValue(cls)}`);
    return ctx.call(cls, []);
  },
  'copy_reg._reconstructor': (a, ctx) => BUILTINS['copyreg._reconstructor']!(a, ctx),
  'numpy.core.multiarray.scalar': numpyScalar('numpy.core.multiarray'),
  'numpy._core.multiarray.scalar': numpyScalar('numpy._core.multiarray'),
};

function bytesLike(a: readonly unknown[], ctx: CallContext): Uint8Array {
  const v = a[0];
  if (v instanceof Uint8Array) return v.slice();
  if (typeof v === 'string') return encodeText(v, a[1], ctx);
  if (Array.isArray(v)) return Uint8Array.from(v.map((x) => Number(x) & 0xff));
  return ctx.fail(`cannot make bytes from ${describeValue(v)}`);
}

/**
 * Classes NEWOBJ may instantiate as plain JS containers (`cls.__new__(cls)` of a builtin container).
 *
 * @example
 * ```ts
 * NEWOBJ_CONTAINERS['collections.OrderedDict']!(); // Map {}
 * ```
 */
export const NEWOBJ_CONTAINERS: Record<string, () => unknown> = {
  'collections.OrderedDict': () => new Map(),
  'builtins.dict': () => new Map(),
  'collections.defaultdict': () => new Map(),
  'builtins.list': () => [],
  'builtins.set': () => new Set(),
};

/**
 * The callables every unpickle knows: dict/OrderedDict/set/bytes constructors, `_codecs.encode` (protocol-2
 * bytes), `copyreg._reconstructor` and numpy scalars. Everything else stays an inert {@link PickleObject}.
 *
 * @param module module of the global
 * @param name   its name
 * @example
 * ```ts
 * builtinGlobal('collections', 'OrderedDict'); // a PickleCallable building a Map
 * builtinGlobal('os', 'system');              // undefined → REDUCE gives an inert PickleObject
 * ```
 */
export function builtinGlobal(module: string, name: string): PickleCallable | undefined {
  return BUILTINS[`${module}.${name}`];
}

/**
 * Short description of a value for error messages (type and, for small values, the value).
 *
 * @param v any unpickled value
 * @example
 * ```ts
 * describeValue(new Map()); // 'dict'
 * ```
 */
export function describeValue(v: unknown): string {
  if (v === null) return 'None';
  if (v === undefined) return 'nothing';
  if (typeof v === 'string') return v.length > 40 ? `str "${v.slice(0, 40)}…"` : `str "${v}"`;
  if (typeof v === 'number' || typeof v === 'bigint' || typeof v === 'boolean') return `${typeof v} ${String(v)}`;
  if (v instanceof Uint8Array) return `bytes[${v.length}]`;
  if (isTuple(v)) return `tuple[${v.length}]`;
  if (Array.isArray(v)) return `list[${v.length}]`;
  if (v instanceof Map) return 'dict';
  if (v instanceof Set) return 'set';
  if (v instanceof PickleGlobal) return `global ${v.qualifiedName}`;
  if (v instanceof PickleObject) return `object ${v.qualifiedName}`;
  return (v as object).constructor?.name ?? typeof v;
}
