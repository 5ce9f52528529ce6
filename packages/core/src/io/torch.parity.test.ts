import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { halfToFloat } from './dtype.js';
import {
  compareTensorsToExpected, readJsonPath, tolerancesFromChecks, type ExpectedTensorTable,
} from '../testing/expected-json.js';
import { readManifest } from '../fixtures/manifest.js';
import { PickleObject } from './pickle.js';
import { readTorchCheckpoint, type TorchCheckpoint } from './torch.js';
import { torchScriptConstants } from './torch-flatten.js';
import { materializeTensors } from './torch-tensors.js';
import type { RawTensor } from './types.js';

const m = readManifest('checkpoint-formats');

/** One expected tensor table and how to select the matching tensors from our reader. */
interface Case {
  /** Key of the checkpoint in `m.files`. */
  file: string;
  /** Key of its expected.json in `m.files`. */
  expected: string;
  /** JSON path of the table inside the expected.json (the `output` of the manifest's name-set check). */
  table: string;
  /** Sub-tree of the checkpoint holding these tensors. */
  root?: string;
  /** The table lists TorchScript constants.pkl tensors. */
  constants?: boolean;
}

const CASES: Case[] = [
  { file: 'sd_ckpt', expected: 'sd_expected', table: 'files.ckpt.tensors', root: 'state_dict' },
  { file: 'legacy', expected: 'legacy_expected', table: 'tensors' },
  { file: 'nvlabs_pkl', expected: 'nvlabs_pkl_expected', table: 'tensors', root: 'G_ema' },
  { file: 'nvlabs_pkl', expected: 'nvlabs_pkl_expected', table: 'other_modules.G', root: 'G' },
  { file: 'nvlabs_pkl', expected: 'nvlabs_pkl_expected', table: 'other_modules.D', root: 'D' },
  { file: 'rosinality_pt', expected: 'rosinality_pt_expected', table: 'tensors' },
  { file: 'styleclip_mapper_pt', expected: 'styleclip_mapper_pt_expected', table: 'tensors', root: 'state_dict' },
  { file: 'openai_clip_jit', expected: 'openai_clip_jit_expected', table: 'tensors' },
  { file: 'openai_clip_jit', expected: 'openai_clip_jit_expected', table: 'constants', constants: true },
  { file: 'openai_clip_state', expected: 'openai_clip_state_expected', table: 'tensors' },
  { file: 'unet_bin', expected: 'unet_bin_expected', table: 'tensors' },
];

const path = (key: string): string => m.files[key] ?? expect.fail(`manifest ${m.id} has no file "${key}"`);
const expectedJson = (key: string): Record<string, unknown> => JSON.parse(readFileSync(path(key), 'utf8')) as Record<string, unknown>;

async function withCheckpoint<T>(key: string, fn: (c: TorchCheckpoint) => Promise<T>): Promise<T> {
  const c = await readTorchCheckpoint(path(key));
  try {
    return await fn(c);
  } finally {
    await c.close();
  }
}

async function readCase(c: TorchCheckpoint, k: Case, widen: boolean): Promise<Map<string, RawTensor>> {
  if (k.constants) return materializeTensors(torchScriptConstants(c.constants), { widen });
  return c.tensors({ widen, root: k.root });
}

const bf16 = (b: number): number => new Float32Array(new Uint32Array([b << 16]).buffer)[0]!;

/** Python-side view of an unpickled value: dicts and inert objects' state as plain objects. */
function toPlain(v: unknown): unknown {
  if (v instanceof Map) return Object.fromEntries([...v].map(([k, x]) => [String(k), toPlain(x)]));
  if (v instanceof PickleObject) return toPlain(v.items ?? v.state);
  if (Array.isArray(v)) return v.map(toPlain);
  return v;
}

describe(`${m.id}: PyTorch checkpoints read without Python`, () => {
  it('covers every torch tensor table the manifest checks', () => {
    const torchExpected = new Set(CASES.map((k) => k.expected));
    const tables = m.checks
      .filter((c) => torchExpected.has(c.file) && !c.output.includes('*') && c.output !== 'ldm_to_diffusers_all')
      .filter((c) => !(c.file === 'sd_expected' && c.output.startsWith('files.safetensors')))
      .map((c) => `${c.file}:${c.output}`);
    expect(new Set(tables)).toEqual(new Set(CASES.map((k) => `${k.expected}:${k.table}`)));
  });

  it.each(CASES.map((k) => [`${k.file} ${k.table}`, k] as const))('%s: names, dtypes, shapes, sums, first4, views', async (_n, k) => {
    const table = readJsonPath(expectedJson(k.expected), k.table) as ExpectedTensorTable;
    const tol = tolerancesFromChecks(m.checks, k.expected, k.table);
    const got = await withCheckpoint(k.file, (c) => readCase(c, k, false));
    expect(compareTensorsToExpected(got, table, tol)).toEqual([]);
  });

  it.each(CASES.map((k) => [`${k.file} ${k.table}`, k] as const))('%s: default read widens float16 exactly', async (_n, k) => {
    const [raw, wide] = await withCheckpoint(k.file, async (c) => [await readCase(c, k, false), await readCase(c, k, true)]);
    for (const [name, r] of raw) {
      const w = wide.get(name)!;
      if (r.dtype !== 'float16' && r.dtype !== 'bfloat16') {
        expect(w.dtype).toBe(r.dtype);
        continue;
      }
      expect(w.dtype).toBe('float32');
      expect(w.shape).toEqual(r.shape);
      const bits = r.data as Uint16Array;
      const f = w.data as Float32Array;
      let differ = 0;
      for (let i = 0; i < bits.length; i++) if (!Object.is(f[i], r.dtype === 'float16' ? halfToFloat(bits[i]!) : bf16(bits[i]!))) differ++;
      expect(differ, name).toBe(0);
    }
  });

  it('detects each container kind as the expected.json describes it', async () => {
    for (const k of new Set(CASES.map((c) => c.file))) {
      const exp = CASES.find((c) => c.file === k)!.expected;
      const fmt = readJsonPath(expectedJson(exp), k === 'sd_ckpt' ? 'files.ckpt.format' : 'format') as Record<string, unknown>;
      const container = String(fmt['container']);
      const records = (fmt['zip_records'] ?? []) as string[];
      const want = container === 'plain pickle' ? 'pickle' : container.startsWith('legacy') ? 'legacy'
        : records.some((r) => r.endsWith('/constants.pkl')) ? 'torchscript' : 'zip';
      expect(await withCheckpoint(k, async (c) => c.format), k).toBe(want);
    }
  });

  it('legacy-torchsave.pt: views share storages as saved', async () => {
    const exp = expectedJson('legacy_expected');
    await withCheckpoint('legacy', async (c) => {
      const refs = c.tensorRefs();
      expect(new Set([...refs.values()].map((t) => t.storage)).size).toBe(exp['storage_count']);
      for (const pair of Object.keys(exp['shared_storages'] as object).filter((p) => p.includes('/'))) {
        const [a, b] = pair.split('/') as [string, string];
        expect(refs.get(a)!.storage).toBe(refs.get(b)!.storage);
      }
    });
  });

  it('keeps the non-tensor data of the save dicts', async () => {
    const ros = expectedJson('rosinality_pt_expected');
    await withCheckpoint('rosinality_pt', async (c) => {
      const top = c.object as Map<string, unknown>;
      expect([...top.keys()]).toEqual(ros['top_level_keys']);
      const args = top.get('args') as PickleObject;
      expect(args.qualifiedName).toBe('argparse.Namespace');
      expect(toPlain(args)).toEqual(ros['args']);
      expect(top.get('ada_aug_p')).toBe(ros['ada_aug_p']);
    });
    const clip = expectedJson('styleclip_mapper_pt_expected');
    await withCheckpoint('styleclip_mapper_pt', async (c) => {
      expect(toPlain((c.object as Map<string, unknown>).get('opts'))).toEqual(clip['opts']);
    });
    const sd = readJsonPath(expectedJson('sd_expected'), 'files.ckpt.top_level') as Record<string, unknown>;
    await withCheckpoint('sd_ckpt', async (c) => {
      const top = c.object as Map<string, unknown>;
      expect(new Set(top.keys())).toEqual(new Set(Object.keys(sd)));
      for (const key of ['epoch', 'global_step', 'pytorch-lightning_version']) expect(top.get(key), key).toBe(sd[key]);
    });
  });

  it('nvlabs-generator.pkl: persistent-class records stay inert data', async () => {
    const nv = expectedJson('nvlabs_pkl_expected');
    await withCheckpoint('nvlabs_pkl', async (c) => {
      const top = c.object as Map<string, unknown>;
      expect([...top.keys()]).toEqual(nv['top_level_keys']);
      expect(toPlain(top.get('training_set_kwargs'))).toEqual(nv['training_set_kwargs']);
      expect(top.get('augment_pipe')).toBe(nv['augment_pipe']);
      const g = top.get('G_ema') as PickleObject;
      expect(g.qualifiedName).toBe('torch_utils.persistence._reconstruct_persistent_obj');
      const meta = g.args[0] as Map<string, unknown>;
      expect(meta.get('class_name')).toBe('Generator');
      expect(typeof meta.get('module_src')).toBe('string');
      const state = meta.get('state') as Map<string, unknown>;
      expect(toPlain(state.get('_init_kwargs'))).toEqual(nv['G_kwargs']);
    });
  });
});
