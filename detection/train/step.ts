/**
 * One training step of a detector, free of Node: the head's targets on the CPU, then
 * forward, loss, backward, clipping and the optimizer update on the GPU inside one scope. The
 * trainer (trainer.ts) loops over it with checkpoints and logging; the web page
 * (web/main.ts) runs the same step in a browser.
 */
import * as E from '../../engine/index.ts';
import { SGD, AdamW, type Optimizer, type ScheduleConfig } from '../../engine/optim/index.ts';
import type { Tensor } from '../../engine/tensor.ts';
import type { DetectorConfig, Detector } from '../detector.ts';
import type { DetectionBatch } from '../data/loader.ts';
import type { DenseTargets } from '../heads/gflTargets.ts';
import type { HeadOutputs } from '../heads/dense.ts';
import type { TrainConfig } from './config.ts';

export function detectorConfig(cfg: TrainConfig): DetectorConfig {
  return { numClasses: cfg.numClasses, seed: cfg.seed, ...cfg.model };
}

export function makeOptimizer(cfg: TrainConfig, params: [string, Tensor][]): Optimizer {
  const o = cfg.train.optimizer;
  return o.type === 'sgd'
    ? new SGD(params, { lr: o.lr, momentum: o.momentum, weightDecay: o.weightDecay })
    : new AdamW(params, { lr: o.lr, weightDecay: o.weightDecay, beta1: o.beta1, beta2: o.beta2 });
}

/** The learning-rate schedule of a config, with its epoch milestones turned into steps. */
export function lrSchedule(cfg: TrainConfig, stepsPerEpoch: number): ScheduleConfig {
  return {
    baseLr: cfg.train.optimizer.lr,
    warmupIters: cfg.train.warmupIters,
    warmupRatio: cfg.train.warmupRatio,
    steps: cfg.train.lrStepEpochs.map((e) => e * stepsPerEpoch),
    gamma: cfg.train.gamma,
  };
}

export interface ExtraLossContext {
  step: number;
  images: Tensor;
  batch: DetectionBatch;
  outputs: HeadOutputs & { fpn: Tensor[] };
  targets: DenseTargets;
}

/** More loss terms per step (distillation), added to the detection loss. */
export type ExtraLoss = (ctx: ExtraLossContext) => Record<string, Tensor>;

export interface StepArgs {
  detector: Detector;
  optimizer: Optimizer;
  batch: DetectionBatch;
  step: number;
  lr: number;
  clipGradNorm: number | null;
  extraLoss?: ExtraLoss;
}

/**
 * Runs one step and returns its loss terms (the head's terms, any extra terms, total) as
 * one GPU tensor, unread: reading it back is the caller's choice, so steps need not wait.
 */
export function trainStep(a: StepArgs): { values: Tensor; names: string[] } {
  // phases name the dispatches of a profiled step (npm run profile); no-ops otherwise
  const rt = E.runtime();
  a.optimizer.lr = a.lr;
  rt.profilePhase('targets');
  const targets = a.detector.buildTargets(a.batch);
  return E.scope(() => {
    rt.profilePhase('forward');
    const images = E.tensor(a.batch.images, a.batch.shape);
    const outputs = a.detector.forward(images, { keepFeats: a.extraLoss !== undefined });
    const { total: detTotal, ...terms } = a.detector.bboxHead.loss(outputs, targets);
    let total = detTotal;
    if (a.extraLoss) {
      const extra = a.extraLoss({ step: a.step, images, batch: a.batch, outputs, targets });
      for (const [k, v] of Object.entries(extra)) {
        terms[k] = v;
        total = E.add(total, v);
      }
    }
    rt.profilePhase('backward');
    E.backward(total);
    rt.profilePhase('optimizer');
    if (a.clipGradNorm) a.optimizer.stepWithClipping(a.clipGradNorm);
    else a.optimizer.step();
    a.optimizer.zeroGrad();
    rt.profilePhase('other');
    const all = { ...terms, total };
    return {
      values: E.concat(
        Object.values(all).map((t) => E.reshape(t, [1])),
        0,
      ),
      names: Object.keys(all),
    };
  });
}
