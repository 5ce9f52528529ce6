import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import { compareTensorsToExpected, loadExpectedTable, type ExpectedTensorTable } from '../testing/expected-json.js';
import { fixturesRoot, readManifest } from '../fixtures/manifest.js';
import { openSafetensors, readSafetensors } from './safetensors.js';
import type { RawTensor } from './types.js';

function findSafetensors(dir: string, out: string[] = []): string[] {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) findSafetensors(p, out);
    else if (e.name.endsWith('.safetensors')) out.push(p);
  }
  return out;
}

/** The header JSON read with plain `JSON.parse`, independently of the reader under test. */
function rawHeaderShapes(file: string): Map<string, number[]> {
  const bytes = readFileSync(file);
  const n = Number(bytes.readBigUInt64LE(0));
  const header = JSON.parse(bytes.subarray(8, 8 + n).toString('utf8')) as Record<string, { shape?: number[] }>;
  return new Map(Object.entries(header).flatMap(([k, v]) => (v.shape ? [[k, v.shape] as [string, number[]]] : [])));
}

describe('safetensors parity', () => {
  const files = findSafetensors(fixturesRoot()).sort();

  it('finds safetensors files under the fixtures root', () => {
    expect(files.length).toBeGreaterThan(0);
  });

  it.each(files.map((f) => [relative(fixturesRoot(), f), f]))('opens and reads every tensor of %s', async (_rel, file) => {
    const st = await openSafetensors(file);
    try {
      for (const name of st.names()) {
        const info = st.info(name);
        const raw = await st.read(name, { widen: false });
        expect(raw.dtype).toBe(info.dtype);
        expect(raw.data.length).toBe(info.shape.reduce((a, b) => a * b, 1));
        expect(raw.data.byteLength).toBe(info.byteLength);
        const wide = await st.read(name);
        expect(wide.data.length).toBe(raw.data.length);
      }
    } finally {
      await st.close();
    }
  });

  const m = readManifest('checkpoint-formats');
  const cases: [string, string, string][] = [
    ['sd_safetensors', 'sd_expected', 'files.safetensors.tensors'],
    ['unet_fp16', 'unet_fp16_expected', 'tensors'],
  ];
  it.each(cases)(`${m.id}: %s reads to exactly what %s lists (%s)`, async (fileKey, expectedKey, tablePath) => {
    const file = m.files[fileKey];
    expect(file, `manifest file ${fileKey}`).toBeDefined();
    const expected = loadExpectedTable(m, expectedKey, tablePath);
    const tensors = await readSafetensors(file!, { widen: false });
    expect(tensors.size).toBe(Object.keys(expected.table).length);
    // Shapes exactly as listed (0-d tensors stay 0-d), and they agree with the file's own header.
    const header = rawHeaderShapes(file!);
    for (const [name, t] of tensors) expect(t.shape, name).toEqual(header.get(name));
    expect(compareTensorsToExpected(tensors, expected.table, expected.tolerances)).toEqual([]);
  });
});
