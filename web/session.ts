/**
 * What the web page computes, without touching the DOM: the generated datasets, a live
 * training run (detection/train/step.ts, the trainer's own step) with callbacks after each
 * step, the COCO evaluation, and the target-conflict map of one image.
 */
import * as E from '../engine/index.ts';
import { learningRate } from '../engine/optim/index.ts';
import { Detector } from '../detection/detector.ts';
import { inMemoryCocoDataset, type CocoDataset } from '../detection/data/coco.ts';
import { DetectionLoader, featmapSizesFor } from '../detection/data/loader.ts';
import { generateDataset, splitConfigs } from '../detection/data/synthetic.ts';
import { evaluateDetector } from '../detection/train/evaluate.ts';
import { detectorConfig, lrSchedule, makeOptimizer, trainStep, type ExtraLoss } from '../detection/train/step.ts';
import type { TrainConfig } from '../detection/train/config.ts';
import type { CocoEvalResult } from '../detection/eval/coco.ts';
import type { Detections } from '../detection/postprocess.ts';
import { batchConflicts, conflictStats, type ConflictStats } from '../crosskd/conflict.ts';
import { distillationLoss } from '../crosskd/distiller.ts';
import { webData, type WebSettings } from './settings.ts';

export interface PageData {
  train: CocoDataset;
  val: CocoDataset;
  /** every batch is padded to this [H, W] */
  padSize: [number, number];
}

/** Generates the train and validation splits in the page (detection/data/synthetic.ts). */
export function generateData(s: WebSettings, sizeDivisor: number): PageData {
  const { train, val } = splitConfigs(webData(s));
  const made = [generateDataset(train), generateDataset(val)].map((d, i) => inMemoryCocoDataset(d.coco, d.images, i ? 'generated val' : 'generated train'));
  const side = Math.ceil(s.size / sizeDivisor) * sizeDivisor;
  return { train: made[0], val: made[1], padSize: [side, side] };
}

export interface StepReport {
  /** steps done (1-based) */
  step: number;
  total: number;
  lr: number;
  /** loss terms of this step: qfl, giou, dfl, any KD terms, total */
  terms: Record<string, number>;
}

export interface TrainRunOptions {
  cfg: TrainConfig;
  data: PageData;
  steps: number;
  /** a trained, frozen teacher: the run distils from it with CrossKD (tap 3) */
  crosskdTeacher?: Detector;
  /** after each step, with its losses (read back every step for the live curve) */
  onStep: (report: StepReport, detector: Detector) => void | Promise<void>;
}

/** Trains a fresh detector of `cfg` for `steps` steps; returns it in eval mode. */
export async function trainLive(o: TrainRunOptions): Promise<Detector> {
  const detector = new Detector(detectorConfig(o.cfg));
  try {
    const extraLoss: ExtraLoss | undefined = o.crosskdTeacher ? distillationLoss(detector, o.crosskdTeacher, { method: 'crosskd', tap: 3 }) : undefined;
    const optimizer = makeOptimizer(o.cfg, detector.trainableParameters());
    const loader = new DetectionLoader(o.data.train, {
      batchSize: o.cfg.train.batchSize,
      seed: o.cfg.seed,
      flipProb: o.cfg.train.flipProb,
      padSize: o.data.padSize,
    });
    const schedule = lrSchedule(o.cfg, loader.batchesPerEpoch);
    try {
      for (let step = 0; step < o.steps; step++) {
        const lr = learningRate(schedule, step);
        const { values, names } = trainStep({ detector, optimizer, batch: loader.next(), step, lr, clipGradNorm: o.cfg.train.clipGradNorm, extraLoss });
        const read = await values.data();
        values.dispose();
        const terms: Record<string, number> = {};
        names.forEach((name, i) => {
          if (!Number.isFinite(read[i])) throw new Error(`${o.cfg.name}: non-finite loss at step ${step + 1}: term '${name}' = ${read[i]}`);
          terms[name] = read[i];
        });
        await o.onStep({ step: step + 1, total: o.steps, lr, terms }, detector);
      }
    } finally {
      optimizer.dispose();
    }
    return detector.eval();
  } catch (e) {
    detector.dispose();
    throw e;
  }
}

/** Detections of validation images `indices` (one batch). */
export async function predictImages(detector: Detector, data: PageData, indices: readonly number[]): Promise<Detections[]> {
  const loader = new DetectionLoader(data.val, { batchSize: indices.length, shuffle: false, flipProb: 0, padSize: data.padSize });
  const batch = loader.collate(indices);
  const images = E.tensor(batch.images, batch.shape);
  try {
    return await detector.predict(images, batch.imageSizes);
  } finally {
    images.dispose();
  }
}

export async function evaluate(detector: Detector, data: PageData): Promise<CocoEvalResult> {
  return (await evaluateDetector(detector, data.val, { padSize: data.padSize, batchSize: 8 })).result;
}

export interface ConflictMap {
  /** per FPN level, [height·width] differences row-major (NaN where the location takes no part) */
  levels: { stride: number; height: number; width: number; values: Float32Array }[];
  stats: ConflictStats;
}

/**
 * The target-conflict map of validation image `index` (crosskd/conflict.ts): per location
 * of the student's priors (one per feature-map cell, level by level), max over classes of
 * |σ(teacher logit) − the one-hot target the student's own assigner gives|.
 */
export async function conflictMap(teacher: Detector, student: Detector, data: PageData, index: number): Promise<ConflictMap> {
  const loader = new DetectionLoader(data.val, { batchSize: 1, shuffle: false, flipProb: 0, padSize: data.padSize });
  const { perLocation, positive } = await batchConflicts(teacher, student, loader.collate([index]));
  const featmaps = featmapSizesFor(data.padSize, student.strides);
  let start = 0;
  const levels = featmaps.map(([height, width], l) => {
    const values = perLocation.slice(start, start + height * width);
    start += height * width;
    return { stride: student.strides[l], height, width, values };
  });
  if (start !== perLocation.length) throw new Error(`conflictMap: ${perLocation.length} locations for feature maps of ${start} cells`);
  return { levels, stats: conflictStats(perLocation, positive) };
}
