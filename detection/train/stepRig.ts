/**
 * A detector, its optimizer and a loader of the config's own data, ready to run the
 * trainer's step (step.ts) again and again without the trainer's loop: what the training-
 * step benchmark and `npm run profile` time. Built exactly as train() builds them, so the
 * figures cannot drift from training.
 */
import * as E from '../../engine/index.ts';
import { learningRate, type Optimizer } from '../../engine/optim/index.ts';
import { inMemoryCocoDataset, type CocoDataset } from '../data/coco.ts';
import { DetectionLoader, padTo } from '../data/loader.ts';
import { generateDataset, splitConfigs } from '../data/synthetic.ts';
import { Detector } from '../detector.ts';
import type { TrainConfig } from './config.ts';
import { prepareDatasets } from './data.ts';
import { detectorConfig, lrSchedule, makeOptimizer, trainStep, type ExtraLoss } from './step.ts';

export interface StepRigOptions {
  /**
   * Synthetic data: how many batches of the training split to generate in memory (the
   * loader cycles through them). A COCO config reads its own training set instead.
   */
  batches?: number;
  /** distillation: called once with the student, like TrainOptions.setupExtraLoss */
  setupExtraLoss?: (detector: Detector) => ExtraLoss | undefined;
}

export interface StepRig {
  readonly cfg: TrainConfig;
  readonly detector: Detector;
  readonly optimizer: Optimizer;
  /** steps run so far */
  readonly steps: number;
  /**
   * One training step: the next batch from the loader (profile phase 'data'), then the
   * trainer's trainStep. Returns the loss terms, unread.
   */
  step(): { values: E.Tensor; names: string[] };
  dispose(): void;
}

export function stepRig(cfg: TrainConfig, opts: StepRigOptions = {}): StepRig {
  const detector = new Detector(detectorConfig(cfg));
  let dataset: CocoDataset;
  let padSize: [number, number];
  if ('synthetic' in cfg.data) {
    const batches = opts.batches ?? 2;
    if (!Number.isInteger(batches) || batches < 1) throw new Error(`stepRig: batches must be a positive integer, got ${batches}`);
    const s = cfg.data.synthetic;
    const { coco, images } = generateDataset({ ...splitConfigs(s).train, numImages: batches * cfg.train.batchSize });
    dataset = inMemoryCocoDataset(coco, images, `${cfg.name} (synthetic, in memory)`);
    const side = padTo(s.imageSize, detector.sizeDivisor);
    padSize = [side, side];
  } else {
    const d = prepareDatasets(cfg, detector.sizeDivisor);
    dataset = d.train;
    padSize = d.padSize;
  }
  const extraLoss = opts.setupExtraLoss?.(detector);
  const optimizer = makeOptimizer(cfg, detector.trainableParameters());
  const loader = new DetectionLoader(dataset, { batchSize: cfg.train.batchSize, seed: cfg.seed, flipProb: cfg.train.flipProb, padSize });
  const schedule = lrSchedule(cfg, Math.ceil(dataset.records.length / cfg.train.batchSize));
  let steps = 0;
  return {
    cfg,
    detector,
    optimizer,
    get steps() {
      return steps;
    },
    step() {
      const rt = E.runtime();
      rt.profilePhase('data');
      const batch = loader.next();
      const out = trainStep({ detector, optimizer, batch, step: steps, lr: learningRate(schedule, steps), clipGradNorm: cfg.train.clipGradNorm, extraLoss });
      steps++;
      return out;
    },
    dispose() {
      optimizer.dispose();
      detector.dispose();
    },
  };
}
