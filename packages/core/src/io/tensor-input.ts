/**
 * Validation of tensors handed to the checkpoint writers: dtype, shape, element count, and a typed array that
 * matches the dtype. Shared by the safetensors and tfjs-weights writers.
 * @module
 */
import { OptionError } from '../errors.js';
import { DTYPE_SIZE, float32ToHalfBits, type DType, type TensorData } from './dtype.js';
import type { RawTensor } from './types.js';

/**
 * A tensor to write. `data` must be the dtype's typed array (`Float32Array` for float32, `Uint16Array` raw bits
 * for float16/bfloat16, `BigInt64Array` for int64, `Uint8Array` for uint8 and bool, ...). float16/bfloat16
 * also accept a `Float32Array`/`Float64Array` of values, rounded to nearest even.
 *
 * @example
 * ```ts
 * const t: TensorInput = { dtype: 'bfloat16', shape: [2], data: new Float32Array([1, 0.5]) };
 * ```
 */
export interface TensorInput {
  dtype: DType;
  shape: readonly number[];
  data: TensorData;
}

/**
 * Tensors to write, by name: a `Map` (kept in insertion order) or a plain object.
 *
 * @example
 * ```ts
 * const set: TensorSet = { bias: { dtype: 'float32', shape: [2], data: new Float32Array(2) } };
 * ```
 */
export type TensorSet = ReadonlyMap<string, TensorInput | RawTensor> | Readonly<Record<string, TensorInput | RawTensor>>;

/**
 * A validated tensor: `data` is exactly the dtype's storage type.
 *
 * @example
 * ```ts
 * const t: CheckedTensor = checkTensor('w', { dtype: 'int8', shape: [1], data: new Int8Array(1) });
 * ```
 */
export interface CheckedTensor {
  name: string;
  dtype: DType;
  shape: number[];
  data: TensorData;
}

const STORAGE: Record<DType, string> = {
  float64: 'Float64Array', float32: 'Float32Array', float16: 'Uint16Array', bfloat16: 'Uint16Array',
  int64: 'BigInt64Array', int32: 'Int32Array', int16: 'Int16Array', int8: 'Int8Array', uint8: 'Uint8Array', bool: 'Uint8Array',
};

/**
 * Rounds float values to bfloat16 bits (round to nearest even; NaN stays NaN).
 *
 * @param values float values
 * @example
 * ```ts
 * float32ToBf16Bits(new Float32Array([1])); // Uint16Array [0x3f80]
 * ```
 */
export function float32ToBf16Bits(values: ArrayLike<number>): Uint16Array {
  const f = Float32Array.from(values);
  const u = new Uint32Array(f.buffer);
  const out = new Uint16Array(f.length);
  for (let i = 0; i < u.length; i++) {
    const x = u[i]!;
    out[i] = (x & 0x7fffffff) > 0x7f800000 ? (x >>> 16) | 0x40 : (x + 0x7fff + ((x >>> 16) & 1)) >>> 16;
  }
  return out;
}

/** The typed array's intrinsic name (`Uint8Array` for a Node `Buffer` too), else the value's type. */
function typeName(data: unknown): string {
  return Object.prototype.toString.call(data).slice(8, -1);
}

/**
 * Lists a {@link TensorSet}'s entries in order (Map insertion order, or `Object.entries` order).
 *
 * @param tensors a Map or a plain object of tensors
 * @example
 * ```ts
 * tensorEntries({ a: { dtype: 'int8', shape: [], data: new Int8Array(1) } }); // [['a', {...}]]
 * ```
 */
export function tensorEntries(tensors: TensorSet): [string, TensorInput | RawTensor][] {
  return tensors instanceof Map ? [...tensors.entries()] : Object.entries(tensors as Record<string, TensorInput>);
}

/**
 * Checks one tensor to write and brings its data to the dtype's storage type; throws {@link OptionError}
 * naming the tensor on any inconsistency.
 *
 * @param name tensor name (for errors)
 * @param t    the tensor
 * @example
 * ```ts
 * checkTensor('w', { dtype: 'float32', shape: [2], data: new Float32Array(2) }).shape; // [2]
 * ```
 */
export function checkTensor(name: string, t: TensorInput | RawTensor): CheckedTensor {
  const where = `tensors[${JSON.stringify(name)}]`;
  if (typeof t !== 'object' || t === null) throw new OptionError(where, 'is not a tensor object');
  const dtype = t.dtype;
  if (typeof dtype !== 'string' || !Object.hasOwn(DTYPE_SIZE, dtype)) {
    throw new OptionError(`${where}.dtype`, `unknown dtype ${JSON.stringify(dtype)}`);
  }
  if (!Array.isArray(t.shape) || !t.shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
    throw new OptionError(`${where}.shape`, `must be an array of non-negative integers, got ${JSON.stringify(t.shape)}`);
  }
  let data: unknown = t.data;
  if ((dtype === 'float16' || dtype === 'bfloat16') && (data instanceof Float32Array || data instanceof Float64Array)) {
    data = dtype === 'float16' ? float32ToHalfBits(data) : float32ToBf16Bits(data);
  }
  if (typeName(data) !== STORAGE[dtype]) {
    throw new OptionError(`${where}.data`, `dtype ${dtype} needs a ${STORAGE[dtype]}, got ${typeName(data)}`);
  }
  const numel = t.shape.reduce((a, b) => a * b, 1);
  const length = (data as TensorData).length;
  if (length !== numel) {
    throw new OptionError(`${where}.data`, `has ${length} elements but shape [${t.shape.join(', ')}] needs ${numel}`);
  }
  return { name, dtype, shape: [...t.shape], data: data as TensorData };
}

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/**
 * The little-endian bytes of a typed array (a view when the host is little-endian, else a swapped copy).
 *
 * @param data typed array
 * @example
 * ```ts
 * leBytes(new Int16Array([1])); // Uint8Array [1, 0]
 * ```
 */
export function leBytes(data: TensorData): Uint8Array {
  const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  if (LITTLE_ENDIAN || data.BYTES_PER_ELEMENT === 1) return bytes;
  const out = bytes.slice();
  for (let i = 0; i < out.length; i += data.BYTES_PER_ELEMENT) out.subarray(i, i + data.BYTES_PER_ELEMENT).reverse();
  return out;
}
