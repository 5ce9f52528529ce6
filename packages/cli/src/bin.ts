#!/usr/bin/env node
/**
 * The `semedit` command. `semedit <command> [options]`; `semedit help` lists the commands.
 * @module
 */
import { SemeditError } from '@semedit/core';
import { commands } from './commands/index.js';

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === 'help' || name === '--help' || name === '-h') {
    process.stdout.write(`semedit <command> [options]\n\n`);
    for (const c of Object.values(commands)) process.stdout.write(`  ${c.usage.padEnd(52)} ${c.summary}\n`);
    return 0;
  }
  const cmd = commands[name];
  if (!cmd) {
    process.stderr.write(`semedit: unknown command "${name}" (try "semedit help")\n`);
    return 2;
  }
  try {
    return await cmd.run(rest);
  } catch (e) {
    if (e instanceof SemeditError) {
      process.stderr.write(`semedit ${name}: [${e.code}] ${e.message}\n`);
      return 1;
    }
    throw e;
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (e: unknown) => {
    process.stderr.write(`semedit: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    process.exit(1);
  },
);
