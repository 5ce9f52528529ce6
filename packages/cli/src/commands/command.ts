/**
 * The shape of a CLI command, and {@link defineCommand}, which builds one from its option table: parsing,
 * `--help`, positional-count checks and the mapping of library option names to flags come with it.
 * @module
 */
import { OptionError } from '@semedit/core';
import { asFlagError, optionsHelp, parseOptions, type OptionTable, type ParsedOptions } from '../options.js';

/**
 * One `semedit` command.
 *
 * @example
 * ```ts
 * const hello: Command = { usage: 'hello', summary: 'says hello', run: async () => { console.log('hi'); return 0; } };
 * ```
 */
export interface Command {
  /** Usage line, e.g. `convert <checkpoint> <out-dir> [options]`. */
  usage: string;
  /** One-line description. */
  summary: string;
  /** The `--help` text (usage, summary, every option); commands without it show usage and summary. */
  help?: string;
  /** Runs the command on the arguments after its name; resolves to the exit code. */
  run(argv: string[]): Promise<number>;
}

/**
 * A command's declaration for {@link defineCommand}.
 *
 * @example
 * ```ts
 * const spec: CommandSpec<{ json: { type: 'boolean'; help: string } }> = {
 *   name: 'hello', summary: 'says hello', options: { json: { type: 'boolean', help: 'print JSON' } }, run: async () => 0,
 * };
 * ```
 */
export interface CommandSpec<T extends OptionTable> {
  name: string;
  summary: string;
  /** Positional arguments: their usage text and how many are expected. */
  positionals?: { usage: string; names: readonly string[] };
  options: T;
  run(args: ParsedOptions<T>): Promise<number>;
}

/** True when `argv` asks for help (`--help` or `-h` before any `--`). */
export function wantsHelp(argv: readonly string[]): boolean {
  const end = argv.indexOf('--');
  return (end < 0 ? argv : argv.slice(0, end)).some((a) => a === '--help' || a === '-h');
}

/**
 * Builds a {@link Command} from its option table. Adding an option is one line in the table.
 *
 * @param spec name, summary, positionals, options, run
 * @example
 * ```ts
 * export const helloCommand = defineCommand({
 *   name: 'hello', summary: 'greets', options: { times: { type: 'int', min: 1, default: 1, help: 'how often' } },
 *   async run({ values }) { for (let i = 0; i < values.times; i++) console.log('hi'); return 0; },
 * });
 * ```
 */
export function defineCommand<const T extends OptionTable>(spec: CommandSpec<T>): Command {
  const usage = `${spec.name}${spec.positionals ? ` ${spec.positionals.usage}` : ''} [options]`;
  const help = optionsHelp(`semedit ${usage}`, spec.summary, spec.options);
  return {
    usage, summary: spec.summary, help,
    async run(argv) {
      if (wantsHelp(argv)) {
        process.stdout.write(help);
        return 0;
      }
      const parsed = parseOptions(spec.name, argv, spec.options);
      const names = spec.positionals?.names ?? [];
      if (parsed.positionals.length !== names.length) {
        const what = names.length ? `expects ${names.map((n) => `<${n}>`).join(' ')}` : 'takes no positional arguments';
        throw new OptionError(spec.name, `${what}, got ${parsed.positionals.length ? parsed.positionals.map((p) => `"${p}"`).join(' ') : 'none'} (see semedit ${spec.name} --help)`);
      }
      try {
        return await spec.run(parsed);
      } catch (e) {
        throw asFlagError(e, spec.options);
      }
    },
  };
}
