/**
 * The LDM → diffusers rename tables against the key map diffusers' own converter produced for the
 * checkpoint-formats fixture (`ldm_to_diffusers_all` of sd-ldm-single-file.expected.json): every LDM key of the
 * single file maps to exactly its diffusers key, with the tables generated from the tiny UNet / VAE configs.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { renameKeys, selectPrefix } from '../io/strict.js';
import { readManifest } from '../testing/index.js';
import { resolveUNetConfig } from '../unet/config.js';
import { resolveVaeConfig } from '../vae/config.js';
import { LDM_PREFIXES, ldmToDiffusersKey, ldmUNetRenameRules, ldmVaeRenameRules } from './ldm-keys.js';

const m = readManifest('checkpoint-formats');
const expected = JSON.parse(readFileSync(m.files['sd_expected']!, 'utf8')) as {
  ldm_to_diffusers_all: Record<string, string>;
  extras_not_from_diffusers: string[];
  files: Record<string, { tensors: Record<string, unknown> }>;
};
const json = (dir: string) => JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')) as Record<string, unknown>;
const unetCfg = resolveUNetConfig(json(m.components['unet']!));
const vaeCfg = resolveVaeConfig(json(m.components['vae']!));
const rules = { unet: ldmUNetRenameRules(unetCfg), vae: ldmVaeRenameRules(vaeCfg) };

describe(`${m.id}: LDM single-file keys -> diffusers keys`, () => {
  const all = Object.entries(expected.ldm_to_diffusers_all);

  it(`${m.id}: every key of ldm_to_diffusers_all (${all.length}) maps exactly`, () => {
    const wrong = all.filter(([ldm, want]) => ldmToDiffusersKey(ldm, rules) !== want).map(([ldm, want]) => `${ldm}: got ${ldmToDiffusersKey(ldm, rules)}, want ${want}`);
    expect(wrong).toEqual([]);
  });

  it(`${m.id}: renameKeys with the tables maps each component's keys, nothing unmatched`, () => {
    for (const [component, prefix] of [['unet', LDM_PREFIXES.unet], ['vae', LDM_PREFIXES.vae]] as const) {
      const keys = new Map(all.filter(([k]) => k.startsWith(prefix)).map(([k]) => [k, k] as const));
      const { map, unmatched } = renameKeys(selectPrefix(keys, prefix), rules[component]);
      expect(unmatched).toEqual([]);
      for (const [diffusers, ldm] of map) expect(`${component}/${diffusers}`).toBe(expected.ldm_to_diffusers_all[ldm]);
      expect(map.size).toBe(keys.size);
    }
  });

  it(`${m.id}: the file's keys are the mapped keys plus the documented extras`, () => {
    const fileKeys = Object.keys(expected.files['safetensors']!.tensors).sort();
    expect(fileKeys).toEqual([...Object.keys(expected.ldm_to_diffusers_all), ...expected.extras_not_from_diffusers].sort());
    for (const extra of expected.extras_not_from_diffusers) expect(ldmToDiffusersKey(extra, rules)).toBeUndefined();
  });
});
