/**
 * The loss skeleton the centerness heads share (ATSS and FCOS, mmdetection's
 * loss_by_feat of both): sigmoid focal over every prior / N_pos; at the positives, a box
 * loss of the decoded boxes against their gt boxes weighted by the centerness targets (each
 * head its own: ATSS GIoU, FCOS IoU-log); and the centerness BCE at the positives / N_pos.
 * Without positives the box and centerness terms are 0.
 */
import * as E from '../../engine/index.ts';
import type { Tensor } from '../../engine/tensor.ts';
import { bceWithLogits, oneHot, type HeadOutputs } from './dense.ts';
import type { DenseTargets } from './gflTargets.ts';

/** The positives, as the box loss needs them. */
export interface Positives {
  /** [P] flat prior indices */
  index: Tensor;
  /** [P, Ch] the reg outputs of the positives */
  reg: Tensor;
  /** [P] the centerness targets (the box loss's weights) */
  centerness: Tensor;
  /** [P, 4] their gt boxes */
  gtBoxes: Tensor;
}

export interface CenternessHeadLossArgs {
  /** e.g. 'ATSSHead.loss': errors name it */
  where: string;
  /** what a prior is called in errors: 'priors' (anchors) or 'points' */
  priorNoun: string;
  numClasses: number;
  /** per-level maps → one [N·P, Ch] matrix (DenseHead.flattenPerPrior) */
  flatten: (maps: readonly Tensor[]) => Tensor;
  /** per-prior weights of the focal term (ATSS: the assigner's label weights); none: all 1 */
  focalWeights?: Float32Array;
  /** the box term at the positives */
  boxLoss: (pos: Positives) => Tensor;
}

export function centernessHeadLoss(outputs: HeadOutputs, t: DenseTargets, a: CenternessHeadLossArgs): { focal: Tensor; box: Tensor; centerness: Tensor } {
  const C = a.numClasses;
  const NP = t.numImages * t.numPriors;
  const cls = a.flatten(outputs.cls);
  const reg = a.flatten(outputs.reg);
  if (!outputs.centerness) throw new Error(`${a.where}: the outputs have no centerness maps`);
  const centernessLogits = E.reshape(a.flatten(outputs.centerness), [-1]);
  if (cls.shape[0] !== NP) throw new Error(`${a.where}: targets cover ${NP} ${a.priorNoun}, predictions ${cls.shape[0]}`);
  const focal = E.sigmoidFocalLoss(cls, E.tensor(oneHot(t.labels, C), [NP, C]), {
    ...(a.focalWeights ? { weight: E.tensor(a.focalWeights, [NP]) } : {}),
    reduction: 'mean',
    avgFactor: t.avgFactor,
  });
  if (t.numPos === 0) return { focal, box: E.zeros([]), centerness: E.zeros([]) };
  const P = t.numPos;
  const index = E.tensor(t.posIndex, [P], 'int32');
  const targets = E.tensor(t.posCenterness, [P]);
  const box = a.boxLoss({ index, reg: E.indexSelect(reg, 0, index), centerness: targets, gtBoxes: E.tensor(t.posGtBoxes, [P, 4]) });
  const centerness = bceWithLogits(E.indexSelect(centernessLogits, 0, index), targets, { reduction: 'mean', avgFactor: t.avgFactor });
  return { focal, box, centerness };
}
