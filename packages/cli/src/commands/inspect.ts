/**
 * `semedit inspect <checkpoint>`: lists the tensors of any supported checkpoint (name, dtype, shape) from its
 * headers alone: no tensor data is read and no zip record inflated, so a multi-GiB file lists in milliseconds.
 * @module
 */
import { OptionError } from '@semedit/core';
import { inspectCheckpoint } from '@semedit/core/io';
import { parseCommandArgs } from '../args.js';
import type { Command } from './command.js';

/** `semedit inspect <checkpoint> [--root KEY] [--json]`. */
export const inspectCommand: Command = {
  usage: 'inspect <checkpoint> [--root KEY] [--json]',
  summary: 'list the tensors (name, dtype, shape) of a checkpoint of any supported format',
  async run(argv) {
    const { values, positionals } = parseCommandArgs('inspect', argv, { root: { type: 'string' }, json: { type: 'boolean', default: false } });
    const [input] = positionals;
    if (!input || positionals.length > 1) throw new OptionError('inspect', 'expects one <checkpoint>');
    const root = values['root'];
    const ck = await inspectCheckpoint(input, typeof root === 'string' ? { root } : {});
    const rows = ck.tensors.map(({ name, dtype, shape }) => ({ name, dtype, shape }));
    if (values['json']) {
      process.stdout.write(`${JSON.stringify({ file: ck.file, format: ck.format, metadata: ck.metadata, tensors: rows }, null, 2)}\n`);
    } else {
      process.stdout.write(`${ck.file}: ${ck.format}, ${rows.length} tensors\n`);
      for (const r of rows) process.stdout.write(`  ${r.name.padEnd(60)} ${r.dtype.padEnd(9)} [${r.shape.join(', ')}]\n`);
    }
    return 0;
  },
};
