/**
 * The one option parser of `semedit`: each command declares its options once (name, type, range, default, help),
 * and from that table come the parsed, typed values, the `--help` text and the error messages. Every error is an
 * {@link OptionError} naming the flag as typed (`--steps`). A value always follows its flag, so `--seed -5` and
 * `--seed=-5` mean the same, and a range refuses a negative number the same way whichever was typed.
 * @module
 */
import { OptionError } from '@semedit/core';

/** What an option holds: text, an integer, a finite number, or a switch. */
export type OptionKind = 'string' | 'int' | 'number' | 'boolean';

/**
 * One option's declaration.
 *
 * @example
 * ```ts
 * const steps: OptionDecl = { type: 'int', min: 1, default: 50, arg: 'N', help: 'denoising steps', lib: 'numInferenceSteps' };
 * ```
 */
export interface OptionDecl {
  readonly type: OptionKind;
  /** One line for `--help`. */
  readonly help: string;
  readonly default?: string | number | boolean;
  /** The flag may be repeated; the values come as a list in command-line order. */
  readonly multiple?: boolean;
  readonly required?: boolean;
  /** Inclusive bounds of a number. */
  readonly min?: number;
  readonly max?: number;
  /** Exclusive lower bound of a number (`> above`). */
  readonly above?: number;
  /** Allowed values of a string. */
  readonly choices?: readonly string[];
  /** Placeholder of the value in `--help` (`N`, `TEXT`, `DIR`). */
  readonly arg?: string;
  /** Names the library gives this setting, so its {@link OptionError}s are reported under this flag. */
  readonly lib?: readonly string[];
}

/** A command's options by flag name (without the dashes). */
export type OptionTable = Readonly<Record<string, OptionDecl>>;

type Scalar<D> = D extends { type: 'boolean' } ? boolean
  : D extends { choices: readonly (infer C)[] } ? C
  : D extends { type: 'string' } ? string
  : number;

/** The parsed values of an {@link OptionTable}: lists for repeatable flags, `undefined` when absent without default. */
export type OptionValues<T extends OptionTable> = {
  readonly [K in keyof T]: T[K] extends { multiple: true } ? Scalar<T[K]>[]
    : T[K] extends { type: 'boolean' } | { default: unknown } | { required: true } ? Scalar<T[K]>
    : Scalar<T[K]> | undefined;
};

/** A parsed command line. */
export interface ParsedOptions<T extends OptionTable> {
  values: OptionValues<T>;
  positionals: string[];
  /** Every option occurrence in command-line order (for flags whose relative order matters). */
  order: { name: keyof T & string; value: string | undefined }[];
}

/** The flag as the user types it. */
export const flag = (name: string): string => `--${name}`;

function rangeText(d: OptionDecl): string {
  const parts: string[] = [];
  if (d.above !== undefined) parts.push(`> ${d.above}`);
  if (d.min !== undefined && d.max !== undefined) return [...parts, `in [${d.min}, ${d.max}]`].join(', ');
  if (d.min !== undefined) parts.push(`>= ${d.min}`);
  if (d.max !== undefined) parts.push(`<= ${d.max}`);
  return parts.join(' and ');
}

/**
 * Converts and checks one value of a declared option.
 *
 * @param name the flag name (without dashes)
 * @param decl its declaration
 * @param raw  the text typed
 * @example
 * ```ts
 * convertValue('steps', { type: 'int', min: 1, help: '' }, '-1'); // throws OptionError('steps', 'must be >= 1, got -1')
 * ```
 */
export function convertValue(name: string, decl: OptionDecl, raw: string): string | number {
  const fail = (detail: string): never => {
    throw new OptionError(name, detail);
  };
  if (decl.type === 'string') {
    if (decl.choices && !decl.choices.includes(raw)) fail(`must be one of ${decl.choices.join(', ')}; got "${raw}"`);
    return raw;
  }
  const text = raw.trim();
  const n = Number(text);
  if (decl.type === 'int' && (!/^[-+]?\d+$/.test(text) || !Number.isSafeInteger(n))) fail(`must be an integer, got "${raw}"`);
  if (text === '' || !Number.isFinite(n)) fail(`must be a finite number, got "${raw}"`);
  const bad = (decl.above !== undefined && !(n > decl.above)) || (decl.min !== undefined && n < decl.min) || (decl.max !== undefined && n > decl.max);
  if (bad) fail(`must be ${rangeText(decl)}, got ${raw}`);
  return n;
}

/**
 * Parses `argv` against a table. Unknown flags, missing or malformed values, out-of-range numbers, a flag given
 * twice that is not repeatable, and missing required flags are {@link OptionError}s naming the flag.
 *
 * @param command the command's name, for messages (`txt2img`, `styleclip global`)
 * @param argv    the arguments after the command's name
 * @param table   the command's option declarations
 * @example
 * ```ts
 * const { values } = parseOptions('demo', ['--seed', '-5'], { seed: { type: 'int', default: 0, help: 'seed' } });
 * values.seed; // -5
 * ```
 */
export function parseOptions<T extends OptionTable>(command: string, argv: readonly string[], table: T): ParsedOptions<T> {
  const raw = new Map<string, string[]>();
  const positionals: string[] = [];
  const order: ParsedOptions<T>['order'] = [];
  for (let i = 0; i < argv.length; i++) {
    const tok = argv[i]!;
    if (tok === '--') {
      positionals.push(...argv.slice(i + 1));
      break;
    }
    if (!tok.startsWith('-') || tok === '-' || /^-[\d.]/.test(tok)) {
      positionals.push(tok);
      continue;
    }
    const eq = tok.indexOf('=');
    const name = tok.startsWith('--') ? tok.slice(2, eq < 0 ? undefined : eq) : tok.slice(1);
    const decl = Object.hasOwn(table, name) && tok.startsWith('--') ? table[name] : undefined;
    if (!decl) throw new OptionError(eq < 0 ? tok : tok.slice(0, eq), `is not an option of "semedit ${command}" (see semedit ${command} --help)`);
    let value: string | undefined;
    if (decl.type === 'boolean') {
      if (eq >= 0) throw new OptionError(name, `is a switch and takes no value (got "${tok.slice(eq + 1)}")`);
    } else if (eq >= 0) {
      value = tok.slice(eq + 1);
    } else {
      const next = argv[i + 1];
      // The next word is the value, even when it looks like a negative number; a flag there means no value was given.
      if (next === undefined || (next.startsWith('--') && next.length > 2)) throw new OptionError(name, `needs a value${decl.arg ? ` (${decl.arg})` : ''}`);
      value = next;
      i++;
    }
    const seen = raw.get(name) ?? [];
    if (seen.length > 0 && !decl.multiple) throw new OptionError(name, 'was given more than once');
    raw.set(name, [...seen, value ?? 'true']);
    order.push({ name: name as keyof T & string, value });
  }
  const values: Record<string, unknown> = {};
  for (const [name, decl] of Object.entries(table)) {
    const given = raw.get(name);
    if (decl.type === 'boolean') values[name] = given !== undefined || decl.default === true;
    else if (decl.multiple) values[name] = (given ?? []).map((v) => convertValue(name, decl, v));
    else if (given) values[name] = convertValue(name, decl, given[0]!);
    else if (decl.default !== undefined) values[name] = decl.default;
    else if (decl.required) throw new OptionError(name, 'is required');
  }
  return { values: values as OptionValues<T>, positionals, order };
}

/**
 * The `--help` text of a command: usage line, summary, then one line per option with its range and default.
 *
 * @param usage   `semedit txt2img <model>`
 * @param summary one line
 * @param table   the options
 * @example
 * ```ts
 * process.stdout.write(optionsHelp('semedit inspect <checkpoint>', 'list tensors', { json: { type: 'boolean', help: 'print JSON' } }));
 * ```
 */
export function optionsHelp(usage: string, summary: string, table: OptionTable): string {
  const rows = Object.entries(table).map(([name, d]) => {
    const arg = d.type === 'boolean' ? '' : ` ${d.arg ?? (d.choices ? d.choices.join('|') : d.type === 'string' ? 'TEXT' : 'N')}`;
    const notes = [
      d.type === 'int' ? 'integer' : '', rangeText(d), d.required ? 'required' : '', d.multiple ? 'repeatable' : '',
      d.default !== undefined && d.type !== 'boolean' ? `default ${String(d.default)}` : '',
    ].filter(Boolean);
    return [`--${name}${arg}`, `${d.help}${notes.length ? ` (${notes.join('; ')})` : ''}`] as const;
  });
  const width = Math.min(34, Math.max(12, ...rows.map(([f]) => f.length + 2)));
  const lines = rows.map(([f, h]) => `  ${f.padEnd(width)}${f.length >= width ? `\n  ${' '.repeat(width)}` : ''}${h}`);
  return `usage: ${usage}\n\n${summary}\n\noptions:\n${lines.join('\n')}\n  ${'--help'.padEnd(width)}this text\n`;
}

/**
 * Reports a library {@link OptionError} under the flag that set it: `numInferenceSteps` becomes `--steps` (through
 * each declaration's `lib` names, or the flag's own name); other errors pass through unchanged.
 *
 * @param e     what the library threw
 * @param table the command's options
 * @example
 * ```ts
 * throw asFlagError(new OptionError('numInferenceSteps', 'must be >= 1'), { steps: { type: 'int', help: '', lib: ['numInferenceSteps'] } });
 * // OptionError: option "steps": must be >= 1
 * ```
 */
export function asFlagError(e: unknown, table: OptionTable): unknown {
  if (!(e instanceof OptionError) || e.option.startsWith('-')) return e;
  const lib = e.option;
  const leaf = lib.replace(/^.*[.\]]/, '');
  const match = Object.entries(table).find(([name, d]) => d.lib?.includes(lib) || d.lib?.includes(leaf) || name === lib || name === leaf);
  if (!match || match[0] === lib) return e; // unknown to the table, or already the flag's name
  const detail = e.message.replace(/^option "[^"]*": /, '').replaceAll(lib, flag(match[0]));
  const mapped = new OptionError(match[0], detail);
  mapped.stack = e.stack;
  return mapped;
}
