/**
 * Writer of the TensorFlow.js weights format (`model.json` + `group1-shard{i}of{n}.bin`), readable by
 * `tf.io.decodeWeights` / `tf.io.loadWeights` and by `readTfjsWeights`. tfjs weights are float32, int32 or
 * bool, so: float16/bfloat16 are widened to float32 (exact), float64 is narrowed to float32 (tfjs has no
 * float64), int8/int16/uint8 are widened to int32, int64 is stored as int32 after checking every value fits,
 * and bool is stored as bytes 0/1. With `float16: true` every floating tensor is stored as tfjs float16
 * quantization (`{dtype: 'float16', original_dtype: 'float32'}`; a finite value beyond the float16 range is an
 * error, never a silent infinity; float64 values round through float32 first).
 * @module
 */
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { OptionError } from '../errors.js';
import { bf16BitsToFloat32, float32ToHalfBits, halfBitsToFloat32 } from './dtype.js';
import { writeFileAtomic } from './file-source.js';
import { checkTensor, leBytes, tensorEntries, type CheckedTensor, type TensorSet } from './tensor-input.js';
import type { TfjsModelJson, TfjsWeightSpec } from './tfjs-weights.js';

/**
 * Default shard size, 4 MiB, as tfjs' converter uses.
 *
 * @example
 * ```ts
 * TFJS_DEFAULT_SHARD_BYTES; // 4194304
 * ```
 */
export const TFJS_DEFAULT_SHARD_BYTES = 4 * 1024 * 1024;

/**
 * Options of {@link writeTfjsWeights} and {@link encodeTfjsWeights}.
 *
 * @example
 * ```ts
 * const opts: TfjsWriteOptions = { float16: true, shardBytes: 8 << 20, modelName: 'vae' };
 * ```
 */
export interface TfjsWriteOptions {
  /** Store floating tensors as float16 quantization (half the size). Default false. */
  float16?: boolean;
  /** Bytes per shard file (the last one may be shorter). Default 4 MiB. */
  shardBytes?: number;
  /** Recorded as `userDefinedMetadata.modelName` in model.json. */
  modelName?: string;
}

/** tfjs float16 quantization entry; `original_dtype` is what tfjs' Python converter records (tfjs-core ignores it). */
const HALF = { dtype: 'float16', original_dtype: 'float32' } as const;

interface Encoded {
  spec: TfjsWeightSpec;
  bytes: Uint8Array;
}

function toHalf(t: CheckedTensor, values: ArrayLike<number>): Uint16Array {
  const bits = float32ToHalfBits(values);
  for (let i = 0; i < bits.length; i++) {
    if ((bits[i]! & 0x7fff) === 0x7c00 && Number.isFinite(values[i]!)) {
      throw new OptionError('float16', `tensor ${JSON.stringify(t.name)} value ${values[i]} at index ${i} overflows float16`);
    }
  }
  return bits;
}

function toInt32(t: CheckedTensor): Int32Array {
  if (!(t.data instanceof BigInt64Array)) return Int32Array.from(t.data as ArrayLike<number>);
  const out = new Int32Array(t.data.length);
  t.data.forEach((v, i) => {
    if (v < -2147483648n || v > 2147483647n) {
      throw new OptionError(`tensors[${JSON.stringify(t.name)}]`, `int64 value ${v} at index ${i} does not fit tfjs int32`);
    }
    out[i] = Number(v);
  });
  return out;
}

function encodeOne(t: CheckedTensor, float16: boolean): Encoded {
  const base = { name: t.name, shape: t.shape };
  switch (t.dtype) {
    case 'bool':
      return { spec: { ...base, dtype: 'bool' }, bytes: Uint8Array.from(t.data as Uint8Array, (v) => (v ? 1 : 0)) };
    case 'int64': case 'int32': case 'int16': case 'int8': case 'uint8':
      return { spec: { ...base, dtype: 'int32' }, bytes: leBytes(t.data instanceof Int32Array ? t.data : toInt32(t)) };
    default: {
      if (float16 && t.dtype === 'float16') return { spec: { ...base, dtype: 'float32', quantization: HALF }, bytes: leBytes(t.data) };
      const values =
        t.dtype === 'float16' ? halfBitsToFloat32(t.data as Uint16Array)
        : t.dtype === 'bfloat16' ? bf16BitsToFloat32(t.data as Uint16Array)
        : (t.data as Float32Array | Float64Array);
      if (float16) return { spec: { ...base, dtype: 'float32', quantization: HALF }, bytes: leBytes(toHalf(t, values)) };
      return { spec: { ...base, dtype: 'float32' }, bytes: leBytes(values instanceof Float32Array ? values : Float32Array.from(values)) };
    }
  }
}

function checkOptions(opts: TfjsWriteOptions): { float16: boolean; shardBytes: number } {
  const shardBytes = opts.shardBytes ?? TFJS_DEFAULT_SHARD_BYTES;
  if (!Number.isSafeInteger(shardBytes) || shardBytes <= 0) {
    throw new OptionError('shardBytes', `must be a positive integer, got ${opts.shardBytes}`);
  }
  if (opts.float16 !== undefined && typeof opts.float16 !== 'boolean') throw new OptionError('float16', 'must be a boolean');
  if (opts.modelName !== undefined && typeof opts.modelName !== 'string') throw new OptionError('modelName', 'must be a string');
  return { float16: opts.float16 ?? false, shardBytes };
}

/** Splits the concatenation of `parts` into shards of `shardBytes` (at least one shard, possibly empty). */
function* shardsOf(parts: Uint8Array[], total: number, shardBytes: number): Generator<Uint8Array> {
  const count = Math.max(1, Math.ceil(total / shardBytes));
  let part = 0;
  let within = 0;
  for (let s = 0; s < count; s++) {
    const shard = new Uint8Array(Math.min(shardBytes, total - s * shardBytes));
    let at = 0;
    while (at < shard.length) {
      const p = parts[part]!;
      const n = Math.min(p.length - within, shard.length - at);
      shard.set(p.subarray(within, within + n), at);
      at += n;
      within += n;
      if (within === p.length) [part, within] = [part + 1, 0];
    }
    yield shard;
  }
}

/**
 * Encodes tensors as tfjs weights in memory: the `model.json` object and the shard bytes (one group).
 *
 * @param tensors by name, written in their order
 * @param opts    `float16`, `shardBytes`, `modelName`
 * @example
 * ```ts
 * const { modelJson, shards } = encodeTfjsWeights({ w: { dtype: 'float32', shape: [2], data: new Float32Array(2) } });
 * modelJson.weightsManifest[0]!.paths; // ['group1-shard1of1.bin']
 * ```
 */
export function encodeTfjsWeights(tensors: TensorSet, opts: TfjsWriteOptions = {}): { modelJson: TfjsModelJson; shards: Uint8Array[] } {
  const { float16, shardBytes } = checkOptions(opts);
  const encoded = tensorEntries(tensors).map(([name, t]) => encodeOne(checkTensor(name, t), float16));
  const total = encoded.reduce((n, e) => n + e.bytes.length, 0);
  const shards = [...shardsOf(encoded.map((e) => e.bytes).filter((b) => b.length > 0), total, shardBytes)];
  const paths = shards.map((_, i) => `group1-shard${i + 1}of${shards.length}.bin`);
  const modelJson: TfjsModelJson = {
    format: 'semedit-weights',
    generatedBy: '@semedit/core',
    convertedBy: null,
    ...(opts.modelName !== undefined ? { userDefinedMetadata: { modelName: opts.modelName } } : {}),
    weightsManifest: [{ paths, weights: encoded.map((e) => e.spec) }],
  };
  return { modelJson, shards };
}

/**
 * Writes tensors in the tfjs weights format into `dir` (created if needed): the shards first, then
 * `model.json`, each atomically. Shards of an earlier write with other names are left in place (unused).
 *
 * @param dir     output folder
 * @param tensors by name, written in their order
 * @param opts    `float16`, `shardBytes` (default 4 MiB), `modelName`
 * @example
 * ```ts
 * await writeTfjsWeights('out/vae-tfjs', await readSafetensors('vae.safetensors'), { float16: true });
 * ```
 */
export async function writeTfjsWeights(
  dir: string,
  tensors: TensorSet,
  opts: TfjsWriteOptions = {},
): Promise<{ modelJson: string; shards: string[] }> {
  const { modelJson, shards } = encodeTfjsWeights(tensors, opts);
  await mkdir(dir, { recursive: true });
  const paths = modelJson.weightsManifest[0]!.paths.map((p) => join(dir, p));
  for (const [i, shard] of shards.entries()) await writeFileAtomic(paths[i]!, [shard]);
  const jsonPath = join(dir, 'model.json');
  await writeFileAtomic(jsonPath, [new TextEncoder().encode(JSON.stringify(modelJson, null, 1))]);
  return { modelJson: jsonPath, shards: paths };
}
