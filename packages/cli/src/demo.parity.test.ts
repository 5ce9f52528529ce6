import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { readManifest } from '@semedit/core/testing';
import { BACKEND_NAMES } from '@semedit/core/backend';
import { readPng } from '@semedit/core/image';
import { demoCommand, type DemoReport } from './commands/demo.js';

const fixture = readManifest('unet-tiny');

describe(`semedit demo (${fixture.id})`, () => {
  it(`${fixture.id}: runs conv_in against the reference output and writes report.json and a picture`, async () => {
    const out = await mkdtemp(join(tmpdir(), 'semedit-demo-'));
    const spy = vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
    try {
      const code = await demoCommand.run(['--out', out, '--fixture', fixture.dir]);
      expect(code).toBe(0);
      const report = JSON.parse(await readFile(join(out, 'report.json'), 'utf8')) as DemoReport;
      const check = fixture.checks.find((c) => c.output === 'inter.conv_in')!;
      expect(report.fixture).toBe(fixture.id);
      expect(report.check).toMatchObject({ output: 'inter.conv_in', atol: check.atol, ok: true });
      expect(report.check.maxAbs).toBeLessThanOrEqual(check.atol);
      expect(report.txt2img.ok).toBe(true);
      expect(report.txt2img.maxAbs).toBeLessThanOrEqual(report.txt2img.atol);
      expect(report.images).toHaveLength(2);
      expect(BACKEND_NAMES as readonly string[]).toContain(report.backend.name);
      const png = await readPng(report.images[0]!);
      expect(png.width).toBeGreaterThan(0);
      expect((await stat(report.images[0]!)).size).toBeGreaterThan(1000);
    } finally {
      spy.mockRestore();
      await rm(out, { recursive: true, force: true });
    }
  });
});
