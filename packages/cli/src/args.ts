/**
 * Command-line argument parsing for the commands that declare their options as `node:util.parseArgs` specs: one
 * parser underneath ({@link parseOptions}, the declared option tables'), strict: an unknown option is an
 * {@link OptionError} naming it and the command; numbers through the tables' `convertValue`.
 * @module
 */
import type { ParseArgsConfig } from 'node:util';
import { OptionError } from '@semedit/core';
import { convertValue, parseOptions, type OptionDecl, type OptionTable } from './options.js';

/** Options of one command, as `node:util.parseArgs` declares them, plus a help line per option. */
export type OptionSpec = NonNullable<ParseArgsConfig['options']>;

/** Parsed command line of one command. */
export interface ParsedArgs {
  values: Record<string, string | boolean | string[] | undefined>;
  positionals: string[];
  /** Every option occurrence in command-line order (for flags whose relative order matters, such as --add/--remove). */
  order: { name: string; value: string | undefined }[];
}

/**
 * Parses `argv` against `options` with the CLI's one command-line parser ({@link parseOptions}): unknown flags,
 * missing values and repeated single flags raise an {@link OptionError} naming the flag. Values stay text (numbers
 * are converted by {@link numberOption}); repeatable flags not given are `undefined`; a value that looks like a
 * negative number is read as the value.
 *
 * @param command  the command's name, for messages
 * @param argv     arguments after the command name
 * @param options  option declarations (`type`, `multiple`, `default`)
 * @example
 * ```ts
 * const a = parseCommandArgs('convert', ['in.ckpt', 'out', '--fp16'], { fp16: { type: 'boolean' } });
 * a.positionals; // ['in.ckpt', 'out']
 * ```
 */
export function parseCommandArgs(command: string, argv: string[], options: OptionSpec): ParsedArgs {
  const table: OptionTable = Object.fromEntries(Object.entries(options).map(([name, o]) => [name, {
    type: o.type === 'boolean' ? 'boolean' : 'string', multiple: o.multiple, help: '',
    default: typeof o.default === 'string' || typeof o.default === 'boolean' ? o.default : undefined,
  } satisfies OptionDecl]));
  const p = parseOptions(command, argv, table);
  const values = Object.fromEntries(Object.entries(p.values as Record<string, unknown>).map(([k, v]) => [k, Array.isArray(v) && v.length === 0 ? undefined : v])) as ParsedArgs['values'];
  return { values, positionals: p.positionals, order: p.order };
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
export function optString(v: string | boolean | string[] | undefined): string | undefined {
  return typeof v === 'string' ? v : undefined;
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
