import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadExpectedTable, readManifest } from '../testing/index.js';
import { readCheckpoint } from './checkpoint.js';
import { writeTfjsWeights } from './tfjs-weights-write.js';
import { floatToHalf, halfToFloat } from './dtype.js';

// readCheckpoint is the one entry point the CLI and the model loaders use: every file of the checkpoint-formats
// fixture must be detected and read through it to the names its expected.json lists (values are checked in
// detail by the format readers' own parity tests).
const m = readManifest('checkpoint-formats');
const expectedFormat: Record<string, string> = { safetensors: 'safetensors', ckpt: 'zip', pt: 'zip', bin: 'zip', pkl: 'pickle' };
const cases: { key: string; expectedKey: string; table: string; root?: string }[] = [
  { key: 'sd_safetensors', expectedKey: 'sd_expected', table: 'files.safetensors.tensors' },
  { key: 'sd_ckpt', expectedKey: 'sd_expected', table: 'files.ckpt.tensors', root: 'state_dict' },
  { key: 'unet_fp16', expectedKey: 'unet_fp16_expected', table: 'tensors' },
  { key: 'unet_bin', expectedKey: 'unet_bin_expected', table: 'tensors' },
  { key: 'legacy', expectedKey: 'legacy_expected', table: 'tensors' },
  { key: 'nvlabs_pkl', expectedKey: 'nvlabs_pkl_expected', table: 'tensors', root: 'G_ema' },
  { key: 'openai_clip_state', expectedKey: 'openai_clip_state_expected', table: 'tensors' },
];
const tmp: string[] = [];
afterAll(async () => {
  for (const d of tmp) await rm(d, { recursive: true, force: true });
});

describe(`${m.id}: readCheckpoint detects and reads every container`, () => {
  for (const c of cases) {
    it(`${m.id} ${c.key}`, async () => {
      const path = m.files[c.key]!;
      const ck = await readCheckpoint(path, c.root ? { root: c.root } : {});
      const ext = path.split('.').pop()!;
      if (c.key !== 'legacy') expect(ck.format).toBe(expectedFormat[ext]);
      else expect(ck.format).toBe('legacy');
      const { table } = loadExpectedTable(m, c.expectedKey, c.table);
      const names = [...ck.tensors.keys()].sort();
      expect(names).toEqual(Object.keys(table).sort());
    });
  }

  it(`${m.id}: converting to tfjs weights and reading back keeps every float32 value (fp16: to half precision)`, async () => {
    const src = await readCheckpoint(m.files['unet_bin']!);
    const dir = await mkdtemp(join(tmpdir(), 'semedit-convert-'));
    tmp.push(dir);
    for (const float16 of [false, true]) {
      const out = join(dir, float16 ? 'f16' : 'f32');
      await writeTfjsWeights(out, src.tensors, { float16, shardBytes: 256 * 1024 });
      const back = await readCheckpoint(out);
      expect(back.format).toBe('tfjs');
      expect([...back.tensors.keys()].sort()).toEqual([...src.tensors.keys()].sort());
      for (const [name, t] of src.tensors) {
        const b = back.tensors.get(name)!;
        expect(b.shape).toEqual(t.shape);
        const a = t.data as Float32Array;
        const d = b.data as Float32Array;
        for (let i = 0; i < a.length; i++) {
          // the closed form of float16 storage: round to the nearest half, then widen
          const want = float16 ? halfToFloat(floatToHalf(a[i]!)) : a[i]!;
          if (d[i] !== want) throw new Error(`${name}[${i}]: ${d[i]} != ${want}`);
        }
      }
    }
  });
});
