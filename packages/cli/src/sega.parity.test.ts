import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { OptionError } from '@semedit/core';
import { readPng } from '@semedit/core/image';
import { assembleSdFolder, readManifest } from '@semedit/core/testing';
import { segaCommand, type SegaReport } from './commands/sega.js';

const m = readManifest('sega-tiny');
const params = JSON.parse(await readFile(m.files['params']!, 'utf8')) as {
  prompt: string; height: number; width: number; guidance_scale: number; editing_prompt: string[]; scheduler: { cls: string } & Record<string, unknown>;
};
let dir = '';
let folder = '';
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'semedit-cli-sega-'));
  const { cls, ...rest } = params.scheduler;
  folder = await assembleSdFolder(m, join(dir, 'sd'), { _class_name: cls, ...rest });
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function capture(fn: () => Promise<number>): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const o = vi.spyOn(process.stdout, 'write').mockImplementation((s: string | Uint8Array) => ((out += String(s)), true));
  const e = vi.spyOn(process.stderr, 'write').mockImplementation((s: string | Uint8Array) => ((err += String(s)), true));
  try {
    return { code: await fn(), out, err };
  } finally {
    o.mockRestore();
    e.mockRestore();
  }
}

describe(`semedit sega (${m.id})`, () => {
  it(`${m.id}: writes the edit, a side-by-side and the settings, concepts in --add/--remove order`, async () => {
    // The CLI gets two concepts of its own settings; their prompts are the fixture's (one prompt serves both when it has one).
    const prompts = params.editing_prompt as string[];
    const a = prompts[0]!, b = prompts[1] ?? prompts[0]!;
    const out = join(dir, 'o', 'edit.png');
    const r = await capture(() => segaCommand.run([
      '--model', folder, '--prompt', params.prompt, '--remove', b, '--add', a, '--scale', '4', '--scale', '6',
      '--threshold', '0.8', '--warmup', '1', '--warmup', '2', '--steps', '3', '--seed', '7', '--cfg', String(params.guidance_scale),
      '--height', String(params.height), '--width', String(params.width), '--out', out, '--json',
    ]));
    expect(r.code).toBe(0);
    const report = JSON.parse(r.out) as SegaReport;
    expect(report.concepts).toEqual([
      { prompt: b, direction: 'remove', scale: 4, threshold: 0.8, warmup: 1, cooldown: null, weight: 1 },
      { prompt: a, direction: 'add', scale: 6, threshold: 0.8, warmup: 2, cooldown: null, weight: 1 },
    ]);
    expect([report.steps, report.seed, report.guidanceScale]).toEqual([3, 7, params.guidance_scale]);
    expect(report.size).toEqual([params.height, params.width]);
    expect(report.outputs.compare).toBe(join(dir, 'o', 'edit.compare.png'));
    expect(JSON.parse(await readFile(report.outputs.settings, 'utf8'))).toEqual(report);
    const edited = await readPng(report.outputs.edited);
    expect([edited.height, edited.width]).toEqual([params.height, params.width]);
    const pair = await readPng(report.outputs.compare);
    expect(pair.width).toBeGreaterThan(2 * params.width);
    expect(r.err).toMatch(/unedited \+ SEGA/);
  });

  it('gives usage errors naming the option', async () => {
    const base = ['--model', folder, '--prompt', 'x', '--steps', '1', '--out', join(dir, 'e.png')];
    await expect(segaCommand.run(['--prompt', 'x', '--add', 'y'])).rejects.toThrow(/"model"/);
    await expect(segaCommand.run(['--model', folder, '--add', 'y'])).rejects.toThrow(/"prompt"/);
    await expect(segaCommand.run(base)).rejects.toThrow(/--add or --remove/);
    await expect(segaCommand.run([...base, '--add', 'a', '--add', 'b', '--scale', '1', '--scale', '2', '--scale', '3'])).rejects.toThrow(/"scale".*3 times for 2 concepts/);
    await expect(segaCommand.run([...base, '--add', 'a', '--warmup', '1.5'])).rejects.toThrow(/"warmup".*integer/);
    await expect(segaCommand.run([...base, '--add', 'a', '--cfg', '1'])).rejects.toThrow(/"cfg"/);
    await expect(segaCommand.run([...base, '--add', 'a', '--bogus'])).rejects.toThrow(OptionError);
    await expect(segaCommand.run([...base, '--add', 'a', 'extra'])).rejects.toThrow(/positional/);
  });
});
