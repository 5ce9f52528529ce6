/**
 * The entry point: `--help` for every command (and `help <command>`), `--version`, unknown commands, typed errors
 * as exit code 1, and negative numbers after a flag read as values, not options.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { numberOption, parseCommandArgs } from './args.js';
import { commands } from './commands/index.js';
import { OptionError } from '@semedit/core';
import { cliVersion, libraryFlags, runCli, type CliStreams } from './main.js';
import { asFlagError } from './options.js';

function collect(): CliStreams & { text: { out: string; err: string } } {
  const text = { out: '', err: '' };
  return { text, out: (t) => void (text.out += t), err: (t) => void (text.err += t) };
}

describe('semedit entry point', () => {
  for (const [name, cmd] of Object.entries(commands)) {
    it(`semedit ${name} --help prints its usage and summary and exits 0 without running it`, async () => {
      for (const argv of [[name, '--help'], [name, '-h'], ['help', name]]) {
        const io = collect();
        expect(await runCli(argv, io), argv.join(' ')).toBe(0);
        expect(io.text.out).toContain(cmd.summary);
        expect(io.text.out).toContain(cmd.usage.split(' ')[0]!);
        expect(io.text.err).toBe('');
      }
    });
  }

  it('--version prints the package version', async () => {
    const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string };
    expect(cliVersion()).toBe(pkg.version);
    const io = collect();
    expect(await runCli(['--version'], io)).toBe(0);
    expect(io.text.out.trim()).toBe(pkg.version);
  });

  it('lists every command; an unknown command or help topic exits 2', async () => {
    const io = collect();
    expect(await runCli([], io)).toBe(0);
    for (const name of Object.keys(commands)) expect(io.text.out).toContain(name);
    const bad = collect();
    expect(await runCli(['frobnicate'], bad)).toBe(2);
    expect(bad.text.err).toMatch(/unknown command "frobnicate"/);
    expect(await runCli(['help', 'frobnicate'], collect())).toBe(2);
  });

  it('a typed error is printed with its code and exits 1', async () => {
    const io = collect();
    expect(await runCli(['txt2img', 'model', '--no-such-flag'], io)).toBe(1);
    expect(io.text.err).toMatch(/^semedit txt2img: \[E_OPTION\] .*no-such-flag/);
  });

  it('reads `--flag -5` as the value -5 (same as --flag=-5), and leaves the range check to the command', () => {
    const spec = { seed: { type: 'string' }, json: { type: 'boolean' } } as const;
    for (const v of ['-5', '-0.5', '-.5', '-1e-3', '-Infinity']) {
      expect(parseCommandArgs('t', ['--seed', v], spec).values['seed'], v).toBe(v);
      expect(parseCommandArgs('t', [`--seed=${v}`], spec).values['seed'], v).toBe(v);
    }
    // After a boolean flag there is no value to take: `-5` stays a positional, which the commands refuse by count.
    expect(parseCommandArgs('t', ['--json', '-5'], spec).positionals).toEqual(['-5']);
    // A value that is not a number is refused when the number is read, naming the flag; an unknown flag at once.
    expect(() => numberOption('seed', parseCommandArgs('t', ['--seed', '-x'], spec).values['seed'])).toThrow(/seed/);
    expect(() => parseCommandArgs('t', ['-x'], spec)).toThrow(/"-x"/);
    expect(() => parseCommandArgs('t', ['--seed', '1', '--seed', '2'], spec)).toThrow(/more than once/);
  });
});

describe('the shipped CLI', () => {
  it('imports no test helper (no @semedit/core/testing, no vitest) outside its tests', async () => {
    const { readdirSync } = await import('node:fs');
    const { join } = await import('node:path');
    const dir = new URL('.', import.meta.url).pathname;
    const files = (readdirSync(dir, { recursive: true }) as string[]).filter((f) => f.endsWith('.ts') && !f.endsWith('.test.ts'));
    expect(files.length).toBeGreaterThan(5);
    for (const f of files) {
      const src = readFileSync(join(dir, f), 'utf8');
      expect(src, f).not.toMatch(/@semedit\/core\/testing|from 'vitest'/);
    }
  });
});

describe('library option names reach the user as flags', () => {
  it('an OptionError naming numInferenceSteps or guidanceScale is reported under --steps / --cfg / --scale', () => {
    const steps = asFlagError(new OptionError('numInferenceSteps', 'must be a positive integer, got 0'), libraryFlags('txt2img')) as OptionError;
    expect(steps.option).toBe('steps');
    expect(steps.message).toBe('option "steps": must be a positive integer, got 0');
    expect((asFlagError(new OptionError('guidanceScale', 'must be finite'), libraryFlags('sega')) as OptionError).option).toBe('cfg');
    expect((asFlagError(new OptionError('guidanceScale', 'must be finite'), libraryFlags('p2p')) as OptionError).option).toBe('scale');
    expect((asFlagError(new OptionError('configDir', 'is not a folder'), libraryFlags('txt2img')) as OptionError).option).toBe('config-dir');
  });
});

