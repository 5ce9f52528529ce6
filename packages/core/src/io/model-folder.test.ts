/**
 * Reading diffusers model folders written to a temporary directory: file preference (safetensors, then .bin),
 * variants, sharded indexes, and the errors for missing or inconsistent files.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { CheckpointFormatError } from '../errors.js';
import { writeSafetensors } from './safetensors-write.js';
import { modelFolderFiles, readModelFolder, weightsCandidates, WEIGHTS_NAMES } from './model-folder.js';

const root = mkdtempSync(join(tmpdir(), 'semedit-folder-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const t = (v: number) => ({ dtype: 'float32' as const, shape: [1], data: new Float32Array([v]) });

async function folder(name: string, files: Record<string, Record<string, number> | string>, config = '{"_class_name":"X"}'): Promise<string> {
  const dir = join(root, name);
  mkdirSync(dir);
  if (config) writeFileSync(join(dir, 'config.json'), config);
  for (const [file, content] of Object.entries(files)) {
    if (typeof content === 'string') writeFileSync(join(dir, file), content);
    else await writeSafetensors(join(dir, file), new Map(Object.entries(content).map(([k, v]) => [k, t(v)])));
  }
  return dir;
}

describe('readModelFolder', () => {
  it('reads config.json and prefers the safetensors file; a variant picks its own file', async () => {
    const dir = await folder('pref', {
      'diffusion_pytorch_model.safetensors': { a: 1 },
      'diffusion_pytorch_model.fp16.safetensors': { a: 2 },
    });
    const plain = await readModelFolder(dir);
    expect([plain.config['_class_name'], (plain.weights.get('a')!.data as Float32Array)[0], plain.weightsFiles]).toEqual(['X', 1, [join(dir, 'diffusion_pytorch_model.safetensors')]]);
    const fp16 = await readModelFolder(dir, { variant: 'fp16' });
    expect((fp16.weights.get('a')!.data as Float32Array)[0]).toBe(2);
    expect(weightsCandidates(dir, { variant: 'fp16' })[0]).toBe(join(dir, 'diffusion_pytorch_model.fp16.safetensors'));
  });

  it('merges the shards of an index', async () => {
    const dir = await folder('sharded', {
      'diffusion_pytorch_model-00001-of-00002.safetensors': { a: 1 },
      'diffusion_pytorch_model-00002-of-00002.safetensors': { b: 2 },
      'diffusion_pytorch_model.safetensors.index.json': JSON.stringify({ weight_map: { a: 'diffusion_pytorch_model-00001-of-00002.safetensors', b: 'diffusion_pytorch_model-00002-of-00002.safetensors' } }),
    });
    const f = await readModelFolder(dir);
    expect([...f.weights.keys()].sort()).toEqual(['a', 'b']);
    expect(f.weightsFiles).toHaveLength(2);
  });

  it('names what is missing or inconsistent', async () => {
    const noConfig = await folder('noconfig', { 'diffusion_pytorch_model.safetensors': { a: 1 } }, '');
    await expect(readModelFolder(noConfig)).rejects.toThrow(/no config\.json/);
    const noWeights = await folder('noweights', {});
    await expect(readModelFolder(noWeights)).rejects.toThrow(CheckpointFormatError);
    await expect(readModelFolder(noWeights, { variant: 'fp16' })).rejects.toThrow(/diffusion_pytorch_model\.fp16\.safetensors, .*diffusion_pytorch_model\.fp16\.bin/);
    const missingShard = await folder('missingshard', { 'diffusion_pytorch_model.safetensors.index.json': JSON.stringify({ weight_map: { a: 'gone.safetensors' } }) });
    await expect(readModelFolder(missingShard)).rejects.toThrow(/gone\.safetensors/);
    const dup = await folder('dup', {
      's1.safetensors': { a: 1 }, 's2.safetensors': { a: 2 },
      'diffusion_pytorch_model.safetensors.index.json': JSON.stringify({ weight_map: { a: 's1.safetensors', b: 's2.safetensors' } }),
    });
    await expect(readModelFolder(dup)).rejects.toThrow(/"a" appears in two shards/);
    const badJson = await folder('badjson', { 'diffusion_pytorch_model.safetensors': { a: 1 } }, '{nope');
    await expect(readModelFolder(badJson)).rejects.toThrow(/config\.json: not JSON/);
    const unmapped = await folder('unmapped', {
      's1.safetensors': { a: 1 },
      'diffusion_pytorch_model.safetensors.index.json': JSON.stringify({ weight_map: { a: 's1.safetensors', b: 's1.safetensors' } }),
    });
    await expect(readModelFolder(unmapped)).rejects.toThrow(/"b" is mapped to s1\.safetensors by the index but is not in it/);
    const escape = await folder('escape', { 'diffusion_pytorch_model.safetensors.index.json': JSON.stringify({ weight_map: { a: '../noconfig/diffusion_pytorch_model.safetensors' } }) });
    expect(() => modelFolderFiles(escape)).toThrow(/weight_map\["a"\] is not a shard file name in the folder/);
  });

  it('finds transformers names (model.safetensors, pytorch_model.bin) and lists files without reading a tensor', async () => {
    const dir = await folder('transformers', { 'model.safetensors': { w: 3 }, 'diffusion_pytorch_model.safetensors': { x: 1 } });
    const files = modelFolderFiles(dir, { names: WEIGHTS_NAMES.transformers });
    expect(files.weightsFiles).toEqual([join(dir, 'model.safetensors')]);
    expect(modelFolderFiles(dir).weightsFiles).toEqual([join(dir, 'diffusion_pytorch_model.safetensors')]);
    const f = await readModelFolder(dir, { names: WEIGHTS_NAMES.transformers });
    expect([...f.weights.keys()]).toEqual(['w']);
    expect(weightsCandidates(dir, { names: WEIGHTS_NAMES.transformers, variant: 'fp16' }).map((c) => c.slice(dir.length + 1)))
      .toEqual(['model.fp16.safetensors', 'model.fp16.safetensors.index.json', 'pytorch_model.fp16.bin', 'pytorch_model.fp16.bin.index.json']);
  });
});
