/**
 * Test helpers around a reference fixture's Stable Diffusion components: load them as a pipeline with the
 * fixture's scheduler, and capture a command's output.
 * @module
 */
import { loadClipTextModel } from '../clip/load.js';
import type { FixtureManifest } from '../fixtures/manifest.js';
import { createScheduler } from '../schedulers/registry.js';
import type { SchedulerConfig } from '../schedulers/config.js';
import { loadClipTokenizer } from '../tokenizer/tokenizer-load.js';
import type { StableDiffusion } from '../types.js';
import { loadUNet } from '../unet/load.js';
import { loadVae } from '../vae/vae.js';

/**
 * Loads a fixture's `tokenizer`, `text_encoder`, `unet` and `vae` components with the scheduler its params name
 * (`{ cls, ...config }`); `dispose()` frees the models.
 *
 * @param m         the fixture manifest
 * @param scheduler the params' scheduler entry
 * @example
 * ```ts
 * const { sd, dispose } = await loadFixturePipeline(readManifest('p2p-tiny'), params.scheduler);
 * ```
 */
export async function loadFixturePipeline(
  m: FixtureManifest, scheduler: { cls: string } & Record<string, unknown>,
): Promise<{ sd: StableDiffusion; dispose(): void }> {
  const { cls, ...rest } = scheduler;
  const sd: StableDiffusion = {
    tokenizer: await loadClipTokenizer(m.components['tokenizer']!), textEncoder: await loadClipTextModel(m.components['text_encoder']!),
    unet: await loadUNet(m.components['unet']!), vae: await loadVae(m.components['vae']!),
    scheduler: createScheduler({ _class_name: cls, ...rest } as SchedulerConfig),
  };
  return { sd, dispose: () => [sd.textEncoder, sd.unet, sd.vae].forEach((x) => x.dispose()) };
}

/**
 * Runs `fn` with `process.stdout` and `process.stderr` captured (not printed), and restores them.
 *
 * @param fn the code whose output to capture
 * @example
 * ```ts
 * const { value, out, err } = await captureOutput(() => command.run(['--json']));
 * ```
 */
export async function captureOutput<T>(fn: () => Promise<T>): Promise<{ value: T; out: string; err: string }> {
  let out = '';
  let err = '';
  const write = { out: process.stdout.write, err: process.stderr.write };
  process.stdout.write = ((s: string | Uint8Array) => ((out += String(s)), true)) as typeof process.stdout.write;
  process.stderr.write = ((s: string | Uint8Array) => ((err += String(s)), true)) as typeof process.stderr.write;
  try {
    return { value: await fn(), out, err };
  } finally {
    process.stdout.write = write.out;
    process.stderr.write = write.err;
  }
}
