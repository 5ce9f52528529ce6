/**
 * `semedit styleclip` in-process on the tiny fixture models (stylegan2-nvlabs-tiny generator, clip-loss-tiny CLIP,
 * styleclip-global-tiny token rows): optimize, mapper-train (Ranger by default, --optim adam, resume) then
 * mapper-apply, and global, each writing PNGs of the generator's size and a JSON report; bad options are typed errors.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { OptionError } from '@semedit/core';
import { initBackend } from '@semedit/core/backend';
import { readPng } from '@semedit/core/image';
import { readCheckpoint, type RawTensor } from '@semedit/core/io';
import { readManifest } from '@semedit/core/testing';
import { createStyleclipCommand, type CliGenerator, type StyleclipReport } from './styleclip.js';

const genM = readManifest('stylegan2-nvlabs-tiny');
const clipM = readManifest('clip-loss-tiny');
const globalM = readManifest('styleclip-global-tiny');
const stylegan2Module = '@semedit/core/stylegan2';
const sg = (await import(stylegan2Module)) as { loadNvlabsGenerator(p: string, o: { kwargs: unknown }): Promise<CliGenerator> };
const genCfg = JSON.parse(await readFile(genM.files['config']!, 'utf8')) as { kwargs: unknown; img_resolution?: number };
const command = createStyleclipCommand({ loadGenerator: (p) => sg.loadNvlabsGenerator(p, { kwargs: genCfg.kwargs }) });

/** Token rows as `--*-ids` text: each row up to its last non-zero id. */
function ids(raw: RawTensor): string {
  const [b, l] = raw.shape as [number, number];
  const flat = Array.from(raw.data as Int32Array, Number);
  return Array.from({ length: b }, (_, i) => {
    const row = flat.slice(i * l, (i + 1) * l);
    let end = row.length;
    while (end > 0 && row[end - 1] === 0) end--;
    return row.slice(0, end).join(',');
  }).join(';');
}

async function run(argv: string[]): Promise<StyleclipReport> {
  let out = '';
  const o = vi.spyOn(process.stdout, 'write').mockImplementation((s: string | Uint8Array) => ((out += String(s)), true));
  const e = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
  try {
    expect(await command.run([...argv, '--json'])).toBe(0);
  } finally {
    o.mockRestore();
    e.mockRestore();
  }
  return JSON.parse(out) as StyleclipReport;
}

/** The generator's geometry, read from the model: W+ rows, w width, image size, style channels of its convs (global directions skip ToRGB). */
let geo = { numWs: 0, wDim: 0, size: 0, styleDim: 0 };
let dir = '';
let textIds = '';
let targetIds = '';
let neutralIds = '';
const base = () => ['--generator', genM.files['weights']!, '--clip', clipM.files['weights']!];
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'semedit-cli-styleclip-'));
  await initBackend();
  const G = (await sg.loadNvlabsGenerator(genM.files['weights']!, { kwargs: genCfg.kwargs })) as unknown as {
    numWs: number; styleLayers: readonly { kind: string; channels: number }[]; config: { wDim: number; imgResolution: number }; dispose(): void;
  };
  geo = { numWs: G.numWs, wDim: G.config.wDim, size: G.config.imgResolution, styleDim: G.styleLayers.filter((l) => l.kind === 'conv').reduce((a, l) => a + l.channels, 0) };
  G.dispose();
  const clipT = (await readCheckpoint(clipM.files['tensors']!)).tensors;
  textIds = ids(clipT.get('tokens')!).split(';')[0]!;
  const g = (await readCheckpoint(globalM.files['tensors']!)).tensors;
  targetIds = ids(g.get('tokens_target')!);
  neutralIds = ids(g.get('tokens_neutral')!);
});
afterAll(async () => rm(dir, { recursive: true, force: true }));

async function expectPng(path: string, size: number, cols = 1): Promise<void> {
  const png = await readPng(path);
  expect(png.height).toBeGreaterThanOrEqual(size);
  expect(png.width).toBeGreaterThanOrEqual(size * cols);
}

describe(`semedit styleclip (${genM.id} + ${clipM.id})`, () => {
  const size = () => geo.size;

  it(`${genM.id}: optimize writes before/after PNGs, the latent and one loss per step`, async () => {
    const out = join(dir, 'opt');
    const r = await run(['optimize', ...base(), '--text-ids', textIds, '--steps', '3', '--out', out]);
    expect(r.method).toBe('optimize');
    expect(r.losses).toHaveLength(3);
    expect(r.images.map((p) => p.split('/').at(-1))).toEqual(['before.png', 'after.png']);
    for (const p of r.images) await expectPng(p, size());
    const latent = (await readCheckpoint(r.files[0]!)).tensors.get('latent')!;
    expect(latent.shape).toEqual([1, geo.numWs, geo.wDim]);
  });

  it(`${genM.id}: mapper-train (SingleMapper, --optim adam) then mapper-apply; the settings are reported`, async () => {
    const out = join(dir, 'mapper');
    const ckpt = join(out, 'm.safetensors');
    const r = await run(['mapper-train', ...base(), '--text-ids', textIds, '--steps', '2', '--num-latents', '4', '--mapper-type', 'SingleMapper', '--optim', 'adam', '--checkpoint', ckpt, '--out', out]);
    expect(r.losses).toHaveLength(2);
    expect(r.files).toEqual([ckpt]);
    expect(r.settings).toEqual({ optimizer: 'adam', steps: 2, batchSize: 2, lr: 0.5, mapperType: 'SingleMapper', resumed: false });
    const saved = JSON.parse((await readCheckpoint(ckpt)).metadata['opts']!) as Record<string, unknown>;
    expect(saved['optim_name']).toBe('adam');
    const a = await run(['mapper-apply', '--generator', genM.files['weights']!, '--mapper', ckpt, '--images', '2', '--out', out]);
    expect(a.images).toHaveLength(2);
    for (const p of a.images) await expectPng(p, size(), 2);
  });

  it(`${genM.id}: mapper-train defaults to Ranger (LevelsMapper on the generator's W+); a resumed run keeps its optimizer; --optim is checked`, async () => {
    const out = join(dir, 'mapper-ranger');
    const ckpt = join(out, 'm.safetensors');
    const r = await run(['mapper-train', ...base(), '--text-ids', textIds, '--steps', '1', '--num-latents', '2', '--checkpoint', ckpt, '--out', out]);
    expect(r.settings).toMatchObject({ optimizer: 'ranger', mapperType: 'LevelsMapper', resumed: false });
    const tensors = (await readCheckpoint(ckpt)).tensors;
    expect([...tensors.keys()].some((k) => k.startsWith('optimizer.slow.'))).toBe(true);
    const resumed = await run(['mapper-train', ...base(), '--text-ids', textIds, '--steps', '2', '--num-latents', '2', '--optim', 'adam', '--resume', ckpt, '--checkpoint', join(out, 'b.safetensors'), '--out', out]);
    expect(resumed.settings).toMatchObject({ optimizer: 'ranger', resumed: true });
    expect(resumed.losses).toHaveLength(1);
    await expect(command.run(['mapper-train', ...base(), '--text-ids', textIds, '--optim', 'sgd', '--out', out])).rejects.toThrow(OptionError);
    await expect(command.run(['mapper-train', ...base(), '--text-ids', textIds, '--mapper-type', 'Other', '--out', out])).rejects.toThrow(/mapper-type/);
  });

  it(`${globalM.id}: global writes before/after and a strip over alpha, reporting the channels kept`, async () => {
    const out = join(dir, 'global');
    const r = await run([
      'global', ...base(), '--target-ids', targetIds, '--neutral-ids', neutralIds, '--num-stats', '16', '--num-images', '1',
      '--beta', '0', '--alphas=-4,0,4', '--cache', join(out, 'fs.cache'), '--out', out,
    ]);
    expect(r.numChannels).toBe(geo.styleDim); // beta 0 keeps every conv style channel
    expect(r.images.map((p) => p.split('/').at(-1))).toEqual(['before.png', 'after.png', 'strip.png']);
    await expectPng(r.images[2]!, size(), 3);
  });

  it('rejects an unknown method, unknown options and bad numbers with OptionError', async () => {
    await expect(command.run(['warp'])).rejects.toThrow(OptionError);
    await expect(command.run(['optimize', ...base(), '--bogus', '1'])).rejects.toThrow(OptionError);
    await expect(command.run(['optimize', ...base(), '--text-ids', 'a,b', '--out', join(dir, 'x')])).rejects.toThrow(/text-ids/);
  });
});
