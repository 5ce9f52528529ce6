/**
 * Element types of checkpoint tensors and their conversions. Names follow PyTorch (`float32`, `bfloat16`, ...);
 * safetensors' short names (`F32`, `BF16`, ...) map to them.
 * @module
 */
import { CheckpointFormatError } from '../errors.js';

/** Element type of a tensor stored in a checkpoint (PyTorch names). */
export type DType =
  | 'float64' | 'float32' | 'float16' | 'bfloat16'
  | 'int64' | 'int32' | 'int16' | 'int8' | 'uint8' | 'bool';

/** Typed array holding decoded tensor elements. `int64` decodes to `BigInt64Array`; f16/bf16 stay raw as `Uint16Array`. */
export type TensorData =
  | Float64Array | Float32Array | Uint16Array | BigInt64Array | Int32Array | Int16Array | Int8Array | Uint8Array;

/**
 * Bytes per element of each dtype.
 *
 * @example
 * ```ts
 * DTYPE_SIZE.bfloat16; // 2
 * ```
 */
export const DTYPE_SIZE: Readonly<Record<DType, number>> = {
  float64: 8, float32: 4, float16: 2, bfloat16: 2, int64: 8, int32: 4, int16: 2, int8: 1, uint8: 1, bool: 1,
};

const SAFETENSORS_TO_DTYPE: Readonly<Record<string, DType>> = {
  F64: 'float64', F32: 'float32', F16: 'float16', BF16: 'bfloat16',
  I64: 'int64', I32: 'int32', I16: 'int16', I8: 'int8', U8: 'uint8', BOOL: 'bool',
};

/**
 * Maps a safetensors dtype string (`F32`, `BF16`, ...) to a {@link DType}; throws on an unknown one.
 *
 * @param name safetensors dtype
 * @param where file name for the error message
 * @example
 * ```ts
 * dtypeFromSafetensors('F16'); // 'float16'
 * ```
 */
export function dtypeFromSafetensors(name: string, where?: string): DType {
  const d = SAFETENSORS_TO_DTYPE[name];
  if (d === undefined) throw new CheckpointFormatError(`unsupported safetensors dtype "${name}"`, { file: where });
  return d;
}

/**
 * Maps a {@link DType} to its safetensors name.
 *
 * @example
 * ```ts
 * dtypeToSafetensors('float32'); // 'F32'
 * ```
 */
export function dtypeToSafetensors(d: DType): string {
  for (const [k, v] of Object.entries(SAFETENSORS_TO_DTYPE)) if (v === d) return k;
  throw new CheckpointFormatError(`dtype ${d} has no safetensors name`);
}

const f32Buf = new Float32Array(1);
const u32Buf = new Uint32Array(f32Buf.buffer);

/**
 * Decodes one IEEE half-precision value (as its 16 bits) to a number. Handles subnormals, inf and NaN.
 *
 * @example
 * ```ts
 * halfToFloat(0x3c00); // 1
 * ```
 */
export function halfToFloat(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const m = h & 0x3ff;
  if (e === 0) return s * m * 2 ** -24;
  if (e === 31) return m ? NaN : s * Infinity;
  return s * (1 + m / 1024) * 2 ** (e - 15);
}

/**
 * Encodes a number as IEEE half precision bits, rounding to nearest even (as PyTorch's `.half()`).
 *
 * @example
 * ```ts
 * floatToHalf(1); // 0x3c00
 * ```
 */
export function floatToHalf(v: number): number {
  f32Buf[0] = v;
  const x = u32Buf[0]!;
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  let mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  let e = exp - 127 + 15;
  if (e >= 31) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e;
    let half = mant >>> shift;
    const rem = mant & ((1 << shift) - 1);
    const mid = 1 << (shift - 1);
    if (rem > mid || (rem === mid && half & 1)) half++;
    return sign | half;
  }
  let half = (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && half & 1)) half++;
  return sign | half;
}

/**
 * Widens raw float16 bits to float32.
 *
 * @example
 * ```ts
 * halfBitsToFloat32(new Uint16Array([0x3c00, 0xc000])); // Float32Array [1, -2]
 * ```
 */
export function halfBitsToFloat32(bits: Uint16Array): Float32Array {
  const out = new Float32Array(bits.length);
  const table = halfTable();
  for (let i = 0; i < bits.length; i++) out[i] = table[bits[i]!]!;
  return out;
}

let halfTableCache: Float32Array | undefined;
function halfTable(): Float32Array {
  if (!halfTableCache) {
    halfTableCache = new Float32Array(65536);
    for (let i = 0; i < 65536; i++) halfTableCache[i] = halfToFloat(i);
  }
  return halfTableCache;
}

/**
 * Widens raw bfloat16 bits to float32 (exact: bfloat16 is the top half of a float32).
 *
 * @example
 * ```ts
 * bf16BitsToFloat32(new Uint16Array([0x3f80])); // Float32Array [1]
 * ```
 */
export function bf16BitsToFloat32(bits: Uint16Array): Float32Array {
  const out = new Float32Array(bits.length);
  const u = new Uint32Array(out.buffer);
  for (let i = 0; i < bits.length; i++) u[i] = bits[i]! << 16;
  return out;
}

/**
 * Narrows float32 values to float16 bits (round to nearest even).
 *
 * @example
 * ```ts
 * float32ToHalfBits(new Float32Array([1])); // Uint16Array [0x3c00]
 * ```
 */
export function float32ToHalfBits(values: ArrayLike<number>): Uint16Array {
  const out = new Uint16Array(values.length);
  for (let i = 0; i < values.length; i++) out[i] = floatToHalf(values[i]!);
  return out;
}
