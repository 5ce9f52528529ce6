/**
 * The shape of a CLI command.
 * @module
 */

/**
 * One `semedit` command.
 *
 * @example
 * ```ts
 * const hello: Command = { usage: 'hello', summary: 'says hello', run: async () => { console.log('hi'); return 0; } };
 * ```
 */
export interface Command {
  /** Usage line, e.g. `convert <checkpoint> <out-dir> [--fp16]`. */
  usage: string;
  /** One-line description. */
  summary: string;
  /** Runs the command on the arguments after its name; resolves to the exit code. */
  run(argv: string[]): Promise<number>;
}
