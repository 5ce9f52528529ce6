/**
 * Output files written safely: every output path is checked before any loading or computing (a writable folder,
 * not a directory where a file is meant, not under a file, never a device or other non-regular file, never one of
 * the command's inputs, with symlinks resolved), and a command's outputs are written to temporary files in their
 * final folders and renamed into place together at the end, so a failed run leaves all of them or none.
 * @module
 */
import { constants } from 'node:fs';
import { access, lstat, mkdir, realpath, rename, rm, rmdir, stat, writeFile } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { basename, dirname, join, resolve } from 'node:path';
import { SemeditError } from '@semedit/core';

/**
 * An output location that cannot or must not be written: named by the flag that gave it and the path.
 *
 * @example
 * ```ts
 * throw new OutputPathError('--out', '/dev/full', 'is not a regular file (a device, pipe or socket); it is not replaced');
 * ```
 */
export class OutputPathError extends SemeditError {
  /**
   * @param option the flag (or positional name) that gave the path
   * @param path   the path, as resolved
   * @param detail what is wrong
   */
  constructor(readonly option: string, readonly path: string, detail: string) {
    super('E_OUTPUT_PATH', `${option} ${path}: ${detail}`);
  }
}

const exists = (p: string) => lstat(p).then(() => true, () => false);

/** The real path `p` will have: its nearest existing ancestor resolved, the rest appended. */
async function futureRealPath(option: string, p: string): Promise<{ real: string; ancestor: string }> {
  let ancestor = p;
  const rest: string[] = [];
  while (!(await exists(ancestor))) {
    rest.unshift(basename(ancestor));
    const up = dirname(ancestor);
    if (up === ancestor) break;
    ancestor = up;
  }
  const st = await stat(ancestor).catch(() => undefined);
  if (!st) throw new OutputPathError(option, p, `${ancestor} is a broken symbolic link`);
  if (rest.length > 0 && !st.isDirectory()) throw new OutputPathError(option, p, `is under ${ancestor}, which is a file, not a folder`);
  return { real: join(await realpath(ancestor), ...rest), ancestor };
}

async function assertWritableDir(option: string, p: string, dir: string): Promise<void> {
  try {
    await access(dir, constants.W_OK | constants.X_OK);
  } catch {
    throw new OutputPathError(option, p, `the folder ${dir} is not writable`);
  }
}

/** Real paths of the inputs (files and folders) a command must never change. */
async function realInputs(inputs: readonly string[]): Promise<Set<string>> {
  return new Set(await Promise.all(inputs.map((i) => realpath(i).catch(() => resolve(i)))));
}

/**
 * Checks that `path` may be written as a file: see the module comment. Returns the resolved path.
 *
 * @param option the flag that gave it, for messages
 * @param path   the output file
 * @param inputs the command's input files and folders
 * @example
 * ```ts
 * await checkOutputFile('--out', 'out/cat.png', ['model.safetensors']);
 * ```
 */
export async function checkOutputFile(option: string, path: string, inputs: readonly string[] = []): Promise<string> {
  const p = resolve(path);
  const st = await lstat(p).catch(() => undefined);
  if (st?.isDirectory()) throw new OutputPathError(option, p, 'is an existing folder; give a file name');
  if (st?.isSymbolicLink()) throw new OutputPathError(option, p, 'is a symbolic link; it is not replaced (give the path of a regular file)');
  if (st && !st.isFile()) throw new OutputPathError(option, p, 'is not a regular file (a device, pipe or socket); it is not replaced');
  const { real, ancestor } = await futureRealPath(option, p);
  if ((await realInputs(inputs)).has(real)) throw new OutputPathError(option, p, 'is an input of this command; it is never overwritten');
  if (st) {
    await access(p, constants.W_OK).catch(() => {
      throw new OutputPathError(option, p, 'exists and is read-only');
    });
  }
  await assertWritableDir(option, p, st ? dirname(p) : ancestor);
  return p;
}

/**
 * Checks that `dir` may receive output files: an existing folder or a path that can be created, not an input, not
 * the folder of an input, not under a file. Returns the resolved path.
 *
 * @param option the flag or argument that gave it
 * @param dir    the output folder
 * @param inputs the command's input files and folders
 * @example
 * ```ts
 * await checkOutputDir('<out-dir>', 'out/tfjs', ['model.safetensors']);
 * ```
 */
export async function checkOutputDir(option: string, dir: string, inputs: readonly string[] = []): Promise<string> {
  const d = resolve(dir);
  const st = await stat(d).catch(() => undefined);
  if (st && !st.isDirectory()) throw new OutputPathError(option, d, 'exists and is not a folder');
  const { real, ancestor } = await futureRealPath(option, d);
  const ins = await realInputs(inputs);
  if (ins.has(real) || [...ins].some((i) => dirname(i) === real)) {
    throw new OutputPathError(option, d, 'is (or holds) an input of this command; choose a new folder');
  }
  await assertWritableDir(option, d, st ? d : ancestor);
  return d;
}

/**
 * The outputs of one command run, staged in temporary files beside their final paths and renamed into place by
 * {@link OutputSet.commit}; {@link OutputSet.abort} removes every temporary file and any folder it created.
 *
 * @example
 * ```ts
 * const outs = new OutputSet('--out');
 * try {
 *   await outs.write('out/a.png', pngBytes);
 *   await outs.write('out/a.json', JSON.stringify(report));
 *   await outs.commit();
 * } catch (e) { await outs.abort(); throw e; }
 * ```
 */
export class OutputSet {
  private readonly staged = new Map<string, string>();
  private readonly createdDirs: string[] = [];

  /** @param option the flag that named the outputs, for messages */
  constructor(private readonly option: string) {}

  /** Final paths staged so far, in order. */
  get paths(): string[] {
    return [...this.staged.keys()];
  }

  /** Registers `path` and returns the temporary path to write it to (its folder is created if needed). */
  async stage(path: string): Promise<string> {
    const p = resolve(path);
    const known = this.staged.get(p);
    if (known) return known;
    await this.ensureDir(dirname(p));
    const tmp = join(dirname(p), `.${basename(p)}.${process.pid}-${randomBytes(5).toString('hex')}.tmp`);
    this.staged.set(p, tmp);
    return tmp;
  }

  /** Writes `data` as the future content of `path`. */
  async write(path: string, data: Uint8Array | string): Promise<void> {
    await writeFile(await this.stage(path), data);
  }

  /** Moves every staged file into place. */
  async commit(): Promise<string[]> {
    try {
      // Every place is checked before anything moves, so a blocked place leaves none of the set behind.
      for (const final of this.staged.keys()) {
        const st = await lstat(final).catch(() => undefined);
        if (st && !st.isFile()) throw new OutputPathError(this.option, final, 'became something other than a regular file during the run; not replaced');
      }
      for (const [final, tmp] of this.staged) {
        await rename(tmp, final);
        this.staged.set(final, '');
      }
    } catch (e) {
      await this.abort();
      throw e instanceof SemeditError ? e : new OutputPathError(this.option, dirname(this.paths[0] ?? ''), `cannot move the outputs into place: ${(e as Error).message}`);
    }
    return this.paths;
  }

  /** Removes the temporary files not yet moved, and the folders this set created if they are empty. */
  async abort(): Promise<void> {
    for (const tmp of this.staged.values()) if (tmp) await rm(tmp, { force: true }).catch(() => undefined);
    for (const d of this.createdDirs.reverse()) await rmdir(d).catch(() => undefined);
  }

  private async ensureDir(dir: string): Promise<void> {
    const missing: string[] = [];
    for (let d = dir; !(await exists(d)); d = dirname(d)) missing.unshift(d);
    if (missing.length === 0) return;
    await mkdir(dir, { recursive: true });
    this.createdDirs.push(...missing);
  }
}

/**
 * Runs `body` with a fresh {@link OutputSet}, committing on success and cleaning up on any failure.
 *
 * @param option the flag that named the outputs
 * @param body   writes the outputs through the set
 * @example
 * ```ts
 * await withOutputs('--out', async (outs) => { await outs.write('out/x.json', '{}'); });
 * ```
 */
export async function withOutputs<R>(option: string, body: (outs: OutputSet) => Promise<R>): Promise<R> {
  const outs = new OutputSet(option);
  try {
    const r = await body(outs);
    await outs.commit();
    return r;
  } catch (e) {
    await outs.abort();
    throw e;
  }
}
