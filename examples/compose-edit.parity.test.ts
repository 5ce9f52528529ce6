import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readPng } from '@semedit/core/image';
import { assembleSdFolder, readManifest } from '@semedit/core/testing';
import { composeEdit } from './compose-edit.js';

const m = readManifest('p2p-tiny');
const params = JSON.parse(await readFile(m.files['params']!, 'utf8')) as {
  height: number; width: number; scheduler: { cls: string } & Record<string, unknown>; cases: Record<string, { prompts: string[] }>;
};
const [src, dst] = params.cases['replace']!.prompts as [string, string];
let dir = '';
let folder = '';
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'semedit-example-compose-'));
  const { cls, ...rest } = params.scheduler;
  folder = await assembleSdFolder(m, join(dir, 'sd'), { _class_name: cls, ...rest });
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe(`examples/compose-edit (${m.id})`, () => {
  it(`${m.id}: writes the source and edited rows, with SEGA acting after its warm-up`, async () => {
    const steps = 4;
    const s = await composeEdit(folder, src, dst, 'a smiling face', join(dir, 'out'), { steps, height: params.height, width: params.width });
    expect(s.prompts).toEqual([src, dst]);
    expect(s.size).toEqual([params.height, params.width]);
    expect(s.phases).toHaveLength(steps);
    expect(new Set(s.phases).size).toBeGreaterThan(1); // warm-up, then the concept acts
    const png = await readPng(s.grid);
    expect(png.width).toBeGreaterThanOrEqual(2 * params.width);
  });
});
