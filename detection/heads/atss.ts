/**
 * The ATSS head (mmdetection's ATSSHead with the CrossKD ATSS config): towers of
 * conv–GN–ReLU; `atss_cls` with the prior-probability bias; `atss_reg`, 4 deltas
 * (DeltaXYWH, stds 0.1, 0.1, 0.2, 0.2) times the level's Scale; `atss_centerness` on the reg
 * tower. One square anchor per location, assigned by ATSS (top 9).
 *
 * Loss (ATSSHead.loss_by_feat): sigmoid focal (α 0.25, γ 2) over every valid anchor / N_pos;
 * 2.0 · GIoU of the decoded positives against their gt boxes, weighted by the centerness
 * targets and divided by max(Σ centerness targets, 1); centerness BCE at positives / N_pos.
 * Inference: σ(cls) with σ(centerness) as the score factor, NMS IoU 0.6.
 */
import * as E from '../../engine/index.ts';
import { type InitSeeds, type ModuleList, priorProbBiasInit } from '../../engine/nn/index.ts';
import type { Conv2d, Scale } from '../../engine/nn/layers.ts';
import type { Tensor } from '../../engine/tensor.ts';
import type { MultiLevelPriors } from '../priors.ts';
import { ATSS_DELTA_STDS, decodeDeltas } from './deltaCoder.ts';
import { DenseHead, bceWithLogits, oneHot, validateNumClasses, type HeadOutputs, type PriorTensors, type TowerPredictions } from './dense.ts';
import { buildAtssTargets, type DenseTargets, type ImageTargetsInput } from './gflTargets.ts';

export interface AtssHeadConfig {
  numClasses: number;
  inChannels: number;
  featChannels: number;
  stackedConvs: number;
  gnGroups: number;
  numLevels: number;
  priorProb?: number;
  lossWeights?: { focal?: number; giou?: number; centerness?: number };
}

export type AtssLosses = { focal: Tensor; giou: Tensor; centerness: Tensor; total: Tensor };

export class ATSSHead extends DenseHead {
  readonly type = 'atss';
  readonly priorsPerLocation = 1;
  readonly defaultTap = 3;
  readonly testConfig = {};
  readonly cfg: Required<Omit<AtssHeadConfig, 'lossWeights'>> & { lossWeights: { focal: number; giou: number; centerness: number } };
  readonly atssCls: Conv2d;
  readonly atssReg: Conv2d;
  readonly atssCenterness: Conv2d;
  readonly scales: ModuleList<Scale>;

  constructor(cfg: AtssHeadConfig, seeds: InitSeeds) {
    validateNumClasses(cfg.numClasses);
    super(
      { inChannels: cfg.inChannels, featChannels: cfg.featChannels, stackedConvs: cfg.stackedConvs, gnGroups: cfg.gnGroups, numLevels: cfg.numLevels },
      seeds,
    );
    this.cfg = { ...cfg, priorProb: cfg.priorProb ?? 0.01, lossWeights: { focal: 1, giou: 2, centerness: 1, ...cfg.lossWeights } };
    this.atssCls = this.predictor('atss_cls', cfg.numClasses, seeds, priorProbBiasInit(this.cfg.priorProb));
    this.atssReg = this.predictor('atss_reg', 4, seeds);
    this.atssCenterness = this.predictor('atss_centerness', 1, seeds);
    this.scales = this.levelScales();
  }

  get numClasses(): number {
    return this.cfg.numClasses;
  }

  protected predictCls(h: Tensor): TowerPredictions {
    return { cls: this.atssCls.forward(h) };
  }

  /** Deltas times the level's Scale, and the centerness logit, both from the reg tower. */
  protected predictReg(h: Tensor, level: number): TowerPredictions {
    return { reg: this.scales.at(level).forward(this.atssReg.forward(h)), centerness: this.atssCenterness.forward(h) };
  }

  buildTargets(priors: MultiLevelPriors, strides: readonly number[], images: readonly ImageTargetsInput[]): DenseTargets {
    return buildAtssTargets(priors, strides, images, this.cfg.numClasses);
  }

  loss(outputs: HeadOutputs, t: DenseTargets): AtssLosses {
    const C = this.cfg.numClasses;
    const w = this.cfg.lossWeights;
    const NP = t.numImages * t.numPriors;
    const cls = this.flattenPerPrior(outputs.cls);
    const reg = this.flattenPerPrior(outputs.reg);
    if (!outputs.centerness) throw new Error('ATSSHead.loss: the outputs have no centerness maps');
    const centernessLogits = E.reshape(this.flattenPerPrior(outputs.centerness), [-1]);
    if (cls.shape[0] !== NP) throw new Error(`ATSSHead.loss: targets cover ${NP} priors, predictions ${cls.shape[0]}`);
    const focal = E.sigmoidFocalLoss(cls, E.tensor(oneHot(t.labels, C), [NP, C]), {
      weight: E.tensor(t.labelWeights, [NP]),
      reduction: 'mean',
      avgFactor: t.avgFactor,
    });
    let giou: Tensor;
    let centerness: Tensor;
    if (t.numPos > 0) {
      const P = t.numPos;
      const posIndex = E.tensor(t.posIndex, [P], 'int32');
      const boxes = decodeDeltas(E.tensor(t.posPriors, [P, 4]), E.indexSelect(reg, 0, posIndex), ATSS_DELTA_STDS);
      const targets = E.tensor(t.posCenterness, [P]);
      const centernessSum = t.posCenterness.reduce((a, b) => a + b, 0);
      // mmdetection: loss_bbox(…, weight=centerness, avg_factor=1.0) per level, then / max(Σ centerness, 1)
      const weighted = E.giouLoss(boxes, E.tensor(t.posGtBoxes, [P, 4]), { weight: targets, reduction: 'mean', avgFactor: 1 });
      giou = E.scale(weighted, 1 / Math.max(centernessSum, 1));
      centerness = bceWithLogits(E.indexSelect(centernessLogits, 0, posIndex), targets, { reduction: 'mean', avgFactor: t.avgFactor });
    } else {
      giou = E.zeros([]);
      centerness = E.zeros([]);
    }
    const total = E.add(E.add(E.scale(focal, w.focal), E.scale(giou, w.giou)), E.scale(centerness, w.centerness));
    return { focal, giou, centerness, total };
  }

  decodeBoxes(reg: readonly Tensor[], priors: PriorTensors): Tensor {
    return decodeDeltas(priors.priors, this.flattenPerPrior(reg), ATSS_DELTA_STDS);
  }
}
