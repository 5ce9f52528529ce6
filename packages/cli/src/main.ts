/**
 * The `semedit` entry point as a function: `semedit <command> [options]`, `semedit <command> --help`,
 * `semedit help [command]`, `semedit --version`.
 * @module
 */
import { readFileSync } from 'node:fs';
import { SemeditError } from '@semedit/core';
import { wantsHelp, type Command } from './commands/command.js';
import { asFlagError, type OptionTable } from './options.js';
import { commands } from './commands/index.js';

/** Where {@link runCli} writes (the process streams by default; tests pass collectors). */
export interface CliStreams {
  out(text: string): void;
  err(text: string): void;
}

const processStreams: CliStreams = {
  out: (t) => void process.stdout.write(t),
  err: (t) => void process.stderr.write(t),
};

/**
 * The version of `@semedit/cli`, from its package.json.
 *
 * @example
 * ```ts
 * cliVersion(); // '0.1.0'
 * ```
 */
export function cliVersion(): string {
  const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

function commandHelp(name: string, c: Command): string {
  return c.help ?? `semedit ${c.usage}\n\n${c.summary}\n`;
}

/**
 * The flag each command uses for a setting the library names differently, so that an OptionError raised inside
 * the library reaches the user under the flag they typed (`--steps`, not `numInferenceSteps`).
 *
 * @param command the command's name
 * @example
 * ```ts
 * libraryFlags('sega').cfg?.lib; // ['guidanceScale']
 * ```
 */
export function libraryFlags(command: string): OptionTable {
  const guidance = command === 'sega' || command === 'edit' ? 'cfg' : 'scale';
  return {
    steps: { type: 'int', help: '', lib: ['numInferenceSteps'] }, [guidance]: { type: 'number', help: '', lib: ['guidanceScale'] },
    negative: { type: 'string', help: '', lib: ['negativePrompt'] }, images: { type: 'int', help: '', lib: ['numImagesPerPrompt'] },
    'config-dir': { type: 'string', help: '', lib: ['configDir'] }, scheduler: { type: 'string', help: '', lib: ['sampler'] },
    'concept-chunk': { type: 'int', help: '', lib: ['conceptChunk'] }, 'mom-beta': { type: 'number', help: '', lib: ['momBeta'] },
    momentum: { type: 'number', help: '', lib: ['momentumScale'] }, cross: { type: 'number', help: '', lib: ['crossReplaceSteps'] },
    self: { type: 'number', help: '', lib: ['selfReplaceSteps'] },
  };
}

/**
 * Runs `semedit` on `argv` (the arguments after `semedit`) and resolves to the exit code: 0 on success, 1 for a
 * typed error (printed as `semedit <command>: [CODE] message`), 2 for an unknown command. Untyped errors propagate.
 *
 * @param argv    the arguments, e.g. `['sega', '--help']`
 * @param streams where to print
 * @example
 * ```ts
 * await runCli(['txt2img', '--help']); // prints the usage line and summary, resolves to 0
 * await runCli(['--version']);          // prints '0.1.0'
 * ```
 */
export async function runCli(argv: readonly string[], streams: CliStreams = processStreams): Promise<number> {
  const [name, ...rest] = argv;
  if (name === '--version' || name === '-v' || name === 'version') {
    streams.out(`${cliVersion()}\n`);
    return 0;
  }
  if (!name || name === 'help' || name === '--help' || name === '-h') {
    const topic = name === 'help' ? rest[0] : undefined;
    const c = topic === undefined ? undefined : commands[topic];
    if (c) {
      streams.out(commandHelp(topic!, c));
      return 0;
    }
    streams.out(`semedit <command> [options]   (semedit <command> --help for one command; semedit --version)\n\n`);
    for (const c of Object.values(commands)) streams.out(`  ${c.usage.split(' ')[0]!.padEnd(10)} ${c.summary}\n`);
    return topic === undefined ? 0 : 2;
  }
  const cmd = commands[name];
  if (!cmd) {
    streams.err(`semedit: unknown command "${name}" (try "semedit help")\n`);
    return 2;
  }
  if (wantsHelp(rest)) {
    streams.out(commandHelp(name, cmd));
    return 0;
  }
  try {
    return await cmd.run([...rest]);
  } catch (raw) {
    const e = asFlagError(raw, libraryFlags(name));
    if (e instanceof SemeditError) {
      streams.err(`semedit ${name}: [${e.code}] ${e.message}\n`);
      return 1;
    }
    throw e;
  }
}
