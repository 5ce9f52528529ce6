/**
 * The command table of `semedit`.
 * @module
 */
import type { Command } from './command.js';
import { convertCommand } from './convert.js';
import { demoCommand } from './demo.js';
import { editCommand } from './edit.js';
import { inspectCommand } from './inspect.js';
import { p2pCommand } from './p2p.js';
import { segaCommand } from './sega.js';
import { styleclipCommand } from './styleclip.js';
import { txt2imgCommand } from './txt2img.js';

/**
 * Every `semedit` command by name.
 *
 * @example
 * ```ts
 * await commands['demo']!.run(['--out', 'out/demo']);
 * ```
 */
export const commands: Readonly<Record<string, Command>> = {
  demo: demoCommand,
  convert: convertCommand,
  inspect: inspectCommand,
  txt2img: txt2imgCommand,
  styleclip: styleclipCommand,
  p2p: p2pCommand,
  sega: segaCommand,
  edit: editCommand,
};
