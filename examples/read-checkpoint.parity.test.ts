import { describe, expect, it } from 'vitest';
import { openSafetensors } from '@semedit/core/io';
import { readManifest } from '@semedit/core/testing';
import { summarize } from './read-checkpoint.js';

const m = readManifest('unet-tiny');

describe(`examples/read-checkpoint (${m.id})`, () => {
  it(`${m.id}: summarizes the fixture's weights`, async () => {
    const s = await summarize(m.files['weights']!);
    expect(s.format).toBe('safetensors');
    expect(s.tensors).toBeGreaterThan(0);
    expect(s.largest.length).toBeGreaterThan(0);
    // HWIO of a conv weight is its OIHW shape permuted [2, 3, 1, 0]
    const st = await openSafetensors(m.files['weights']!);
    const [o, i, h, w] = st.info(s.firstConv!.name).shape;
    expect(s.firstConv!.hwio).toEqual([h, w, i, o]);
    expect(s.tensors).toBe(st.names().length);
    await st.close();
  });
});
