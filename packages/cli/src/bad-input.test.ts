/**
 * The bad-input catalogue, as a careless user would probe the CLI: outputs that would destroy something (a device,
 * a symlink to the input's folder, an existing folder, a path under a file), refused before any loading or
 * computing with a typed error naming the flag; inputs never changed; headers-only inspection of a file whose data
 * is huge; negative numbers read as values and refused by range, never mistaken for options.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, open, readdir, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { CheckpointFormatError, OptionError } from '@semedit/core';
import { serializeSafetensors } from '@semedit/core/io';
import { convertCommand } from './commands/convert.js';
import { inspectCommand } from './commands/inspect.js';
import { p2pCommand } from './commands/p2p.js';
import { segaCommand } from './commands/sega.js';
import { styleclipCommand } from './commands/styleclip.js';
import { txt2imgCommand } from './commands/txt2img.js';
import { OutputPathError, withOutputs } from './outputs.js';
import { SEGA_DEFAULTS } from '@semedit/edit';

let dir = '';
let ckpt = '';
const sha = (file: string) => createHash('sha256').update(readFileSync(file)).digest('hex');

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'semedit-bad-input-'));
  await mkdir(join(dir, 'in'));
  ckpt = join(dir, 'in', 'model.safetensors');
  await writeFile(ckpt, serializeSafetensors({ 'a.weight': { dtype: 'float32', shape: [2, 3], data: Float32Array.from([1, 2, 3, 4, 5, 6]) } }));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** The typed error a command run rejects with (fails when it resolves). */
async function rejection(p: Promise<number>): Promise<Error> {
  const r = await p.then(() => undefined, (e: unknown) => e as Error);
  if (!r) throw new Error('expected the command to fail');
  return r;
}

describe('outputs are checked before any loading or computing', () => {
  // A model path that does not exist: had the command loaded first, the error would be a CheckpointFormatError.
  const model = () => join(dir, 'no-such-model');

  it('a device (--out /dev/full) is refused, never replaced', async () => {
    for (const run of [
      () => txt2imgCommand.run([model(), '--prompt', 'a cat', '--out', '/dev/full']),
      () => segaCommand.run(['--model', model(), '--prompt', 'a cat', '--add', 'smile', '--out', '/dev/full']),
    ]) {
      const e = await rejection(run());
      expect(e).toBeInstanceOf(OutputPathError);
      expect((e as OutputPathError).option).toBe('--out');
      expect(e.message).toMatch(/not a regular file/);
    }
    expect(existsSync('/dev/full')).toBe(true);
  });

  it('an existing folder where a file is meant, and a path under a file, are refused', async () => {
    const e1 = await rejection(txt2imgCommand.run([model(), '--prompt', 'x', '--out', join(dir, 'in')]));
    expect(e1).toBeInstanceOf(OutputPathError);
    expect(e1.message).toMatch(/existing folder/);
    const e2 = await rejection(txt2imgCommand.run([model(), '--prompt', 'x', '--out', join(ckpt, 'x.png')]));
    expect(e2).toBeInstanceOf(OutputPathError);
    const e3 = await rejection(p2pCommand.run(['--model', model(), '--prompt', 'a cat', '--target', 'a dog', '--out', ckpt]));
    expect(e3).toBeInstanceOf(OutputPathError);
  });

  it("convert refuses an output folder that is the input's folder through a symlink, and the input is unchanged", async () => {
    const before = sha(ckpt);
    const listing = await readdir(join(dir, 'in'));
    await symlink(join(dir, 'in'), join(dir, 'link'));
    for (const out of [join(dir, 'link'), join(dir, 'in'), ckpt]) {
      const e = await rejection(convertCommand.run([ckpt, out]));
      expect(e, out).toBeInstanceOf(OutputPathError);
      expect((e as OutputPathError).option).toBe('<out-dir>');
    }
    expect(sha(ckpt)).toBe(before);
    expect(await readdir(join(dir, 'in'))).toEqual(listing);
  });

  it('an unknown --scheduler and a missing model are typed errors naming what was wrong', async () => {
    const e = await rejection(txt2imgCommand.run([model(), '--prompt', 'x', '--out', join(dir, 'o.png'), '--scheduler', 'warp']));
    expect(e).toBeInstanceOf(OptionError);
    expect((e as OptionError).option).toBe('scheduler');
    const m = await rejection(txt2imgCommand.run([model(), '--prompt', 'x', '--out', join(dir, 'o.png')]));
    expect(m).toBeInstanceOf(CheckpointFormatError);
    expect(m.message).toContain('no-such-model');
    expect(existsSync(join(dir, 'o.png'))).toBe(false);
  });

  it('a negative number after a flag is its value: refused by range where meaningless, with a typed error naming the flag', async () => {
    const e = await rejection(convertCommand.run([ckpt, join(dir, 'conv'), '--shard-mb', '-5']));
    expect(e).toBeInstanceOf(OptionError);
    expect((e as OptionError).option).toBe('shard-mb');
    expect(existsSync(join(dir, 'conv'))).toBe(false);
  });
});

describe('inspection reads headers only', () => {
  it('lists a safetensors file whose header declares 3 GiB of data without reading it (sparse file)', async () => {
    const n = 3 * 2 ** 28; // float32 elements: 3 GiB
    const header = Buffer.from(JSON.stringify({ big: { dtype: 'F32', shape: [n], data_offsets: [0, 4 * n] } }));
    const file = join(dir, 'huge.safetensors');
    const len = Buffer.alloc(8);
    len.writeBigUInt64LE(BigInt(header.length));
    await writeFile(file, Buffer.concat([len, header]));
    const fh = await open(file, 'r+');
    await fh.truncate(8 + header.length + 4 * n); // a hole: nothing on disk, nothing to read
    await fh.close();
    let out = '';
    const o = vi.spyOn(process.stdout, 'write').mockImplementation((s: string | Uint8Array) => ((out += String(s)), true));
    const rss = process.memoryUsage().rss;
    try {
      expect(await inspectCommand.run([file, '--json'])).toBe(0);
    } finally {
      o.mockRestore();
    }
    const r = JSON.parse(out) as { tensors: { name: string; shape: number[] }[] };
    expect(r.tensors).toEqual([{ name: 'big', dtype: 'float32', shape: [n] }]);
    expect(process.memoryUsage().rss - rss).toBeLessThan(2 ** 30); // the 3 GiB were never read
    await rm(file);
  });
});

describe('settings are validated before loading, in the flags typed', () => {
  const model = () => join(dir, 'no-such-model');
  const sega = (...extra: string[]) => segaCommand.run(['--model', model(), '--prompt', 'a cat', '--add', 'smile', '--out', join(dir, 'v', 'sega.png'), ...extra]);

  it.each([
    [['--threshold', '1.5'], 'threshold', /concept 0 \("smile"\).*\[0, 1\]/],
    [['--mom-beta', '2'], 'mom-beta', /\[0, 1\]/],
    [['--concept-chunk', '0'], 'concept-chunk', /positive integer/],
    [['--steps', '2'], 'warmup', new RegExp(`equal the unedited image.*warm-up ${SEGA_DEFAULTS.warmup} >= 2 steps`)],
    [['--weight', '-1', '--warmup', '0'], 'weight', /weight -1 <= 0/],
    [['--cooldown', '3', '--warmup', '3'], 'cooldown', /cool-down 3 <= warm-up 3/],
    [['--scale', 'lots'], 'scale', /finite number/],
    [['--cfg', '1'], 'cfg', /guidance > 1/],
  ])('sega %j is an OptionError on --%s before anything is loaded', async (extra, flag, msg) => {
    const e = await rejection(sega(...extra));
    expect(e).toBeInstanceOf(OptionError);
    expect((e as OptionError).option).toBe(flag);
    expect(e.message).toMatch(msg);
    expect(existsSync(join(dir, 'v'))).toBe(false);
  });
});

describe('a set of outputs is written whole or not at all', () => {
  it('a failure while writing leaves no file of the set and removes the folders it made', async () => {
    const base = join(dir, 'set-fail', 'deep');
    const e = await withOutputs('--out', async (outs) => {
      await outs.write(join(base, 'a.png'), 'first');
      await outs.write(join(base, 'b.json'), 'second');
      throw new Error('the third output could not be made');
    }).then(() => undefined, (x: unknown) => x as Error);
    expect(e?.message).toMatch(/third output/);
    expect(existsSync(join(dir, 'set-fail'))).toBe(false);
  });

  it('a place that became a folder during the run blocks the whole set, and nothing is replaced', async () => {
    const base = join(dir, 'set-blocked');
    await mkdir(base);
    await writeFile(join(base, 'keep.json'), 'old');
    const e = await withOutputs('--out', async (outs) => {
      await outs.write(join(base, 'a.png'), 'new image');
      await outs.write(join(base, 'keep.json'), 'new settings');
      await outs.write(join(base, 'c.png'), 'another');
      await mkdir(join(base, 'c.png')); // something else took the place meanwhile
    }).then(() => undefined, (x: unknown) => x as Error);
    expect(e).toBeInstanceOf(OutputPathError);
    expect(readFileSync(join(base, 'keep.json'), 'utf8')).toBe('old');
    expect((await readdir(base)).sort()).toEqual(['c.png', 'keep.json']); // no a.png, no temporary files
  });
});

describe('model-free checks come first, in the flags typed', () => {
  const missing = () => join(dir, 'no-such-model');

  it('styleclip refuses bad numbers, alpha lists and optimizer names before loading the generator', async () => {
    const base = ['--generator', missing(), '--clip', missing(), '--out', join(dir, 'sc')];
    for (const [args, flag] of [
      [['optimize', ...base, '--text', 'a cat', '--lr', 'NaN'], 'lr'],
      [['optimize', ...base, '--text', 'a cat', '--steps', '0'], 'steps'],
      [['global', ...base, '--target', 'a', '--neutral', 'b', '--alphas=1,x'], 'alphas'],
      [['mapper-train', ...base, '--text', 'a', '--optim', 'sgd'], 'optim'],
    ] as const) {
      const e = await rejection(styleclipCommand.run([...args]));
      expect(e, args.join(' ')).toBeInstanceOf(OptionError);
      expect((e as OptionError).option).toBe(flag);
    }
  });

  it('a --config-dir that is not a folder, or beside a diffusers folder, is refused', async () => {
    const e = await rejection(txt2imgCommand.run([ckpt, '--prompt', 'a cat', '--config-dir', join(dir, 'nowhere'), '--out', join(dir, 'cd.png')]));
    expect((e as OptionError).option).toBe('config-dir');
    const f = await rejection(txt2imgCommand.run([join(dir, 'in'), '--prompt', 'a cat', '--config-dir', join(dir, 'in'), '--out', join(dir, 'cd.png')]));
    expect((f as OptionError).option).toBe('config-dir');
    expect(f.message).toMatch(/single-file checkpoint/);
    expect(existsSync(join(dir, 'cd.png'))).toBe(false);
  });
});

