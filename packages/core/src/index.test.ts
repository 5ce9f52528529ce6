/**
 * The root of `@semedit/core` is a curated list, not a re-export of every module: a bounded number of names, the
 * upstream class names as aliases of ours, one random generator class (not named like JS's `Generator`), and the
 * error classes a caller catches.
 */
import { describe, expect, it } from 'vitest';
import * as core from './index.js';
import * as pipeline from './pipeline/index.js';

describe('@semedit/core root', () => {
  it('exports a curated set: far fewer names than its subpaths, upstream names as aliases', () => {
    const names = Object.keys(core);
    expect(names.length).toBeLessThan(100);
    expect(Object.keys(pipeline).length).toBeGreaterThan(0);
    expect(core.CLIPTextModel).toBe(core.ClipTextModel);
    expect(core.CLIPTokenizer).toBe(core.ClipTokenizer);
    expect(core.CLIPModel).toBe(core.ClipModel);
    expect(names).not.toContain('Generator');
    expect(core.createGenerator(1)).toBeInstanceOf(core.RandomGenerator);
  });

  it('every exported error class is a SemeditError with a stable code', () => {
    const errors = Object.entries(core).filter(([n, v]) => n.endsWith('Error') && typeof v === 'function');
    expect(errors.length).toBeGreaterThan(20);
    for (const [name, cls] of errors) expect((cls as { prototype: unknown }).prototype instanceof core.SemeditError || cls === core.SemeditError, name).toBe(true);
  });
});
