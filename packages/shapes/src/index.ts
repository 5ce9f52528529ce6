/**
 * `@semedit/shapes`: the shapes world (a procedural data set of one or two coloured shapes on a plain background,
 * with captions, labels and segmentations) and, as they arrive, the small models trained on it.
 * @module
 */
export { SHAPES, COLOURS, COLOUR_NAMES, SIZES, POSITIONS, sceneAt, isHeldOut, combinations, combinationKey } from './world/scene.js';
export type { ShapeName, ColourName, SizeName, PositionName, SceneObject, Scene, Split, SceneOptions, Combination } from './world/scene.js';
export { renderScene, objectFrame } from './world/render.js';
export type { Rendered } from './world/render.js';
export { captionOf, captionVariants } from './world/caption.js';
export { WORLD_SIZE, shapesExample, shapesBatch, sceneLabels } from './world/dataset.js';
export type { ShapesExample, ShapesBatch, ExampleOptions, ObjectLabels } from './world/dataset.js';
export { CLASSIFIER_CONFIG, CLASSIFIER_OUTPUTS, classifierLogits, classifierLoss, classifierTargets, classifierWeightShapes, readScenes } from './models/classifier.js';
export type { SceneClassifierConfig, SceneClassifierParams, SceneReading } from './models/classifier.js';
export { initClassifierVariables, classifierParamsOf, trainClassifier, classifierAccuracy, saveClassifier, loadClassifier } from './models/classifier-train.js';
export type { TrainClassifierOptions, SceneClassifier } from './models/classifier-train.js';
export { train, readLossLog, lossLogPath } from './train/loop.js';
export type { TrainOptions, TrainProgress, StepLosses } from './train/loop.js';
export { drawCurves, writeCurves } from './train/curves.js';
export type { Series } from './train/curves.js';
