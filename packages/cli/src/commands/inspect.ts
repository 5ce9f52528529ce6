/**
 * `semedit inspect <checkpoint>`: lists the tensors of any supported checkpoint (name, dtype, shape) from its
 * headers alone: no tensor data is read and no zip record inflated, so a multi-GiB file lists in milliseconds.
 * @module
 */
import { inspectCheckpoint } from '@semedit/core/io';
import { defineCommand } from './command.js';

/** `semedit inspect <checkpoint> [--root KEY] [--json]`, from its declared options. */
export const inspectCommand = defineCommand({
  name: 'inspect',
  summary: 'list the tensors (name, dtype, shape) of a checkpoint of any supported format',
  positionals: { usage: '<checkpoint>', names: ['checkpoint'] },
  options: {
    root: { type: 'string', arg: 'KEY', help: 'the sub-tree of a pickled checkpoint to list (state_dict, G_ema, ...)' },
    json: { type: 'boolean', help: 'print the listing as JSON' },
  },
  async run({ values, positionals }) {
    const ck = await inspectCheckpoint(positionals[0]!, { root: values.root });
    const rows = ck.tensors.map(({ name, dtype, shape }) => ({ name, dtype, shape }));
    if (values.json) {
      process.stdout.write(`${JSON.stringify({ file: ck.file, format: ck.format, metadata: ck.metadata, tensors: rows }, null, 2)}\n`);
    } else {
      process.stdout.write(`${ck.file}: ${ck.format}, ${rows.length} tensors\n`);
      for (const r of rows) process.stdout.write(`  ${r.name.padEnd(60)} ${r.dtype.padEnd(9)} [${r.shape.join(', ')}]\n`);
    }
    return 0;
  },
});
