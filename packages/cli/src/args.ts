/**
 * Command-line argument parsing on `node:util.parseArgs`, strict: an unknown option is an {@link OptionError}
 * naming it and the command.
 * @module
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { OptionError } from '@semedit/core';
import { convertValue } from './options.js';

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

/**
 * Range and kind of a numeric option.
 *
 * @example
 * ```ts
 * const r: NumberRule = { int: true, min: 1 };
 * ```
 */
export interface NumberRule {
  /** Must be an integer. */
  int?: boolean;
  /** Smallest allowed value. */
  min?: number;
  /** Largest allowed value. */
  max?: number;
}

/**
 * Numeric options of the commands that parse with {@link parseCommandArgs}, through the same `convertValue` the
 * declared option tables use (one parser of numbers in the CLI): a finite number (an integer with `int`) within `[min, max]`, or
 * `undefined` when the option was not given. NaN, Infinity, empty strings and trailing garbage are refused with an
 * {@link OptionError} naming the option as typed.
 *
 * @param name the option's flag name
 * @param v    its raw value
 * @param rule integer, range
 * @example
 * ```ts
 * numberOption('steps', '20', { int: true, min: 1 }); // 20
 * numberOption('steps', undefined); // undefined
 * ```
 */
export function numberOption(name: string, v: unknown, rule: NumberRule = {}): number | undefined {
  if (v === undefined) return undefined;
  if (typeof v !== 'string') throw new OptionError(name, `must be ${rule.int ? 'an integer' : 'a finite number'}, got "${String(v)}"`);
  return convertValue(name, { type: rule.int ? 'int' : 'number', min: rule.min, max: rule.max, help: '' }, v) as number;
}

/**
 * {@link numberOption} for an option that must be given (or has a default).
 *
 * @param name the option's flag name
 * @param v    its raw value
 * @param rule integer, range
 * @example
 * ```ts
 * requiredNumber('seed', values['seed'], { int: true }); // 0 with the default '0'
 * ```
 */
export function requiredNumber(name: string, v: unknown, rule: NumberRule = {}): number {
  const n = numberOption(name, v, rule);
  if (n === undefined) throw new OptionError(name, 'is required');
  return n;
}
