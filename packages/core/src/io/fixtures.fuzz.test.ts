/**
 * Fuzzing the real fixture checkpoints (safetensors, PyTorch zip `.bin`/`.ckpt`, TorchScript `.pt`, legacy
 * `torch.save`, NVLabs `.pkl`, rosinality `.pt`) with every mutant read in a child process under a deadline: a hang
 * is killed and reported, never a stuck run. Each mutant must give a typed SemeditError or a consistent result, and
 * a successful read of a mutant that only changed tensor data bytes must keep every name, dtype and shape of the
 * source, with only the touched tensor's values changed.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { fixturesRoot } from '../fixtures/manifest.js';
import { DeadlineReader, mutateBytes, type FuzzRequest, type TensorSummary } from '../testing/fuzz.js';
import { parseSafetensorsLayout } from './safetensors.js';
import { parseZip } from './zip.js';

const MUTANTS_PER_FILE = 24;
const DEADLINE_MS = 8000;
const MAX_TENSOR_BYTES = 1 << 26;
/** Roots the pickled checkpoints keep their tensors under (as their loaders read them). */
const ROOTS: Record<string, string> = { 'nvlabs-generator.pkl': 'G_ema', 'sd-ldm-single-file.ckpt': 'state_dict', 'rosinality-generator.pt': 'g_ema' };

function files(dir: string, out: string[] = []): string[] {
  for (const e of readdirSync(dir)) {
    const p = join(dir, e);
    if (statSync(p).isDirectory()) files(p, out);
    else if (/\.(safetensors|bin|ckpt|pt|pkl)$/.test(e) && statSync(p).size < 8 * 2 ** 20) out.push(p);
  }
  return out;
}

const root = fixturesRoot();
const all = files(root).sort();
// Every PyTorch-side file (zip, TorchScript, legacy, pickle), and one safetensors file per fixture folder.
const folderOf = (f: string) => f.split('/').slice(-2, -1)[0];
const picked = all.filter((f, i) => !f.endsWith('.safetensors') || all.findIndex((g) => g.endsWith('.safetensors') && folderOf(g) === folderOf(f)) === i);
const reader = new DeadlineReader();
afterAll(() => reader.close());

/** Byte ranges of the tensor storages (the `data/` records) of a PyTorch zip, or none for other containers. */
async function zipDataRanges(bytes: Uint8Array): Promise<{ name: string; from: number; to: number }[]> {
  if (bytes[0] !== 0x50 || bytes[1] !== 0x4b) return [];
  const zip = await parseZip(bytes);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out = zip.entries.filter((e) => /\/data\/[^/]+$/.test(e.name)).map((e) => {
    const from = e.localHeaderOffset + 30 + view.getUint16(e.localHeaderOffset + 26, true) + view.getUint16(e.localHeaderOffset + 28, true);
    return { name: e.name, from, to: from + e.compressedSize };
  });
  await zip.close();
  return out;
}

/** Byte ranges of each tensor's data in a safetensors file. */
function dataRanges(bytes: Uint8Array): { name: string; from: number; to: number }[] {
  const layout = parseSafetensorsLayout(bytes);
  return [...layout.tensors.entries()].map(([name, t]) => ({ name, from: t.fileOffset, to: t.fileOffset + t.byteLength }));
}

const key = (t: TensorSummary) => `${t.name}|${t.dtype}|${t.shape.join('x')}`;

describe('fixture checkpoints under mutation, each read under a deadline in a child process', () => {
  it('finds the fixture checkpoints of every container kind', () => {
    const kinds = new Set(picked.map((f) => f.split('.').pop()));
    expect([...kinds].sort()).toEqual(['bin', 'ckpt', 'pkl', 'pt', 'safetensors']);
    // TorchScript archives (a `code/` folder in the zip) are among them.
    expect(picked.some((f) => f.endsWith('.pt') && readFileSync(f).includes(Buffer.from('/code/')))).toBe(true);
  });

  it.each(picked.map((f) => [relative(root, f), f]))('%s', async (_rel, file) => {
    const src = new Uint8Array(readFileSync(file));
    const format: FuzzRequest['format'] = file.endsWith('.safetensors') ? 'safetensors' : 'torch';
    const base = { format, maxTensorBytes: MAX_TENSOR_BYTES, root: ROOTS[file.split('/').pop()!] };
    const clean = await reader.read({ ...base, bytes: src }, DEADLINE_MS);
    if ('hang' in clean || !clean.ok) throw new Error(`the unmutated file does not read: ${JSON.stringify(clean)}`);
    expect(clean.tensors.length).toBeGreaterThan(0);
    const ranges = format === 'safetensors' ? dataRanges(src) : [];
    const storages = format === 'torch' ? await zipDataRanges(src) : [];
    let seed = 0x5eed + src.length;
    const next = () => ((seed = (seed * 16807) % 2147483647) / 2147483647);
    const failures: string[] = [];
    let errors = 0;
    for (let i = 0; i < MUTANTS_PER_FILE; i++) {
      const m = mutateBytes(src, next);
      const r = await reader.read({ ...base, bytes: m.bytes }, DEADLINE_MS);
      if ('hang' in r) failures.push(`mutant ${i} (${m.how}): no answer within ${r.ms} ms (killed)`);
      else if (!r.ok) {
        errors++;
        if (!r.semedit) failures.push(`mutant ${i} (${m.how}): untyped ${r.error}`);
      } else {
        // A storage record changed in place: the CRC-32 check must refuse it, or the layout must be the source's.
        if (storages.some((g) => m.from >= g.from && m.to <= g.to && m.bytes.length === src.length)) {
          expect(r.tensors.map(key), `mutant ${i} (${m.how}) inside a storage record read without error`).toEqual(clean.tensors.map(key));
        }
        // Where the mutation only touched one tensor's data, everything else must read as the source does.
        const inData = ranges.find((g) => m.from >= g.from && m.to <= g.to && m.bytes.length === src.length);
        if (inData) {
          expect(r.tensors.map(key), `mutant ${i} (${m.how})`).toEqual(clean.tensors.map(key));
          const changed = r.tensors.filter((t, k) => !Object.is(t.sum, clean.tensors[k]!.sum)).map((t) => t.name);
          expect(changed.every((n) => n === inData.name), `mutant ${i} (${m.how}) changed ${changed.join(', ')}`).toBe(true);
        }
      }
    }
    console.log(`[fuzz] ${relative(root, file)}: ${MUTANTS_PER_FILE} mutants, ${errors} typed errors, ${failures.length} failures`);
    expect(failures).toEqual([]);
  });
});

describe('DeadlineReader', () => {
  it('kills a read that does not answer in time, reports it, and serves the next read with a fresh child', async () => {
    const r = new DeadlineReader();
    const file = picked.find((f) => f.endsWith('.safetensors'))!;
    const bytes = new Uint8Array(readFileSync(file));
    expect(await r.read({ format: 'safetensors', bytes }, 0)).toEqual({ hang: true, ms: 0 }); // no child answers in 0 ms
    const again = await r.read({ format: 'safetensors', bytes }, DEADLINE_MS);
    expect('hang' in again ? 'hang' : again.ok).toBe(true);
    await r.close();
  });
});

