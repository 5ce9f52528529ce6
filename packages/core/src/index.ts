/**
 * `@semedit/core`: the entry points most programs need, by name. Everything else lives on a subpath you can
 * remember: `@semedit/core/backend`, `/io`, `/image`, `/tensor`, `/tokenizer`, `/clip`, `/unet`, `/vae`,
 * `/schedulers`, `/pipeline`, `/stylegan2`, `/fixtures` (reference parity fixtures), and `@semedit/core/testing` for test helpers.
 *
 * Model classes carry the names diffusers and transformers users know (`UNet2DConditionModel`, `AutoencoderKL`,
 * `CLIPTextModel`, `CLIPTokenizer`, …); the camel-case names (`ClipTextModel`) are the same classes.
 *
 * @example
 * ```ts
 * import { initBackend, loadStableDiffusion, runTextToImage, writeImageTensor } from '@semedit/core';
 * await initBackend();
 * const sd = await loadStableDiffusion('stable-diffusion-v1-5', { sampler: 'euler-a' });
 * const { images } = await runTextToImage(sd, { prompt: 'a red circle', numInferenceSteps: 20, seed: 1 });
 * await writeImageTensor('circle.png', images, { range: '0-1' });
 * ```
 * @module
 */

// Errors: every error semedit raises on purpose, to catch by class.
export {
  SemeditError, CheckpointFormatError, MissingWeightError, ShapeMismatchError, OptionError, ConfigError, UnsupportedConfigError,
  InvalidConfigError, UnknownConfigKeyError, SchedulerConfigError, ClipConfigError, NonFiniteError, DisposedError,
} from './errors.js';
export { BackendUnavailableError, HeapLimitError } from './backend/errors.js';
export { FileAccessError } from './io/file-source.js';
export { UnexpectedWeightsError } from './io/strict.js';
export { ImageFormatError, ImageValueError } from './image/errors.js';
export { TokenizerError, PromptTooLongError } from './tokenizer/errors.js';
export { TokenIdsError } from './clip/model-errors.js';
export { UnknownSchedulerError, SchedulerStateError } from './schedulers/errors.js';
export { ModelTooLargeError } from './pipeline/memory.js';
export { ImageTooLargeError } from './pipeline/image-memory.js';
export { MissingGeneratorError } from './stylegan2/errors.js';

// Backends, random numbers.
export { initBackend, backendInfo, type BackendInfo } from './backend/init.js';
export type { BackendName } from './backend/options.js';
export { createGenerator, randn, randu, RandomGenerator } from './random.js';

// Checkpoints and model folders (read only; nothing is executed).
export { readCheckpoint } from './io/checkpoint.js';
export { inspectCheckpoint } from './io/inspect.js';
export { openSafetensors, readSafetensors } from './io/safetensors.js';
export { writeSafetensors } from './io/safetensors-write.js';
export { readModelFolder, modelFolderFiles, WEIGHTS_NAMES } from './io/model-folder.js';

// Images.
export type { Image } from './image/image.js';
export { readPng, writePng } from './image/png.js';
export { readImageTensor, writeImageTensor } from './image/files.js';
export { tensorToImages, imagesToTensor } from './image/convert.js';
export { writeGrid } from './image/grid.js';

// Models, with the names upstream users know.
export { ClipTokenizer, ClipTokenizer as CLIPTokenizer } from './tokenizer/tokenizer.js';
export { loadClipTokenizer } from './tokenizer/tokenizer-load.js';
export {
  ClipTextModel, ClipTextModel as CLIPTextModel, ClipTextModelWithProjection, ClipTextModelWithProjection as CLIPTextModelWithProjection,
} from './clip/text-model.js';
export {
  ClipVisionModel, ClipVisionModel as CLIPVisionModel, ClipVisionModelWithProjection, ClipVisionModelWithProjection as CLIPVisionModelWithProjection,
} from './clip/vision-model.js';
export { ClipModel, ClipModel as CLIPModel } from './clip/similarity.js';
export { loadClipModel, loadClipTextModel, loadClipTextModelWithProjection, loadClipVisionModel, loadClipVisionModelWithProjection } from './clip/load.js';
export { UNet2DConditionModel } from './unet/unet.js';
export { loadUNet } from './unet/load.js';
export { composeResolvers, type AttentionContext, type AttentionHook, type AttentionHookResolver } from './unet/hooks.js';
export { AutoencoderKL, loadVae } from './vae/vae.js';
export { StyleGan2 } from './stylegan2/generator.js';
export { loadNvlabsGenerator } from './stylegan2/load-nvlabs.js';
export { loadRosinalityGenerator } from './stylegan2/load-rosinality.js';

// Samplers.
export type { Scheduler } from './schedulers/types.js';
export type { SchedulerConfig } from './schedulers/config.js';
export { createScheduler } from './schedulers/registry.js';
export { schedulerNames, resolveSchedulerName, SCHEDULER_ALIASES } from './schedulers/aliases.js';

// Stable Diffusion runs: loading, the sampling loop, denoisers and guidance.
export type { Conditioning, Denoiser, NoiseModel, RowRole, StableDiffusion, StepInfo } from './types.js';
export { loadStableDiffusion, type LoadedStableDiffusion, type LoadStableDiffusionOptions } from './pipeline/load.js';
export {
  textToImage, runTextToImage, decodeLatents, type GenerationOptions, type TextToImageOptions, type TextToImageResult,
} from './pipeline/txt2img.js';
export { sampleLoop, runLoop, type SampleOptions, type StepEvent } from './pipeline/sample.js';
export { cfgDenoiser, classifierFreeGuidance, unetDenoiser, withHooks, type CfgOptions } from './pipeline/denoiser.js';
export { encodePrompts, type TruncatedPrompt } from './pipeline/text.js';
