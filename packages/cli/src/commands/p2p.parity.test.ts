/**
 * `semedit p2p` in-process on a diffusers folder assembled from p2p-tiny's components: files, report, errors.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OptionError } from '@semedit/core';
import { readPng } from '@semedit/core/image';
import { assembleSdFolder, captureOutput, readManifest } from '@semedit/core/testing';
import { PromptEditError } from '@semedit/edit';
import { p2pCommand, type P2PReport } from './p2p.js';

const m = readManifest('p2p-tiny');
const params = JSON.parse(await readFile(m.files['params']!, 'utf8')) as {
  height: number; width: number; scheduler: { cls: string } & Record<string, unknown>; cases: Record<string, { prompts: string[] }>;
};
const [src, dst] = params.cases['replace']!.prompts as [string, string];
let dir = '';
let folder = '';
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'semedit-cli-p2p-'));
  const { cls, ...rest } = params.scheduler;
  folder = await assembleSdFolder(m, join(dir, 'sd'), { _class_name: cls, ...rest });
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const quiet = captureOutput;

describe(`semedit p2p (${m.id})`, () => {
  it(`${m.id}: word swap with a blend word and a chained weight writes images, maps, mask and settings`, async () => {
    const out = join(dir, 'run');
    const { value, out: stdout, err } = await quiet(() => p2pCommand.run([
      '--model', folder, '--prompt', src, '--target', dst, '--blend', src.split(' ')[1]!, '--blend', dst.split(' ')[1]!,
      '--weight', `${dst.split(' ')[1]}=2`, '--cross', '0.8', '--self', '0.4', '--steps', '3', '--seed', '7', '--height', String(params.height), '--width', String(params.width), '--out', out, '--json',
    ]));
    expect(value).toBe(0);
    expect(err).toMatch(/prompt-to-prompt/); // progress
    const report = JSON.parse(stdout) as P2PReport;
    expect(report).toMatchObject({ mode: 'replace', prompts: [src, dst], steps: 3, seed: 7, crossReplaceSteps: 0.8, selfReplaceSteps: 0.4, size: [params.height, params.width] });
    expect(JSON.parse(await readFile(report.files.settings, 'utf8'))).toEqual(report);
    for (const f of [report.files.source, ...report.files.targets]) {
      const png = await readPng(f);
      expect([png.height, png.width]).toEqual([params.height, params.width]);
    }
    const comparison = await readPng(report.files.comparison);
    expect(comparison.width).toBeGreaterThan(2 * params.width);
    expect(report.files.maps.length).toBe(2);
    // one labelled tile per token (BOS, words, EOS): the grid is wider than one tile
    expect((await readPng(report.files.maps[0]!)).width).toBeGreaterThan(128);
    expect(report.files.blendMask).toBeDefined();
    expect((await readPng(report.files.blendMask!)).channels).toBeGreaterThan(0);
  });

  it('refuses prompts that do not fit the mode, unknown words and out-of-range numbers before loading the model', async () => {
    const base = ['--model', folder, '--prompt', src, '--steps', '1', '--out', join(dir, 'bad')];
    await expect(p2pCommand.run([...base, '--target', `${dst} today`])).rejects.toThrow(PromptEditError);
    await expect(p2pCommand.run([...base, '--target', `${dst} today`])).rejects.toThrow(/--mode refine/);
    await expect(p2pCommand.run([...base, '--target', dst, '--weight', 'giraffe=2'])).rejects.toThrow(/"giraffe" is not in the prompt/);
    await expect(p2pCommand.run([...base, '--target', dst, '--weight', `${dst.split(' ')[1]}=11`])).rejects.toThrow(OptionError);
    await expect(p2pCommand.run([...base, '--target', dst, '--weight', 'nonsense'])).rejects.toThrow(/word=value/);
    await expect(p2pCommand.run([...base, '--target', dst, '--blend', 'giraffe'])).rejects.toThrow(/none of the prompts/);
    await expect(p2pCommand.run([...base, '--target', dst, '--cross', '1.5'])).rejects.toThrow(/cross/);
    await expect(p2pCommand.run([...base, '--target', dst, '--mode', 'swap'])).rejects.toThrow(/replace, refine, reweight/);
    await expect(p2pCommand.run([...base, '--mode', 'reweight'])).rejects.toThrow(/--weight/);
    await expect(p2pCommand.run([...base])).rejects.toThrow(/target/);
    await expect(p2pCommand.run(['--prompt', src, '--target', dst])).rejects.toThrow(/model/);
    await expect(p2pCommand.run([...base, '--target', dst, '--bogus'])).rejects.toThrow(OptionError);
  });
});
