import { mkdir, mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { OptionError } from '@semedit/core';
import { readCheckpoint, writeSafetensors } from '@semedit/core/io';
import { commands } from './commands/index.js';
import { OutputPathError } from './outputs.js';

let dir = '';
let input = '';
const weights = {
  'conv.weight': { dtype: 'float32' as const, shape: [2, 1, 3, 3], data: Float32Array.from({ length: 18 }, (_, i) => i / 7 - 1) },
  'conv.bias': { dtype: 'float16' as const, shape: [2], data: new Uint16Array([0x3c00, 0xc000]) }, // 1, -2
  step: { dtype: 'int64' as const, shape: [], data: new BigInt64Array([42n]) },
};

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'semedit-cli-'));
  input = join(dir, 'in', 'model.safetensors');
  await mkdir(join(dir, 'in'));
  await writeSafetensors(input, weights);
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function run(name: string, argv: string[]): Promise<{ code: number; out: string }> {
  let out = '';
  const spy = vi.spyOn(process.stdout, 'write').mockImplementation((s: string | Uint8Array) => {
    out += String(s);
    return true;
  });
  const err = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
  try {
    return { code: await commands[name]!.run(argv), out };
  } finally {
    spy.mockRestore();
    err.mockRestore();
  }
}

describe('semedit convert', () => {
  it('writes tfjs weights that read back to the same values, and a JSON report', async () => {
    const before = (await stat(input)).mtimeMs;
    const out = join(dir, 'tfjs');
    const r = await run('convert', [input, out, '--json']);
    expect(r.code).toBe(0);
    const report = JSON.parse(r.out) as { tensors: number; format: string; float16: boolean; shards: string[] };
    expect(report).toMatchObject({ tensors: 3, format: 'safetensors', float16: false });
    const back = await readCheckpoint(out);
    expect(Array.from(back.tensors.get('conv.weight')!.data as Float32Array)).toEqual(Array.from(weights['conv.weight'].data));
    expect(Array.from(back.tensors.get('conv.bias')!.data as Float32Array)).toEqual([1, -2]);
    expect(back.tensors.get('step')!.dtype).toBe('int32');
    expect(Array.from(back.tensors.get('step')!.data as Int32Array)).toEqual([42]);
    expect((await stat(input)).mtimeMs).toBe(before); // the user's file is untouched
  });

  it('refuses to write into the checkpoint\'s own folder and rejects unknown options', async () => {
    await expect(run('convert', [input, join(dir, 'in')])).rejects.toThrow(OutputPathError);
    await expect(run('convert', [input, join(dir, 'x'), '--bogus'])).rejects.toThrow(/bogus/);
    await expect(run('convert', [input])).rejects.toThrow(OptionError);
    await expect(run('convert', [input, join(dir, 'y'), '--shard-mb', 'lots'])).rejects.toThrow(/shard-mb/);
  });
});

describe('semedit inspect', () => {
  it('lists names, stored dtypes and shapes as JSON', async () => {
    const r = await run('inspect', [input, '--json']);
    expect(r.code).toBe(0);
    const j = JSON.parse(r.out) as { format: string; tensors: { name: string; dtype: string; shape: number[] }[] };
    expect(j.format).toBe('safetensors');
    const byName = Object.fromEntries(j.tensors.map((t) => [t.name, t]));
    expect(byName['conv.bias']).toEqual({ name: 'conv.bias', dtype: 'float16', shape: [2] });
    expect(byName['step']).toEqual({ name: 'step', dtype: 'int64', shape: [] });
    expect(byName['conv.weight']!.shape).toEqual([2, 1, 3, 3]);
  });

  it('names the file when it is not a checkpoint', async () => {
    const bad = join(dir, 'in', 'notes.txt');
    await import('node:fs/promises').then((fs) => fs.writeFile(bad, 'hello'));
    await expect(run('inspect', [bad])).rejects.toThrow(/notes\.txt/);
    expect(await readFile(bad, 'utf8')).toBe('hello');
  });
});
