/**
 * `semedit edit` in-process on a diffusers folder assembled from p2p-tiny's components: a word swap and a SEGA
 * concept in one run; files, report, what changed; errors before loading.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OptionError } from '@semedit/core';
import { readPng } from '@semedit/core/image';
import { assembleSdFolder, captureOutput, readManifest } from '@semedit/core/testing';
import { editCommand, type EditReport } from './edit.js';

const m = readManifest('p2p-tiny');
const params = JSON.parse(await readFile(m.files['params']!, 'utf8')) as {
  height: number; width: number; guidance_scale: number; scheduler: { cls: string } & Record<string, unknown>; cases: Record<string, { prompts: string[] }>;
};
const [src, dst] = params.cases['replace']!.prompts as [string, string];
let dir = '';
let folder = '';
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'semedit-cli-edit-'));
  const { cls, ...rest } = params.scheduler;
  folder = await assembleSdFolder(m, join(dir, 'sd'), { _class_name: cls, ...rest });
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const quiet = captureOutput;

/** Mean absolute difference of two PNGs' pixels (0-255). */
async function pixelDiff(a: string, b: string): Promise<number> {
  const [x, y] = [await readPng(a), await readPng(b)];
  let s = 0;
  for (let i = 0; i < x.data.length; i++) s += Math.abs(x.data[i]! - y.data[i]!);
  return s / x.data.length;
}

describe(`semedit edit (${m.id})`, () => {
  it(`${m.id}: a word swap and a SEGA concept in one run write the edits, the comparison and the settings`, async () => {
    const out = join(dir, 'run');
    const steps = 3;
    const { value, out: stdout, err } = await quiet(() => editCommand.run([
      '--model', folder, '--prompt', src, '--target', dst, '--add', 'a smiling face', '--warmup', '0', '--threshold', '0.5',
      '--cfg', String(params.guidance_scale), '--steps', String(steps), '--seed', '7', '--height', String(params.height), '--width', String(params.width), '--out', out, '--json',
    ]));
    expect(value).toBe(0);
    expect(err).toMatch(/unedited \+ edit/); // progress
    const report = JSON.parse(stdout) as EditReport;
    expect(report).toMatchObject({ prompts: [src, dst], steps, seed: 7, size: [params.height, params.width], guidanceScale: params.guidance_scale });
    expect(report.p2p?.mode).toBe('replace');
    expect(report.sega?.concepts).toEqual([expect.objectContaining({ prompt: 'a smiling face', direction: 'add', warmup: 0, threshold: 0.5 })]);
    expect(JSON.parse(await readFile(report.files.settings, 'utf8'))).toEqual(report);
    for (const f of [report.files.unedited, ...report.files.edited]) {
      const png = await readPng(f);
      expect([png.height, png.width]).toEqual([params.height, params.width]);
    }
    expect((await readPng(report.files.comparison)).width).toBeGreaterThan(3 * params.width); // unedited | source+SEGA | target+SEGA
    expect(await pixelDiff(report.files.unedited, report.files.edited[0]!)).toBeGreaterThan(0); // SEGA acted on the source row
    expect(await pixelDiff(report.files.edited[0]!, report.files.edited[1]!)).toBeGreaterThan(0); // the swap acted
  });

  it('refuses a run with no edit, and edit settings without their edit, before loading the model', async () => {
    const base = ['--model', join(dir, 'no-such-model'), '--prompt', src, '--steps', '2', '--out', join(dir, 'bad')];
    const err = async (args: string[]) => editCommand.run([...base, ...args]).then(() => undefined, (e: unknown) => e as OptionError);
    expect((await err([]))?.option).toBe('target');
    expect((await err(['--blend', src.split(' ')[1]!]))?.option).toBe('blend');
    expect((await err(['--target', dst, '--threshold', '0.5']))?.option).toBe('threshold');
    expect((await err(['--add', 'snow']))?.option).toBe('warmup'); // the default warm-up never starts in 2 steps
    expect((await err(['--target', dst, '--cross', '2']))?.option).toBe('cross');
    expect(await err(['--target', dst, '--bogus'])).toBeInstanceOf(OptionError);
  });
});
