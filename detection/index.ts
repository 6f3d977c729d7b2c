/**
 * Detection on the engine (the package's `./detection` entry): the detector (backbones,
 * FPN, GFL head), priors and assigners, post-processing, COCO data and evaluation,
 * training (Node: datasets and checkpoints on disk), drawing, plots and run reports.
 */
export * from './detector.ts';
export * from './boxes.ts';
export * from './priors.ts';
export * from './postprocess.ts';
export * from './draw.ts';
export { linePlotPng, renderLinePlot, tickLabel, PALETTE as PLOT_PALETTE, type Series } from './plot.ts';
export * from './report.ts';
export * from './models/backbone.ts';
export * from './models/fpn.ts';
export * from './heads/index.ts';
export * from './heads/dense.ts';
export * from './heads/gfl.ts';
export * from './heads/atss.ts';
export * from './heads/retina.ts';
export * from './heads/fcos.ts';
export * from './heads/gflTargets.ts';
export * from './heads/integral.ts';
export * from './assigners/atss.ts';
export * from './assigners/maxIou.ts';
export * from './assigners/fcos.ts';
export * from './assigners/assignResult.ts';
export * from './data/coco.ts';
export * from './data/synthetic.ts';
// both draw.ts and synthetic.ts name their colour type Rgb: the drawing one is exported
export type { Rgb } from './draw.ts';
export type { Rgb as SyntheticRgb } from './data/synthetic.ts';
export * from './data/loader.ts';
export * from './data/node.ts';
export {
  evaluateCoco,
  formatCocoSummary,
  detectionsToCoco,
  IOU_THRESHOLDS,
  RECALL_THRESHOLDS,
  MAX_DETS,
  AREA_RANGES,
  type CocoEvalResult,
  type CocoDetection,
  type CocoDataset as CocoEvalDataset,
  type CocoImage,
  type CocoAnnotation,
  type CocoCategory,
} from './eval/coco.ts';
export * from './train/config.ts';
export * from './train/data.ts';
export * from './train/evaluate.ts';
export * from './train/trainer.ts';
export { trainStep, lrSchedule, makeOptimizer, type ExtraLoss, type StepArgs } from './train/step.ts';
