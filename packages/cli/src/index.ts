/**
 * `@semedit/cli`: the `semedit` command's building blocks, for scripting the same commands from code.
 * @module
 */
export { commands } from './commands/index.js';
export { runCli, cliVersion, type CliStreams } from './main.js';
export type { Command } from './commands/command.js';
export type { DemoReport } from './commands/demo.js';
export type { ConvertReport } from './commands/convert.js';
export { progressBar, type ProgressBar } from './progress.js';
export { parseCommandArgs, type OptionSpec, type ParsedArgs } from './args.js';
