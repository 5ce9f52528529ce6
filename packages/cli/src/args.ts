/**
 * Command-line argument parsing on `node:util.parseArgs`, strict: an unknown option is an {@link OptionError}
 * naming it and the command.
 * @module
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { OptionError } from '@semedit/core';

/** Options of one command, as `node:util.parseArgs` declares them, plus a help line per option. */
export type OptionSpec = NonNullable<ParseArgsConfig['options']>;

/** Parsed command line of one command. */
export interface ParsedArgs {
  values: Record<string, string | boolean | undefined>;
  positionals: string[];
}

/**
 * Parses `argv` against `options`; unknown options and missing values raise an {@link OptionError}.
 *
 * @param command  the command's name, for messages
 * @param argv     arguments after the command name
 * @param options  option declarations
 * @example
 * ```ts
 * const a = parseCommandArgs('convert', ['in.ckpt', 'out', '--fp16'], { fp16: { type: 'boolean' } });
 * a.positionals; // ['in.ckpt', 'out']
 * ```
 */
export function parseCommandArgs(command: string, argv: string[], options: OptionSpec): ParsedArgs {
  try {
    const { values, positionals } = parseArgs({ args: joinNegativeValues(argv, options), options, allowPositionals: true, strict: true });
    return { values: values as ParsedArgs['values'], positionals };
  } catch (e) {
    const msg = e instanceof Error ? e.message : String(e);
    const m = /'([^']+)'/.exec(msg);
    throw new OptionError(m?.[1] ?? command, `${command}: ${msg}`);
  }
}

/**
 * A string option's value, or `undefined` when it was not given (boolean values never reach a string option).
 *
 * @param v the parsed value
 * @example
 * ```ts
 * optString(values['config-dir']); // 'sd-folder' or undefined
 * ```
 */
export function optString(v: string | boolean | undefined): string | undefined {
  return typeof v === 'string' ? v : undefined;
}

/** A token that reads as a negative number (`-1`, `-0.5`, `-.5`, `-1e-3`, `-Infinity`), not as an option. */
const NEGATIVE_NUMBER = /^-(?:\d|\.\d|Infinity$)/;

/**
 * `--name -5` as `--name=-5` for the string options (node's parser takes `-5` for an option there); whether a
 * negative value is allowed is the option's own range check, so both spellings give the same answer.
 */
function joinNegativeValues(argv: readonly string[], options: OptionSpec): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const next = argv[i + 1];
    const name = a.startsWith('--') && !a.includes('=') ? a.slice(2) : undefined;
    if (name !== undefined && options[name]?.type === 'string' && next !== undefined && NEGATIVE_NUMBER.test(next)) {
      out.push(`${a}=${next}`);
      i++;
    } else out.push(a);
  }
  return out;
}
