/**
 * `semedit convert <checkpoint> <out-dir>`: any supported checkpoint to the tfjs weights format (`model.json` +
 * binary shards), for fast loading in browsers.
 * @module
 */
import { existsSync } from 'node:fs';
import { realpath } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { OptionError } from '@semedit/core';
import { readCheckpoint, writeTfjsWeights } from '@semedit/core/io';
import { optString, parseCommandArgs } from '../args.js';
import { progressBar } from '../progress.js';
import type { Command } from './command.js';
import { checkOutputDir } from '../outputs.js';

/** The JSON summary `semedit convert --json` prints (a contract). */
export interface ConvertReport {
  input: string;
  format: string;
  output: string;
  tensors: number;
  shards: string[];
  float16: boolean;
}

/** `semedit convert <checkpoint> <out-dir> [--fp16] [--root KEY] [--shard-mb N] [--json]`. */
export const convertCommand: Command = {
  usage: 'convert <checkpoint> <out-dir> [--fp16] [--root KEY] [--shard-mb N]',
  summary: 'convert a safetensors/PyTorch/pickle checkpoint to tfjs weights (model.json + shards)',
  async run(argv) {
    const { values, positionals } = parseCommandArgs('convert', argv, {
      fp16: { type: 'boolean', default: false },
      root: { type: 'string' },
      'shard-mb': { type: 'string', default: '4' },
      json: { type: 'boolean', default: false },
    });
    const [input, outDir] = positionals;
    if (!input || !outDir || positionals.length > 2) throw new OptionError('convert', 'expects <checkpoint> <out-dir>');
    const shardMb = Number(values['shard-mb']);
    if (!Number.isFinite(shardMb) || shardMb <= 0) throw new OptionError('shard-mb', `must be a positive number, got "${values['shard-mb']}"`);
    const inPath = await realpath(input).catch(() => resolve(input));
    // Never write over a file the user gave us: real paths compared (symlinks resolved), checked before reading.
    const out = await checkOutputDir('<out-dir>', outDir, [inPath]);
    let bar: ReturnType<typeof progressBar> | undefined;
    const root = values['root'];
    const ck = await readCheckpoint(inPath, {
      root: optString(root),
      onProgress: (done, total) => {
        bar ??= progressBar('reading', total);
        bar.tick(1, done === total ? '' : undefined);
      },
    });
    bar?.done();
    const float16 = values['fp16'] === true;
    const written = await writeTfjsWeights(out, ck.tensors, { float16, shardBytes: Math.round(shardMb * 1024 * 1024) });
    const report: ConvertReport = { input: inPath, format: ck.format, output: written.modelJson, tensors: ck.tensors.size, shards: written.shards, float16 };
    if (values['json']) process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
    else process.stdout.write(`${ck.format} ${inPath}: ${ck.tensors.size} tensors -> ${written.modelJson} (${written.shards.length} shards${float16 ? ', float16' : ''})\n`);
    return 0;
  },
};
