/**
 * CLIP text tower parity with transformers (clip-text-tiny/quick_gelu and /gelu): every check of each fixture's
 * fixture.json, through the real folder loaders, on every available backend; the tokenizer fixture reproduces the
 * stored input_ids from meta.json's prompts.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { readCheckpoint } from '../io/index.js';
import type { RawTensor } from '../io/types.js';
import { compareArrays, readManifest, type FixtureCheck, type FixtureManifest } from '../testing/index.js';
import { loadClipTextModel, loadClipTextModelWithProjection } from './load.js';
import { availableBackends, useBackend } from './test-support.js';
import { checkTokenIds, type ClipTextModelWithProjection, type ClipTextProjectedOutput } from './text-model.js';
import { loadClipTokenizerFiles } from '../tokenizer/tokenizer-load.js';

const FIXTURES = ['clip-text-tiny/quick_gelu', 'clip-text-tiny/gelu'];
const BACKENDS = await availableBackends();
const report: string[] = [];
afterAll(() => console.log(`clip text parity, max |a-e| per check:\n${report.join('\n')}`));

function rows(t: RawTensor): number[][] {
  const [b, l] = t.shape as [number, number];
  const flat = Array.from(t.data as Int32Array, Number);
  return Array.from({ length: b }, (_, i) => flat.slice(i * l, (i + 1) * l));
}

/** Compares one output with a stored tensor at the check's tolerance; records the max abs difference. */
function expectCheck(label: string, check: FixtureCheck, actual: tf.Tensor, expected: RawTensor): void {
  expect(actual.shape).toEqual(expected.shape);
  const r = compareArrays(actual.dataSync() as Float32Array, expected.data as Float32Array, {
    atol: check.atol, rtol: check.rtol, name: `${label} ${check.output}`, shape: expected.shape,
  });
  report.push(`  ${label} ${check.output}: ${r.maxAbs.toExponential(2)} (atol ${check.atol})`);
  expect(r.ok, r.message).toBe(true);
}

/** The output a check names, from a forward pass (with hidden states) and a forward with the attention mask. */
function outputFor(check: FixtureCheck, out: ClipTextProjectedOutput, skip: Map<number, tf.Tensor>, masked: tf.Tensor): tf.Tensor {
  const name = check.output;
  const hidden = /^hidden_states\.(\d+)$/.exec(name);
  if (hidden) return out.hiddenStates![Number(hidden[1])]!;
  const clipSkip = /^clip_skip_(\d+)$/.exec(name);
  if (clipSkip) return skip.get(Number(clipSkip[1]))!;
  const table: Record<string, tf.Tensor> = {
    last_hidden_state: out.lastHiddenState,
    pooler_output: out.pooledOutput,
    text_embeds: out.textEmbeds,
    last_hidden_state_with_attention_mask: masked,
  };
  const t = table[name];
  if (!t) throw new Error(`check "${name}" is not known to this test: extend it`);
  return t;
}

describe.each(FIXTURES)('%s', (fixture) => {
  const m: FixtureManifest = readManifest(fixture);
  const meta = JSON.parse(readFileSync(m.files['meta']!, 'utf8')) as { prompts: string[]; padding: string; eos_index: number[] };
  let io: Map<string, RawTensor>;
  beforeAll(async () => {
    io = (await readCheckpoint(m.files['io']!)).tensors;
  });

  it(`${m.id}: meta.json prompts tokenize to the stored input_ids and attention_mask`, async () => {
    // The padding convention comes from meta.json: SD2.x pads with "!" (the sd2/ tokenizer config), SD1.x with EOS.
    const dir = m.components['tokenizer']!;
    const sd2 = /SD2/.test(meta.padding);
    const tok = await loadClipTokenizerFiles({
      vocab: join(dir, 'vocab.json'),
      merges: join(dir, 'merges.txt'),
      tokenizerConfig: join(dir, sd2 ? 'sd2' : '', 'tokenizer_config.json'),
      specialTokensMap: join(dir, sd2 ? 'sd2' : '', 'special_tokens_map.json'),
    });
    const enc = tok.encodeBatch(meta.prompts);
    expect(enc.map((e) => e.ids)).toEqual(rows(io.get('input_ids')!));
    expect(enc.map((e) => e.attentionMask)).toEqual(rows(io.get('attention_mask')!));
  });

  describe.each(BACKENDS)(`${m.id} on %s`, (backend) => {
    let model: ClipTextModelWithProjection;
    beforeAll(async () => {
      await useBackend(backend);
      model = await loadClipTextModelWithProjection(m.components['text_encoder']!);
    });
    afterAll(() => model.dispose());

    it(`${m.id} [${backend}]: the pooling position of every row is meta.json's eos_index`, () => {
      expect(checkTokenIds(rows(io.get('input_ids')!), model.config).eosIndex).toEqual(meta.eos_index);
    });

    it(`${m.id} [${backend}]: every fixture.json check, through loadClipTextModelWithProjection`, () => {
      const ids = rows(io.get('input_ids')!);
      const before = tf.memory().numTensors;
      const out = model.forward(ids, { outputHiddenStates: true });
      const extra: ClipTextProjectedOutput[] = [];
      const skips = new Map<number, tf.Tensor>();
      for (const c of m.checks) {
        const k = /^clip_skip_(\d+)$/.exec(c.output)?.[1];
        if (k !== undefined) extra.push(model.forward(ids, { clipSkip: Number(k) }));
        if (k !== undefined) skips.set(Number(k), extra[extra.length - 1]!.clipSkipState!);
      }
      extra.push(model.forward(ids, { attentionMask: rows(io.get('attention_mask')!) }));
      const masked = extra[extra.length - 1]!.lastHiddenState;
      expect(m.checks.length).toBeGreaterThan(0);
      for (const check of m.checks) {
        expect(check.file).toBe('io');
        expectCheck(`${m.id} [${backend}]`, check, outputFor(check, out, skips, masked), io.get(check.output)!);
      }
      tf.dispose([out, ...extra] as unknown as tf.TensorContainer);
      expect(tf.memory().numTensors).toBe(before);
    });

    it(`${m.id} [${backend}]: the same folder loads as CLIPTextModel (text_projection left unused)`, async () => {
      const plain = await loadClipTextModel(m.components['text_encoder']!);
      try {
        expect(plain.leftovers).toEqual(['text_projection.weight']);
        const last = plain.forward(rows(io.get('input_ids')!)).lastHiddenState;
        const check = m.checks.find((c) => c.output === 'last_hidden_state')!;
        expectCheck(`${m.id} [${backend}] CLIPTextModel`, check, last, io.get('last_hidden_state')!);
        last.dispose();
      } finally {
        plain.dispose();
      }
    });
  });
});
