/**
 * Finding and reading reference fixtures. Parity tests reach the fixtures through `SEMEDIT_FIXTURES` (default
 * `../shared/fixtures` from the repository root) and are driven by each folder's `fixture.json`.
 * @module
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SemeditError } from '../errors.js';

/** One check of a fixture manifest: which output to compare, from which file, with what tolerance. */
export interface FixtureCheck {
  /** Name of the expected tensor (or JSON path) inside `file`. */
  output: string;
  /** Key into the manifest's `files` naming where the expected value lives. */
  file: string;
  /** What produces the output, in words. */
  from: string;
  /** Layout of the stored tensor (`NCHW`, `NC`, `json`, ...). */
  layout: string;
  atol: number;
  rtol: number;
  [extra: string]: unknown;
}

/** A parsed `fixture.json`, with its folder resolved. */
export interface FixtureManifest {
  /** The fixture's id, e.g. `unet-tiny` or `schedulers/ddim`: put it in the test name. */
  id: string;
  kind?: string;
  /** Component folders, relative to the fixture folder in the file; absolute here. */
  components: Record<string, string>;
  /** File names, relative to the fixture folder in the file; absolute here. */
  files: Record<string, string>;
  checks: FixtureCheck[];
  /** Absolute path of the fixture folder. */
  dir: string;
  /** The manifest as parsed, for fields this type does not name. */
  raw: Record<string, unknown>;
}

/**
 * The fixtures root: `SEMEDIT_FIXTURES` if set, else `../shared/fixtures` from the repository root.
 *
 * @example
 * ```ts
 * const root = fixturesRoot(); // e.g. '/.../shared/fixtures'
 * ```
 */
export function fixturesRoot(): string {
  const env = process.env['SEMEDIT_FIXTURES'];
  if (env) return resolve(env);
  const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../../../..');
  return resolve(repoRoot, '..', 'shared', 'fixtures');
}

/**
 * Whether the fixtures root exists (tests use it to report, not to skip silently).
 *
 * @example
 * ```ts
 * if (!haveFixtures()) throw new Error('set SEMEDIT_FIXTURES');
 * ```
 */
export function haveFixtures(): boolean {
  return existsSync(fixturesRoot());
}

/**
 * Reads `<root>/<name>/fixture.json` and resolves its components and files to absolute paths.
 *
 * @param name fixture folder relative to the root (e.g. `unet-tiny`, `clip-text-tiny/gelu`), or an absolute path
 * @example
 * ```ts
 * const m = readManifest('checkpoint-formats');
 * m.id;            // 'checkpoint-formats'
 * m.files['legacy']; // absolute path of legacy-torchsave.pt
 * ```
 */
export function readManifest(name: string): FixtureManifest {
  const dir = isAbsolute(name) ? name : join(fixturesRoot(), name);
  const path = join(dir, 'fixture.json');
  if (!existsSync(path)) {
    throw new SemeditError('E_FIXTURE', `no fixture manifest at ${path} (set SEMEDIT_FIXTURES to the fixtures root)`);
  }
  const raw = JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>;
  const abs = (o: unknown): Record<string, string> => {
    const out: Record<string, string> = {};
    for (const [k, v] of Object.entries((o ?? {}) as Record<string, unknown>)) {
      if (typeof v === 'string') out[k] = resolve(dir, v);
    }
    return out;
  };
  return {
    id: String(raw['id'] ?? name),
    kind: typeof raw['kind'] === 'string' ? raw['kind'] : undefined,
    components: abs(raw['components']),
    files: abs(raw['files']),
    checks: (raw['checks'] ?? []) as FixtureCheck[],
    dir,
    raw,
  } as FixtureManifest;
}

/**
 * Reads every fixture in the sub-folders of `folder` (those holding a `fixture.json`), sorted by name. An empty
 * list is an error: a parity test over a folder must never pass by running nothing.
 *
 * @param folder folder relative to the fixtures root (e.g. `clip-text-tiny`), or an absolute path
 * @param filter keeps the manifests a test covers (by default all)
 * @throws SemeditError `E_FIXTURE` when no fixture is found (or none passes the filter)
 * @example
 * ```ts
 * const ms = readManifests('clip-text-tiny'); // [clip-text-tiny/gelu, clip-text-tiny/quick_gelu]
 * ```
 */
export function readManifests(folder: string, filter: (m: FixtureManifest) => boolean = () => true): FixtureManifest[] {
  const dir = isAbsolute(folder) ? folder : join(fixturesRoot(), folder);
  const names = existsSync(dir)
    ? readdirSync(dir, { withFileTypes: true }).filter((d) => d.isDirectory() && existsSync(join(dir, d.name, 'fixture.json'))).map((d) => d.name).sort()
    : [];
  const ms = names.map((n) => readManifest(join(dir, n))).filter(filter);
  if (ms.length === 0) throw new SemeditError('E_FIXTURE', `no fixture under ${dir}${names.length ? ' passes the filter' : ''} (set SEMEDIT_FIXTURES to the fixtures root)`);
  return ms;
}
