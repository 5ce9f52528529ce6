import '@tensorflow/tfjs-backend-cpu';
import * as tf from '@tensorflow/tfjs-core';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CheckpointFormatError, OptionError } from '../errors.js';
import { FileAccessError } from './file-source.js';
import { encodeTfjsWeights, writeTfjsWeights } from './tfjs-weights-write.js';
import { decodeTfjsWeights, readTfjsWeights, type TfjsModelJson } from './tfjs-weights.js';

let dir = '';
let n = 0;
const sub = () => join(dir, `m${n++}`);
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'semedit-tfjs-'));
  await tf.setBackend('cpu');
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** Every shard of group 0, concatenated, as tfjs' loader hands them to decodeWeights. */
async function groupBuffer(folder: string, mj: TfjsModelJson): Promise<ArrayBuffer> {
  const parts = await Promise.all(mj.weightsManifest[0]!.paths.map((p) => readFile(join(folder, p))));
  const all = new Uint8Array(parts.reduce((a, p) => a + p.length, 0));
  let at = 0;
  for (const p of parts) (all.set(p, at), (at += p.length));
  return all.buffer;
}

const sample = {
  f32: { dtype: 'float32' as const, shape: [2, 3], data: new Float32Array([1, -2.5, 0.1, 1e-8, 65504, NaN]) },
  f64: { dtype: 'float64' as const, shape: [2], data: new Float64Array([Math.PI, 1 / 3]) },
  f16: { dtype: 'float16' as const, shape: [2], data: new Uint16Array([0x3c00, 0x3555]) },
  bf16: { dtype: 'bfloat16' as const, shape: [1], data: new Uint16Array([0x4049]) },
  i64: { dtype: 'int64' as const, shape: [2], data: new BigInt64Array([-(2n ** 31n), 2n ** 31n - 1n]) },
  i16: { dtype: 'int16' as const, shape: [], data: new Int16Array([-300]) },
  u8: { dtype: 'uint8' as const, shape: [3], data: new Uint8Array([0, 128, 255]) },
  b: { dtype: 'bool' as const, shape: [3], data: new Uint8Array([1, 0, 7]) },
  empty: { dtype: 'float32' as const, shape: [0, 3], data: new Float32Array(0) },
};

/** What tfjs can represent, by the rules the writer documents (closed form). */
const expectedPlain = {
  f32: { dtype: 'float32', shape: [2, 3], data: new Float32Array([1, -2.5, 0.1, 1e-8, 65504, NaN]) },
  f64: { dtype: 'float32', shape: [2], data: new Float32Array([Math.fround(Math.PI), Math.fround(1 / 3)]) },
  f16: { dtype: 'float32', shape: [2], data: new Float32Array([1, 0.333251953125]) },
  bf16: { dtype: 'float32', shape: [1], data: new Float32Array([3.140625]) },
  i64: { dtype: 'int32', shape: [2], data: new Int32Array([-(2 ** 31), 2 ** 31 - 1]) },
  i16: { dtype: 'int32', shape: [], data: new Int32Array([-300]) },
  u8: { dtype: 'int32', shape: [3], data: new Int32Array([0, 128, 255]) },
  b: { dtype: 'bool', shape: [3], data: new Uint8Array([1, 0, 1]) },
  empty: { dtype: 'float32', shape: [0, 3], data: new Float32Array(0) },
};

describe('tfjs weights format', () => {
  it('round-trips every dtype with the documented conversions; writes the tfjs manifest shape', async () => {
    const folder = sub();
    const res = await writeTfjsWeights(folder, sample, { modelName: 'tiny' });
    const mj = JSON.parse(await readFile(res.modelJson, 'utf8')) as TfjsModelJson;
    expect(mj.userDefinedMetadata).toEqual({ modelName: 'tiny' });
    expect(mj.weightsManifest).toHaveLength(1);
    expect(mj.weightsManifest[0]!.paths).toEqual(['group1-shard1of1.bin']);
    expect(mj.weightsManifest[0]!.weights.map((w) => [w.name, w.dtype, w.shape])).toEqual(
      Object.entries(expectedPlain).map(([k, v]) => [k, v.dtype, v.shape]),
    );
    const got = await readTfjsWeights(folder);
    expect(Object.fromEntries(got)).toEqual(expectedPlain);
    expect(await readTfjsWeights(res.modelJson)).toEqual(got);
  });

  it('stores float16 quantization and reads back the half-rounded values', async () => {
    const folder = sub();
    await writeTfjsWeights(folder, { f32: sample.f32, f16: sample.f16, i: sample.i16 }, { float16: true });
    const mj = JSON.parse(await readFile(join(folder, 'model.json'), 'utf8')) as TfjsModelJson;
    const w = mj.weightsManifest[0]!.weights;
    expect(w[0]).toEqual({ name: 'f32', shape: [2, 3], dtype: 'float32', quantization: { dtype: 'float16', original_dtype: 'float32' } });
    expect(w[2]).toEqual({ name: 'i', shape: [], dtype: 'int32' });
    expect((await readFile(join(folder, 'group1-shard1of1.bin'))).length).toBe(6 * 2 + 2 * 2 + 4);
    const got = await readTfjsWeights(folder);
    // half(0.1) = 0x2e66 = 0.0999755859375; 1e-8 is below half the smallest subnormal (2^-25) so it rounds to 0.
    expect(got.get('f32')!.data).toEqual(new Float32Array([1, -2.5, 0.0999755859375, 0, 65504, NaN]));
    expect(got.get('f16')!.data).toEqual(new Float32Array([1, 0.333251953125]));
  });

  it('splits into group1-shardKofN.bin files; weights may span shards', async () => {
    const folder = sub();
    const { shards } = await writeTfjsWeights(folder, sample, { shardBytes: 7 });
    const total = 6 * 4 + 2 * 4 + 2 * 4 + 4 + 2 * 4 + 4 + 3 * 4 + 3;
    const count = Math.ceil(total / 7);
    expect(shards.map((s) => s.slice(folder.length + 1))).toEqual(
      Array.from({ length: count }, (_, i) => `group1-shard${i + 1}of${count}.bin`),
    );
    const sizes = await Promise.all(shards.map(async (s) => (await readFile(s)).length));
    expect(sizes).toEqual([...Array(count - 1).fill(7), total - 7 * (count - 1)]);
    expect(Object.fromEntries(await readTfjsWeights(folder))).toEqual(expectedPlain);
  });

  it('is read by tfjs-core decodeWeights exactly as we read it (plain, float16, sharded)', async () => {
    for (const opts of [{}, { float16: true }, { shardBytes: 5 }]) {
      const folder = sub();
      const res = await writeTfjsWeights(folder, sample, opts);
      const mj = JSON.parse(await readFile(res.modelJson, 'utf8')) as TfjsModelJson;
      const theirs = tf.io.decodeWeights(await groupBuffer(folder, mj), mj.weightsManifest[0]!.weights as tf.io.WeightsManifestEntry[]);
      const ours = await readTfjsWeights(folder);
      expect(Object.keys(theirs)).toEqual([...ours.keys()]);
      for (const [name, t] of ours) {
        const x = theirs[name]!;
        expect([name, x.dtype, x.shape]).toEqual([name, t.dtype, t.shape]);
        expect(x.dataSync()).toEqual(t.data);
      }
      tf.dispose(Object.values(theirs));
    }
  });

  it('reads what tfjs-core encodeWeights writes, and dequantizes uint8/uint16 like tfjs-core', async () => {
    const a = tf.tensor2d([[1, 2], [3, -4.5]]);
    const b = tf.tensor1d([7, -8], 'int32');
    const c = tf.tensor1d([true, false, true], 'bool');
    const { data, specs } = await tf.io.encodeWeights({ a, b, c });
    const q: tf.io.WeightsManifestEntry = { name: 'q', shape: [3], dtype: 'float32', quantization: { dtype: 'uint8', scale: 0.5, min: -1 } };
    const q16: tf.io.WeightsManifestEntry = { name: 'q16', shape: [2], dtype: 'int32', quantization: { dtype: 'uint16', scale: 0.3, min: 2 } };
    const extra = new Uint8Array([0, 3, 255, 5, 0, 0, 1]);
    const buf = new Uint8Array([...new Uint8Array(data as ArrayBuffer), ...extra]);
    const allSpecs = [...specs, q, q16];
    const folder = sub();
    await writeTfjsWeights(folder, {});
    await writeFile(join(folder, 'w.bin'), buf);
    await writeFile(join(folder, 'model.json'), JSON.stringify({ weightsManifest: [{ paths: ['w.bin'], weights: allSpecs }] }));
    const ours = await readTfjsWeights(folder);
    const theirs = tf.io.decodeWeights(buf.buffer, allSpecs);
    for (const [name, x] of Object.entries(theirs)) {
      expect([ours.get(name)!.dtype, ours.get(name)!.shape]).toEqual([x.dtype, x.shape]);
      expect(ours.get(name)!.data).toEqual(x.dataSync());
    }
    expect(ours.get('q')!.data).toEqual(new Float32Array([-1, 0.5, 126.5]));
    tf.dispose([a, b, c, ...Object.values(theirs)]);
  });
});

describe('tfjs weights validation', () => {
  const spec = { name: 'w', shape: [2], dtype: 'float32' };
  const shard = new Uint8Array(8);
  const decode = (manifest: unknown, shards: Record<string, Uint8Array> = { 's.bin': shard }) =>
    decodeTfjsWeights(manifest, (p) => shards[p], 'model.json');
  const group = (g: Record<string, unknown>) => ({ weightsManifest: [{ paths: ['s.bin'], weights: [spec], ...g }] });
  const bad = (manifest: unknown, re: RegExp, shards?: Record<string, Uint8Array>) => {
    expect(() => decode(manifest, shards)).toThrow(CheckpointFormatError);
    expect(() => decode(manifest, shards)).toThrow(re);
  };

  it('accepts a valid manifest', () => {
    expect(decode(group({})).get('w')!.data).toEqual(new Float32Array(2));
  });

  it('rejects malformed manifests', () => {
    bad([], /not a JSON object/);
    bad({}, /"weightsManifest" is missing/);
    bad({ weightsManifest: {} }, /not an array/);
    bad({ weightsManifest: [5] }, /weightsManifest\[0\] is not an object/);
    bad(group({ paths: 's.bin' }), /paths is not an array/);
    bad(group({ weights: null }), /weights is not an array/);
    bad(group({ paths: [''] }), /non-empty file name/);
    for (const p of ['../s.bin', '/etc/passwd', 'a/../../s.bin', 'C:\\x.bin', 'http://x/s.bin']) {
      bad(group({ paths: [p] }), /relative path inside the model folder/);
    }
    bad(group({ paths: [] }), /has weights but no shard paths/);
  });

  it('rejects malformed weight entries', () => {
    const w = (x: unknown) => group({ weights: [x] });
    bad(w(3), /weights\[0\]: is not an object/);
    bad(w({ shape: [2], dtype: 'float32' }), /"name" is missing/);
    bad(w({ name: 'w', dtype: 'float32' }), /"w": "shape" is missing/);
    bad(w({ name: 'w', shape: [-2], dtype: 'float32' }), /shape\[0\] = -2/);
    bad(w({ name: 'w', shape: [2 ** 40, 2 ** 40], dtype: 'float32' }), /larger than 2\^53/);
    for (const dt of ['string', 'complex64', 'float64', undefined]) bad(w({ ...spec, dtype: dt }), /unsupported dtype/);
    bad(w({ ...spec, quantization: { dtype: 'int4' } }), /unknown quantization dtype "int4"/);
    bad(w({ ...spec, dtype: 'int32', quantization: { dtype: 'float16' } }), /float16 quantization needs dtype float32/);
    bad(w({ ...spec, quantization: { dtype: 'uint8', scale: 1 } }), /needs a finite "min"/);
    bad(w({ ...spec, quantization: 'float16' }), /"quantization" is not an object/);
    bad({ weightsManifest: [{ paths: ['s.bin'], weights: [spec] }, { paths: ['s.bin'], weights: [spec] }] }, /"w" appears twice/);
  });

  it('rejects missing shards and shard sizes that do not match the weights', async () => {
    bad(group({}), /shard "s.bin" of weightsManifest\[0\] is missing/, {});
    bad(group({}), /shards hold 7 bytes \(s.bin: 7\) but its weights need 8/, { 's.bin': new Uint8Array(7) });
    bad(group({}), /hold 9 bytes/, { 's.bin': new Uint8Array(9) });
    const folder = sub();
    await writeTfjsWeights(folder, { w: { dtype: 'float32', shape: [4], data: new Float32Array(4) } }, { shardBytes: 8 });
    await writeFile(join(folder, 'group1-shard2of2.bin'), new Uint8Array(5));
    await expect(readTfjsWeights(folder)).rejects.toThrow(/shards hold 13 bytes but its weights need 16/);
    await rm(join(folder, 'group1-shard2of2.bin'));
    await expect(readTfjsWeights(folder)).rejects.toThrow(/shard file "group1-shard2of2.bin" of weightsManifest\[0\] is missing/);
    await writeFile(join(folder, 'model.json'), '{"weightsManifest": [');
    await expect(readTfjsWeights(folder)).rejects.toThrow(/not valid UTF-8 JSON/);
    await expect(readTfjsWeights(join(dir, 'nothing-here'))).rejects.toBeInstanceOf(FileAccessError);
  });

  it('rejects what tfjs cannot hold exactly, instead of truncating', () => {
    const big = { x: { dtype: 'int64' as const, shape: [1], data: new BigInt64Array([2n ** 31n]) } };
    expect(() => encodeTfjsWeights(big)).toThrow(/int64 value 2147483648 at index 0 does not fit tfjs int32/);
    const hot = { x: { dtype: 'float32' as const, shape: [2], data: new Float32Array([1, 70000]) } };
    expect(() => encodeTfjsWeights(hot, { float16: true })).toThrow(/value 70000 at index 1 overflows float16/);
    expect(() => encodeTfjsWeights({}, { shardBytes: 0 })).toThrow(OptionError);
    expect(encodeTfjsWeights({ x: { dtype: 'float32', shape: [1], data: new Float32Array([Infinity]) } }, { float16: true }).shards[0]).toEqual(
      new Uint8Array([0x00, 0x7c]),
    );
  });
});
