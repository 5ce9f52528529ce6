/**
 * `semedit convert <checkpoint> <out-dir>`: any supported checkpoint to the tfjs weights format (`model.json` +
 * binary shards), for fast loading in browsers.
 * @module
 */
import { realpath } from 'node:fs/promises';
import { resolve } from 'node:path';
import { readCheckpoint, writeTfjsWeights } from '@semedit/core/io';
import { progressBar } from '../progress.js';
import { defineCommand } from './command.js';
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

/** `semedit convert <checkpoint> <out-dir> [--fp16] [--root KEY] [--shard-mb N] [--json]`, from its declared options. */
export const convertCommand = defineCommand({
  name: 'convert',
  summary: 'convert a safetensors/PyTorch/pickle checkpoint to tfjs weights (model.json + shards)',
  positionals: { usage: '<checkpoint> <out-dir>', names: ['checkpoint', 'out-dir'] },
  options: {
    fp16: { type: 'boolean', help: 'store the weights as float16' },
    root: { type: 'string', arg: 'KEY', help: 'the sub-tree of a pickled checkpoint to convert (state_dict, G_ema, ...)' },
    'shard-mb': { type: 'number', above: 0, default: 4, arg: 'N', help: 'shard size in MiB' },
    json: { type: 'boolean', help: 'print the report as JSON' },
  },
  async run({ values, positionals }) {
    const [input, outDir] = positionals as [string, string];
    const inPath = await realpath(input).catch(() => resolve(input));
    // Never write over a file the user gave us: real paths compared (symlinks resolved), checked before reading.
    const out = await checkOutputDir('<out-dir>', outDir, [inPath]);
    let bar: ReturnType<typeof progressBar> | undefined;
    const ck = await readCheckpoint(inPath, {
      root: values.root,
      onProgress: (done, total) => {
        bar ??= progressBar('reading', total);
        bar.tick(1, done === total ? '' : undefined);
      },
    });
    bar?.done();
    const float16 = values.fp16;
    const written = await writeTfjsWeights(out, ck.tensors, { float16, shardBytes: Math.round(values['shard-mb'] * 1024 * 1024) });
    const report: ConvertReport = { input: inPath, format: ck.format, output: written.modelJson, tensors: ck.tensors.size, shards: written.shards, float16 };
    if (values.json) process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
    else process.stdout.write(`${ck.format} ${inPath}: ${ck.tensors.size} tensors -> ${written.modelJson} (${written.shards.length} shards${float16 ? ', float16' : ''})\n`);
    return 0;
  },
});
