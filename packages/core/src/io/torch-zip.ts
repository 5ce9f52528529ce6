/**
 * PyTorch zip checkpoints (`torch.save` since 1.6, `torch.jit.save`): `<prefix>/data.pkl` holds the object, its
 * persistent ids `('storage', StorageClass, key, location, numel)` name records `<prefix>/data/<key>`; TorchScript
 * archives add `<prefix>/constants.pkl` with records under `<prefix>/constants/`. The prefix is the archive's
 * top folder (the file stem, or `archive` in newer PyTorch), found from the records, never assumed.
 * @module
 */
import { CheckpointFormatError } from '../errors.js';
import { DTYPE_SIZE } from './dtype.js';
import { unpickle, type CallContext } from './pickle.js';
import { parseStoragePid, torchGlobals } from './torch-globals.js';
import { loadFromBytesIn, type LegacyContext } from './torch-legacy.js';
import { TorchStorage } from './torch-tensors.js';
import type { ZipArchive } from './zip.js';

/**
 * What a zip checkpoint holds.
 *
 * @example
 * ```ts
 * const { object, constants, torchscript }: TorchZipContents = await readTorchZip(zip, ctx);
 * ```
 */
export interface TorchZipContents {
  /** The unpickled `data.pkl` (tensors are lazy views reading `<prefix>/data/<key>`). */
  object: unknown;
  /** TorchScript only: the unpickled `constants.pkl` (a tuple of tensors). */
  constants: unknown;
  /** The records' top folder. */
  prefix: string;
  /** Whether this is a TorchScript archive (`constants.pkl` or `code/` present). */
  torchscript: boolean;
  /** Byte order of the storages (`<prefix>/byteorder`; little when absent). */
  byteOrder: 'little' | 'big';
}

function findPrefix(zip: ZipArchive): string {
  const found = zip.entries.map((e) => /^([^/]+)\/data\.pkl$/.exec(e.name)?.[1]).filter((p): p is string => p !== undefined);
  if (found.length === 1) return found[0]!;
  const what = found.length ? `several data.pkl records (${found.join(', ')})` : 'no <folder>/data.pkl record';
  throw new CheckpointFormatError(`zip archive has ${what}: not a PyTorch checkpoint`, { file: zip.file });
}

async function unpickleRecord(
  zip: ZipArchive, record: string, storageDir: string, byteOrder: 'little' | 'big', ctx: LegacyContext,
): Promise<unknown> {
  const where = `${zip.file} [${record}]`;
  const storages = new Map<string, TorchStorage>();
  const persistentLoad = (pid: unknown, call: CallContext): TorchStorage => {
    const p = parseStoragePid(pid, call);
    const name = `${storageDir}/${p.key}`;
    const known = storages.get(name);
    if (known) {
      if (known.dtype !== p.dtype || known.numel !== p.numel) call.fail(`storage "${p.key}" is named with two types/sizes`);
      return known;
    }
    const entry = zip.entry(name) ?? call.fail(`storage record "${name}" is missing from the archive`);
    const bytes = p.numel * DTYPE_SIZE[p.dtype];
    if (entry.size !== bytes) call.fail(`record "${name}" holds ${entry.size} bytes, ${p.numel} ${p.dtype} elements need ${bytes}`);
    const s = new TorchStorage({
      dtype: p.dtype, numel: p.numel, key: p.key, location: p.location, where: `${zip.file} [${name}]`,
      read: () => zip.read(entry), bigEndian: byteOrder === 'big',
    });
    storages.set(name, s);
    return s;
  };
  return unpickle(await zip.read(record), {
    file: where, persistentLoad, limits: ctx.limits, budget: ctx.budget,
    resolveGlobal: torchGlobals({ loadFromBytes: loadFromBytesIn({ ...ctx, file: where }) }),
  });
}

/**
 * Unpickles a PyTorch zip checkpoint's object (and TorchScript constants); storages stay unread until
 * materialized.
 *
 * @param zip the opened archive (kept open by the caller while tensors are read)
 * @param ctx limits and operation budget
 * @example
 * ```ts
 * const zip = await openZip('diffusion_pytorch_model.bin');
 * const { object, prefix } = await readTorchZip(zip, { file: zip.file, budget: { opsLeft: 5e7 }, depth: 0 });
 * prefix; // 'diffusion_pytorch_model'
 * ```
 */
export async function readTorchZip(zip: ZipArchive, ctx: LegacyContext): Promise<TorchZipContents> {
  const prefix = findPrefix(zip);
  let byteOrder: 'little' | 'big' = 'little';
  const bo = zip.entry(`${prefix}/byteorder`);
  if (bo) {
    const text = new TextDecoder().decode(await zip.read(bo)).trim();
    if (text !== 'little' && text !== 'big') {
      throw new CheckpointFormatError(`record "${bo.name}" says byte order "${text.slice(0, 20)}"`, { file: zip.file });
    }
    byteOrder = text;
  }
  const object = await unpickleRecord(zip, `${prefix}/data.pkl`, `${prefix}/data`, byteOrder, ctx);
  const hasConstants = zip.entry(`${prefix}/constants.pkl`) !== undefined;
  const constants = hasConstants
    ? await unpickleRecord(zip, `${prefix}/constants.pkl`, `${prefix}/constants`, byteOrder, ctx)
    : undefined;
  const torchscript = hasConstants || zip.entries.some((e) => e.name.startsWith(`${prefix}/code/`));
  return { object, constants, prefix, torchscript, byteOrder };
}
