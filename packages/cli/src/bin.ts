#!/usr/bin/env node
/**
 * The `semedit` command: {@link runCli} on the process arguments.
 * @module
 */
import { runCli } from './main.js';

runCli(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (e: unknown) => {
    process.stderr.write(`semedit: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    process.exit(1);
  },
);
