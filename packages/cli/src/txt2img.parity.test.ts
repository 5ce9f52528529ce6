import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { OptionError } from '@semedit/core';
import { readPng } from '@semedit/core/image';
import { assembleSdFolder, readManifest } from '@semedit/core/testing';
import { txt2imgCommand, type Txt2ImgReport } from './commands/txt2img.js';

const m = readManifest('sega-tiny');
const params = JSON.parse(await readFile(m.files['params']!, 'utf8')) as { prompt: string; height: number; scheduler: { cls: string } & Record<string, unknown> };
let dir = '';
let folder = '';
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'semedit-cli-sd-'));
  const { cls, ...rest } = params.scheduler;
  folder = await assembleSdFolder(m, join(dir, 'sd'), { _class_name: cls, ...rest });
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe(`semedit txt2img (${m.id})`, () => {
  it(`${m.id}: writes a PNG of the UNet's size and a JSON report, and warns about an over-long prompt`, async () => {
    let out = '';
    let err = '';
    const o = vi.spyOn(process.stdout, 'write').mockImplementation((s: string | Uint8Array) => ((out += String(s)), true));
    const e = vi.spyOn(process.stderr, 'write').mockImplementation((s: string | Uint8Array) => ((err += String(s)), true));
    const long = Array.from({ length: 90 }, () => params.prompt).join(' ');
    try {
      const code = await txt2imgCommand.run([folder, '--prompt', long, '--steps', '3', '--out', join(dir, 'a.png'), '--json']);
      expect(code).toBe(0);
    } finally {
      o.mockRestore();
      e.mockRestore();
    }
    const report = JSON.parse(out) as Txt2ImgReport;
    expect(report.steps).toBe(3);
    expect(report.truncated[0]!.droppedTokens).toBeGreaterThan(0);
    expect(err).toMatch(/dropped \d+ tokens/);
    const png = await readPng(report.images[0]!);
    expect([png.height, png.width]).toEqual(report.size);
    expect(report.size[0]).toBe(params.height);
  });

  it(`${m.id}: --scheduler swaps the sampler on the folder's schedule (short names and class names; unknown names refused before loading)`, async () => {
    const run = async (name: string, file: string): Promise<Txt2ImgReport> => {
      let out = '';
      const o = vi.spyOn(process.stdout, 'write').mockImplementation((s: string | Uint8Array) => ((out += String(s)), true));
      const e = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
      try {
        expect(await txt2imgCommand.run([folder, '--prompt', params.prompt, '--steps', '2', '--scheduler', name, '--out', join(dir, file), '--json'])).toBe(0);
      } finally {
        o.mockRestore();
        e.mockRestore();
      }
      return JSON.parse(out) as Txt2ImgReport;
    };
    expect((await run('euler-a', 'ea.png')).scheduler).toBe('EulerAncestralDiscreteScheduler');
    expect((await run('HeunDiscreteScheduler', 'heun.png')).scheduler).toBe('HeunDiscreteScheduler');
    const plain = await run(params.scheduler.cls, 'plain.png');
    expect(plain.scheduler).toBe(params.scheduler.cls);
    const err = await txt2imgCommand.run([join(dir, 'no-such-folder'), '--prompt', 'x', '--scheduler', 'warp-drive']).catch((x: unknown) => x);
    expect(err).toBeInstanceOf(OptionError);
    expect((err as OptionError).option).toBe('scheduler');
    expect((err as Error).message).toMatch(/euler-a/);
  });

  it('rejects a missing prompt, bad numbers and --strict-length overflow with typed errors', async () => {
    await expect(txt2imgCommand.run([folder])).rejects.toThrow(OptionError);
    await expect(txt2imgCommand.run([folder, '--prompt', 'x', '--steps', 'ten'])).rejects.toThrow(/steps/);
    const long = Array.from({ length: 90 }, () => 'cat').join(' ');
    const e = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    try {
      await expect(txt2imgCommand.run([folder, '--prompt', long, '--steps', '1', '--strict-length', '--out', join(dir, 'b.png')])).rejects.toThrow(/tokens/);
    } finally {
      e.mockRestore();
    }
  });
});
