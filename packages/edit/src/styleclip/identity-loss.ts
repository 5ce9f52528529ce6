/**
 * The identity-loss hook of StyleCLIP (`criteria/id_loss.py`): an optional face-recognition model (ArcFace IR-SE50
 * in the reference) embeds the edited and the original face, and the loss is `mean_i(1 − ⟨f(ŷ_i), f(y_i)⟩)`.
 * Only the interface and the reference's crop/resample are here; any model that implements {@link FaceEmbedder}
 * plugs in (an IR-SE50 loader for `model_ir_se50.pth` is not part of this package yet).
 * @module
 */
import * as tf from '@tensorflow/tfjs-core';
import { OptionError, ShapeMismatchError } from '@semedit/core';
import { applySeparable } from '@semedit/core/clip';

/**
 * A face-recognition model: maps aligned face crops to **L2-normalized** embeddings. Must be differentiable with
 * respect to its input when used as a loss (plain tfjs ops are).
 *
 * @example
 * ```ts
 * const embedder: FaceEmbedder = { inputSize: 112, embed: (faces) => l2Normalize(myNet(faces)) };
 * ```
 */
export interface FaceEmbedder {
  /** The square input side the model expects (ArcFace: 112). */
  readonly inputSize: number;
  /**
   * Embeds face crops; called inside the caller's `tf.tidy` / `tf.grad`.
   *
   * @param faces `[N, inputSize, inputSize, 3]` NHWC, values as the generator produces them ([-1, 1])
   * @returns `[N, D]` L2-normalized embeddings
   */
  embed(faces: tf.Tensor4D): tf.Tensor2D;
}

/**
 * The `[out, in]` matrix of PyTorch's `AdaptiveAvgPool` along one axis (window `[floor(i·in/out), ceil((i+1)·in/out))`).
 *
 * @param inSize  input length
 * @param outSize output length
 * @example
 * ```ts
 * adaptiveAvgPoolMatrix(4, 2); // [[.5, .5, 0, 0], [0, 0, .5, .5]]
 * ```
 */
export function adaptiveAvgPoolMatrix(inSize: number, outSize: number): Float32Array {
  if (!Number.isInteger(inSize) || !Number.isInteger(outSize) || inSize < 1 || outSize < 1) {
    throw new OptionError('size', `adaptive pooling needs positive integer sizes, got ${inSize} -> ${outSize}`);
  }
  const m = new Float32Array(outSize * inSize);
  for (let o = 0; o < outSize; o++) {
    const start = Math.floor((o * inSize) / outSize);
    const end = Math.ceil(((o + 1) * inSize) / outSize);
    for (let i = start; i < end; i++) m[o * inSize + i] = 1 / (end - start);
  }
  return m;
}

/**
 * StyleCLIP's face crop for the identity model (`IDLoss.extract_feats`): adaptive average pooling to 256² (skipped
 * when already 256 high), crop rows 35:223 and columns 32:220, adaptive pooling to `size`². Differentiable.
 *
 * @param images `[N, H, W, 3]` NHWC
 * @param size   output side (ArcFace: 112)
 * @returns `[N, size, size, 3]`
 * @example
 * ```ts
 * arcFaceCrop(img1024).shape; // [N, 112, 112, 3]
 * ```
 */
export function arcFaceCrop(images: tf.Tensor4D, size = 112): tf.Tensor4D {
  if (images.rank !== 4) throw new ShapeMismatchError('images (NHWC)', [null, null, null, null], images.shape);
  const [, h, w] = images.shape;
  // Pool to 256 and crop in one separable map per axis: rows [35, 223) and columns [32, 220) of the 256² image.
  const pool = (n: number) => (h === 256 ? identity(n) : adaptiveAvgPoolMatrix(n, 256));
  const crop = (m: Float32Array, n: number, from: number, to: number) => compose(adaptiveAvgPoolMatrix(to - from, size), m.subarray(from * n, to * n), to - from, n);
  return applySeparable(images, crop(pool(h), h, 35, 223), crop(pool(w), w, 32, 220));
}

function identity(n: number): Float32Array {
  const m = new Float32Array(n * n);
  for (let i = 0; i < n; i++) m[i * n + i] = 1;
  return m;
}

/** `a [p, q] @ b [q, r]` on row-major arrays. */
function compose(a: Float32Array, b: Float32Array, q: number, r: number): Float32Array {
  const p = a.length / q;
  const out = new Float32Array(p * r);
  for (let i = 0; i < p; i++) {
    for (let k = 0; k < q; k++) {
      const v = a[i * q + k]!;
      if (v !== 0) for (let j = 0; j < r; j++) out[i * r + j] = out[i * r + j]! + v * b[k * r + j]!;
    }
  }
  return out;
}

/**
 * StyleCLIP's identity loss `mean_i(1 − ⟨f(crop(ŷ_i)), f_i⟩)` against target embeddings computed beforehand (the
 * reference detaches them). Differentiable in `edited`; call inside `tf.tidy` / `tf.grad`.
 *
 * @param embedder       the face model
 * @param edited         `[N, H, W, 3]` edited images
 * @param targetFeatures `[N, D]` embeddings of the originals ({@link faceFeatures})
 * @returns a scalar
 * @example
 * ```ts
 * const target = tf.tidy(() => faceFeatures(embedder, original));
 * const id = tf.tidy(() => identityLoss(embedder, edited, target));
 * ```
 */
export function identityLoss(embedder: FaceEmbedder, edited: tf.Tensor4D, targetFeatures: tf.Tensor2D): tf.Scalar {
  const f = faceFeatures(embedder, edited);
  if (f.shape[0] !== targetFeatures.shape[0] || f.shape[1] !== targetFeatures.shape[1]) {
    throw new ShapeMismatchError('targetFeatures', f.shape, targetFeatures.shape);
  }
  return tf.mean(tf.sub(1, tf.sum(tf.mul(f, targetFeatures), 1)));
}

/**
 * Face embeddings of generator images through StyleCLIP's crop ({@link arcFaceCrop}).
 *
 * @param embedder the face model
 * @param images   `[N, H, W, 3]`
 * @returns `[N, D]`
 * @example
 * ```ts
 * const target = tf.tidy(() => faceFeatures(embedder, original)); // keep until the loop ends
 * ```
 */
export function faceFeatures(embedder: FaceEmbedder, images: tf.Tensor4D): tf.Tensor2D {
  return embedder.embed(arcFaceCrop(images, embedder.inputSize));
}
