/**
 * Fuzzing under a deadline: {@link DeadlineReader} reads each mutant in a child process and kills it when it does
 * not answer in time, so a hang is a reported failure instead of a stuck test run. {@link mutateBytes} makes the
 * seeded mutations (flips, truncations, deletions, insertions, copies) with a note of what changed and where.
 * @module
 */
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/**
 * One read the child performs.
 *
 * @example
 * ```ts
 * const r: FuzzRequest = { id: 1, format: 'torch', bytes, maxTensorBytes: 1 << 26 };
 * ```
 */
export interface FuzzRequest {
  id: number;
  /** `tfjs`: `bytes` is the model.json (text or parsed in `manifest`), `shards` its weight files by path. */
  format: 'safetensors' | 'torch' | 'tfjs';
  bytes: Uint8Array;
  /** For `tfjs`: the manifest, when given as an object rather than text. */
  manifest?: unknown;
  /** For `tfjs`: shard bytes by the path the manifest names. */
  shards?: Map<string, Uint8Array>;
  /** Largest tensor the torch reader may materialize. */
  maxTensorBytes?: number;
  /** Sub-tree of a pickled checkpoint to flatten (`state_dict`, `G_ema`). */
  root?: string;
}

/**
 * A tensor as the child summarizes it.
 *
 * @example
 * ```ts
 * const t: TensorSummary = { name: 'conv.weight', dtype: 'float32', shape: [4, 3, 3, 3], sum: 1.5 };
 * ```
 */
export interface TensorSummary {
  name: string;
  dtype: string;
  shape: number[];
  /** Sum of the elements (a checksum). */
  sum: number;
}

/**
 * The child's answer: the tensors read, or the error raised (`semedit`: whether it is a typed SemeditError).
 *
 * @example
 * ```ts
 * const r: FuzzResponse = { id: 1, ok: false, semedit: true, error: 'CheckpointFormatError: …' };
 * ```
 */
export type FuzzResponse = ({ id: number; ok: true; tensors: TensorSummary[] } | { id: number; ok: false; semedit: boolean; error: string }) & {
  /** The child's `ArrayBuffer` bytes after the read (large allocations show here). */
  arrayBuffers?: number;
};

/**
 * Reads checkpoints from bytes in a child process, each read under a deadline; a read past it kills the child
 * (a fresh one serves the next read) and comes back as `{ hang: true }`.
 *
 * @example
 * ```ts
 * const reader = new DeadlineReader();
 * const r = await reader.read({ format: 'safetensors', bytes }, 5000);
 * await reader.close();
 * ```
 */
export class DeadlineReader {
  private child: ChildProcess | undefined;
  private ready: Promise<void> | undefined;
  private next = 0;

  private start(): Promise<void> {
    const child = fork(fileURLToPath(new URL('./fuzz-child.ts', import.meta.url)), [], {
      execArgv: ['--import', 'tsx'], serialization: 'advanced', stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
    });
    this.child = child;
    this.ready = new Promise((resolve, reject) => {
      child.once('message', () => resolve());
      child.once('exit', (code) => reject(new Error(`the fuzz child exited (${code}) before it was ready`)));
    });
    return this.ready;
  }

  /**
   * Reads one mutant.
   *
   * @param req what to read
   * @param ms  the deadline
   * @example
   * ```ts
   * const r = await reader.read({ format: 'torch', bytes: mutant, maxTensorBytes: 1 << 26 }, 5000);
   * if ('hang' in r) console.log('no answer in 5 s');
   * ```
   */
  async read(req: Omit<FuzzRequest, 'id'>, ms: number): Promise<FuzzResponse | { hang: true; ms: number }> {
    if (!this.child) await this.start();
    await this.ready;
    const child = this.child!;
    const id = this.next++;
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        child.removeListener('message', onMessage);
        child.kill('SIGKILL');
        this.child = undefined;
        resolve({ hang: true, ms });
      }, ms);
      const onMessage = (r: FuzzResponse) => {
        if (r.id !== id) return;
        clearTimeout(timer);
        child.removeListener('message', onMessage);
        resolve(r);
      };
      child.on('message', onMessage);
      child.send({ ...req, id });
    });
  }

  /** Stops the child. */
  async close(): Promise<void> {
    const child = this.child;
    this.child = undefined;
    if (!child || child.exitCode !== null) return;
    await new Promise<void>((resolve) => {
      child.once('exit', () => resolve());
      child.kill();
    });
  }
}

/**
 * A seeded mutation of a file and where it acted: `[from, to)` in the original's bytes.
 *
 * @example
 * ```ts
 * const m: Mutation = { bytes, how: 'byte 17 := 255', from: 17, to: 18 };
 * ```
 */
export interface Mutation {
  bytes: Uint8Array;
  how: string;
  from: number;
  to: number;
}

/**
 * One seeded mutation of `src`: a byte set to an edge value, a 32-bit edge value, a truncation, a deletion, an
 * insertion, or a copy of a run of bytes.
 *
 * @param src  the original file
 * @param next a uniform random number in [0, 1)
 * @example
 * ```ts
 * let s = 1;
 * const next = () => ((s = (s * 16807) % 2147483647) / 2147483647);
 * mutateBytes(bytes, next).how; // e.g. 'truncate to 812'
 * ```
 */
export function mutateBytes(src: Uint8Array, next: () => number): Mutation {
  const n = src.length;
  const at = () => Math.floor(next() * n);
  const b = Uint8Array.from(src);
  switch (Math.floor(next() * 6)) {
    case 0: {
      const p = at();
      return { bytes: src.slice(0, p), how: `truncate to ${p}`, from: p, to: n };
    }
    case 1: {
      const p = at();
      b[p] = [0x00, 0xff, 0x7f, 0x80, Math.floor(next() * 256)][Math.floor(next() * 5)]!;
      return { bytes: b, how: `byte ${p} := ${b[p]}`, from: p, to: p + 1 };
    }
    case 2: {
      const p = Math.min(at(), Math.max(0, n - 4));
      const v = [0xffffffff, 0x7fffffff, 0x80000000, 0x10000, n][Math.floor(next() * 5)]!;
      new DataView(b.buffer).setUint32(p, v >>> 0, true);
      return { bytes: b, how: `u32 at ${p} := ${v}`, from: p, to: p + 4 };
    }
    case 3: {
      const p = at();
      const len = 1 + Math.floor(next() * 16);
      return { bytes: new Uint8Array([...src.subarray(0, p), ...src.subarray(p + len)]), how: `delete ${len} at ${p}`, from: p, to: n };
    }
    case 4: {
      const p = at();
      const ins = Array.from({ length: 1 + Math.floor(next() * 8) }, () => Math.floor(next() * 256));
      return { bytes: new Uint8Array([...src.subarray(0, p), ...ins, ...src.subarray(p)]), how: `insert ${ins.length} at ${p}`, from: p, to: n };
    }
    default: {
      const from = at();
      const to = at();
      const len = Math.min(1 + Math.floor(next() * 32), n - from, n - to);
      b.copyWithin(to, from, from + len);
      return { bytes: b, how: `copy ${len} bytes ${from} -> ${to}`, from: to, to: to + len };
    }
  }
}
