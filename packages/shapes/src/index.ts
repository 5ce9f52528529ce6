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
