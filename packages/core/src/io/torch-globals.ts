/**
 * The fixed table of PyTorch globals the data-only unpickler understands: tensor rebuild functions, storage
 * classes and dtypes, `torch.storage._load_from_bytes`, and TorchScript's list helpers. Nothing is imported;
 * each entry is re-implemented as data construction. Every other global stays an inert record.
 * @module
 */
import type { DType } from './dtype.js';
import { describeValue, PickleGlobal, type CallContext, type GlobalResolver, type PickleCallable } from './pickle.js';
import { rebuildTensor, TorchTensor } from './torch-tensors.js';

const STORAGE_DTYPES: Readonly<Record<string, DType>> = {
  FloatStorage: 'float32', DoubleStorage: 'float64', HalfStorage: 'float16', BFloat16Storage: 'bfloat16',
  LongStorage: 'int64', IntStorage: 'int32', ShortStorage: 'int16', CharStorage: 'int8', ByteStorage: 'uint8',
  BoolStorage: 'bool', UntypedStorage: 'uint8', _UntypedStorage: 'uint8',
};

const DTYPE_NAMES: Readonly<Record<string, DType>> = {
  float32: 'float32', float: 'float32', float64: 'float64', double: 'float64', float16: 'float16', half: 'float16',
  bfloat16: 'bfloat16', int64: 'int64', long: 'int64', int32: 'int32', int: 'int32', int16: 'int16', short: 'int16',
  int8: 'int8', uint8: 'uint8', bool: 'bool',
};

/**
 * The element type named by a storage class (`torch.FloatStorage`, `torch.cuda.HalfStorage`,
 * `torch.storage.UntypedStorage` → uint8) or a dtype global (`torch.float16`); `undefined` if not one.
 *
 * @param cls a {@link PickleGlobal} from a persistent id
 * @example
 * ```ts
 * storageDType(new PickleGlobal('torch', 'HalfStorage')); // 'float16'
 * ```
 */
export function storageDType(cls: unknown): DType | undefined {
  if (!(cls instanceof PickleGlobal)) return undefined;
  if (cls.module === 'torch' || cls.module === 'torch.cuda' || cls.module === 'torch.storage') {
    return STORAGE_DTYPES[cls.name] ?? (cls.module === 'torch' ? DTYPE_NAMES[cls.name] : undefined);
  }
  return undefined;
}

/**
 * A storage persistent id, `('storage', StorageClass, key, location, numel[, view_metadata])`, validated.
 *
 * @example
 * ```ts
 * const p: StoragePid = parseStoragePid(pid, ctx); // { dtype: 'float16', key: '3', location: 'cpu', numel: 4096, view: undefined }
 * ```
 */
export interface StoragePid {
  dtype: DType;
  key: string;
  location: string;
  numel: number;
  /** Legacy files only: `(view_key, offset, size)` when the id names a slice of a larger storage. */
  view: { key: string; offset: number; numel: number } | undefined;
}

function count(v: unknown, what: string, ctx: CallContext): number {
  return Number.isSafeInteger(v) && (v as number) >= 0 ? (v as number) : ctx.fail(`${what} is ${describeValue(v)}, not a count`);
}

/**
 * Validates a storage persistent id.
 *
 * @param pid the persistent id tuple
 * @param ctx call context for located errors
 * @example
 * ```ts
 * parseStoragePid(['storage', new PickleGlobal('torch', 'FloatStorage'), '0', 'cpu', 6], ctx);
 * // { dtype: 'float32', key: '0', location: 'cpu', numel: 6, view: undefined }
 * ```
 */
export function parseStoragePid(pid: unknown, ctx: CallContext): StoragePid {
  if (!Array.isArray(pid) || pid[0] !== 'storage' || pid.length < 5) {
    return ctx.fail(`unsupported persistent id ${describeValue(pid)} (expected ('storage', class, key, location, numel))`);
  }
  const [, cls, key, location, numel, view] = pid;
  const dtype = storageDType(cls) ?? ctx.fail(`unsupported storage type ${describeValue(cls)}`);
  if (typeof key !== 'string' && !Number.isSafeInteger(key)) ctx.fail(`storage key is ${describeValue(key)}`);
  const out: StoragePid = {
    dtype, key: String(key), location: typeof location === 'string' ? location : String(location), numel: count(numel, 'storage numel', ctx), view: undefined,
  };
  if (view !== undefined && view !== null) {
    if (!Array.isArray(view) || view.length !== 3) ctx.fail(`storage view metadata is ${describeValue(view)}`);
    out.view = { key: String(view[0]), offset: count(view[1], 'view offset', ctx), numel: count(view[2], 'view size', ctx) };
  }
  return out;
}

const passList: PickleCallable = (a, ctx) => (Array.isArray(a[0]) ? [...a[0]] : ctx.fail(`expected a list, got ${describeValue(a[0])}`));

const TORCH_CALLABLES: Readonly<Record<string, PickleCallable>> = {
  'torch._utils._rebuild_tensor_v2': rebuildTensor,
  'torch._utils._rebuild_tensor': rebuildTensor,
  'torch._utils._rebuild_parameter': (a, ctx) => tensorArg(a[0], ctx),
  'torch._utils._rebuild_parameter_with_state': (a, ctx) => tensorArg(a[0], ctx),
  'torch._tensor._rebuild_from_type_v2': (a, ctx) => {
    const [fn, , args] = a;
    return ctx.call(fn, Array.isArray(args) ? args : ctx.fail(`expected argument tuple, got ${describeValue(args)}`));
  },
  'torch.jit._pickle.build_intlist': passList,
  'torch.jit._pickle.build_doublelist': passList,
  'torch.jit._pickle.build_boollist': passList,
  'torch.jit._pickle.build_tensorlist': passList,
  'torch.jit._pickle.restore_type_tag': (a) => a[0],
};

function tensorArg(v: unknown, ctx: CallContext): TorchTensor {
  return v instanceof TorchTensor ? v : ctx.fail(`parameter data is ${describeValue(v)}, not a tensor`);
}

/**
 * Options of {@link torchGlobals}.
 *
 * @example
 * ```ts
 * torchGlobals({ loadFromBytes: loadFromBytesIn(ctx) });
 * ```
 */
export interface TorchGlobalsOptions {
  /** Implements `torch.storage._load_from_bytes(bytes)` (a nested legacy torch.save); inert when absent. */
  loadFromBytes?: (bytes: Uint8Array, ctx: CallContext) => unknown;
}

/**
 * A {@link GlobalResolver} for PyTorch pickles: tensor rebuilds, parameters, TorchScript list helpers and (when
 * given) `torch.storage._load_from_bytes`.
 *
 * @param options see {@link TorchGlobalsOptions}
 * @example
 * ```ts
 * const value = unpickle(bytes, { resolveGlobal: torchGlobals(), persistentLoad });
 * ```
 */
export function torchGlobals(options: TorchGlobalsOptions = {}): GlobalResolver {
  return (module, name) => {
    const q = `${module}.${name}`;
    if (q === 'torch.storage._load_from_bytes' && options.loadFromBytes) {
      const load = options.loadFromBytes;
      return (a, ctx) => (a[0] instanceof Uint8Array ? load(a[0], ctx) : ctx.fail(`expected bytes, got ${describeValue(a[0])}`));
    }
    return TORCH_CALLABLES[q];
  };
}
