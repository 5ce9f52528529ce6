/**
 * Assembles a diffusers pipeline folder from a fixture's components (symlinks to the fixture's own folders), so
 * tests load the tiny pipeline exactly as a user loads a real one.
 * @module
 */
import { mkdir, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { FixtureManifest } from './fixtures.js';

/**
 * Writes `<dir>/{model_index.json, scheduler/scheduler_config.json}` and links `unet/`, `vae/`, `text_encoder/`,
 * `tokenizer/` to the manifest's components.
 *
 * @param m         a manifest with unet, vae, text_encoder and tokenizer components (e.g. `sega-tiny`)
 * @param dir       the folder to create
 * @param scheduler the scheduler config (diffusers keys)
 * @example
 * ```ts
 * await assembleSdFolder(readManifest('sega-tiny'), '/tmp/sd', { _class_name: 'DDIMScheduler', ... });
 * ```
 */
export async function assembleSdFolder(m: FixtureManifest, dir: string, scheduler: Record<string, unknown>): Promise<string> {
  await mkdir(join(dir, 'scheduler'), { recursive: true });
  for (const name of ['unet', 'vae', 'text_encoder', 'tokenizer']) {
    const target = m.components[name];
    if (!target) throw new Error(`fixture ${m.id} has no ${name} component`);
    await symlink(target, join(dir, name));
  }
  await writeFile(join(dir, 'scheduler', 'scheduler_config.json'), JSON.stringify(scheduler));
  await writeFile(join(dir, 'model_index.json'), JSON.stringify({ _class_name: 'StableDiffusionPipeline' }));
  return dir;
}
